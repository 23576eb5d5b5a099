"""The native extension's version: its API number and a digest of the sources it is built from.

The build compiles `expected_version()` into the extension
(`appl_native_version()`); the loader compares the two at import, so an
extension built from other sources (a stale build after an edit, a wheel of
another release) is never used: the pure-Python twins run instead, with one
warning. Standard library only: the node agent imports this without cffi.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

NATIVE_API = 2
"""Bump when the C interface changes in a way the typed layers depend on."""

HERE = Path(__file__).resolve().parent


def source_files(root: Path = HERE) -> list[Path]:
    """What the extension is built from: the C sources, headers and the build script (its cdef)."""
    sources = sorted((root / "src").glob("*.[ch]"))
    return [*sources, root / "build_native.py"] if sources else []


def expected_version(root: Path = HERE) -> str | None:
    """`<api>:<sha256 of the sources, 16 hex>`, None when the sources are not shipped."""
    files = source_files(root)
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{NATIVE_API}:{digest.hexdigest()[:16]}"
