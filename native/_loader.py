"""Loads the compiled extension once, checks its version, and says (once) when the twins run.

Only the typed layers of this package call `load()`; nothing else imports
`native._native`. The extension is not used when it is missing (the node
agent's payload ships none), when `APPLIANCE_NATIVE=off` asks for the twins,
or when its compiled-in version differs from the sources next to it (a stale
build): then every caller gets None and uses the pure-Python twins, and one
warning says why.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from native._version import NATIVE_API, expected_version

log = logging.getLogger("native")


@dataclass(frozen=True)
class Native:
    """The extension's cffi objects."""

    ffi: Any
    """cffi's FFI instance of the extension (types, buffers)."""
    lib: Any
    """The C functions and constants."""


_loaded: list[Native | None] = []


def _load() -> tuple[Native | None, str]:
    if os.environ.get("APPLIANCE_NATIVE", "").lower() in ("0", "off", "no"):
        return None, "disabled by APPLIANCE_NATIVE"
    try:
        from native._native import ffi, lib  # noqa: PLC0415 - optional, so imported here
    except ImportError as error:
        return None, f"not importable ({error})"
    compiled = ffi.string(lib.appl_native_version()).decode("ascii", "replace")
    expected = expected_version()
    if expected is None:  # installed without its sources: the API number must still agree
        if compiled.split(":")[0] != str(NATIVE_API):
            return None, f"built for API {compiled}, this code needs API {NATIVE_API}"
    elif compiled != expected:
        return None, (
            f"built from other sources ({compiled}, these are {expected}); "
            "rebuild it with `pip install -e .`"
        )
    return Native(ffi, lib), ""


def load() -> Native | None:
    """The checked extension, or None (the first call then logs one warning)."""
    if not _loaded:
        native, reason = _load()
        if native is None:
            log.warning("native extension %s: running its pure-Python twins instead (slower)", reason)
        _loaded.append(native)
    return _loaded[0]
