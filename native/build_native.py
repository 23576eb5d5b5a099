"""cffi build script (API mode, out-of-line) for the native extension `native._native`.

Run by the package build through `cffi_modules` in setup.py. Every exported
C symbol carries the `appl_` prefix.
"""

from __future__ import annotations

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
SOURCES = sorted(str(p.relative_to(HERE.parent)) for p in (HERE / "src").glob("*.c"))

CDEF = """
uint16_t appl_inet_checksum(const uint8_t *data, size_t length);
uint16_t appl_checksum_adjust(uint16_t old_checksum, uint16_t old_word, uint16_t new_word);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "native._native",
    '#include "appliance_native.h"',
    sources=SOURCES,
    include_dirs=[str((HERE / "src").relative_to(HERE.parent))],
    extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
