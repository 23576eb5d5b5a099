"""The native C code builds and gives the Python twins' results on ARM (aarch64, armhf).

The C sources are cross-compiled statically and run under qemu-user, so the
test needs neither ARM hardware nor binfmt_misc. Inputs are random records
plus edge cases; outputs must equal the pure-Python twins line for line.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from native.checksum import checksum_adjust_py, inet_checksum_py
from tests.support.paths import REPO

NATIVE = REPO / "native"
TARGETS = {
    "aarch64": ("aarch64-linux-gnu-gcc", "qemu-aarch64-static"),
    "armhf": ("arm-linux-gnueabihf-gcc", "qemu-arm-static"),
}


def _records() -> list[bytes]:
    rng = random.Random(1624)
    edge = [b"", b"\x00", b"\xff", b"\xff\xff", b"\x00\x00", b"\xff" * 65535, b"\x01\x02\x03"]
    randoms = [rng.randbytes(rng.randint(0, 1600)) for _ in range(400)]
    return edge + randoms


def _expected(records: list[bytes]) -> list[str]:
    lines = []
    for data in records:
        total = inet_checksum_py(data)
        first = int.from_bytes(data[:2], "big") if len(data) >= 2 else 0
        lines.append(f"{total} {checksum_adjust_py(total, first, ~first & 0xFFFF)}")
    return lines


@pytest.mark.parametrize("arch", sorted(TARGETS))
def test_c_code_matches_python_twins_under_qemu(arch: str, tmp_path: Path) -> None:
    compiler, emulator = TARGETS[arch]
    missing = [tool for tool in (compiler, emulator) if shutil.which(tool) is None]
    assert not missing, f"{' and '.join(missing)} missing; fix: scripts/install installs them"
    binary = tmp_path / f"driver-{arch}"
    sources = sorted(str(p) for p in (NATIVE / "src").glob("*.c"))
    subprocess.run(
        [compiler, "-static", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
         "-I", str(NATIVE / "src"), str(NATIVE / "tests_c" / "checksum_driver.c"), *sources,
         "-o", str(binary)],
        check=True,
    )
    records = _records()
    stdin = b"".join(len(r).to_bytes(2, "big") + r for r in records)
    result = subprocess.run([emulator, str(binary)], input=stdin, capture_output=True, check=True, timeout=120)
    assert result.stdout.decode().splitlines() == _expected(records)
