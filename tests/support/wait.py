"""The one way a test waits: poll a condition until it holds or a deadline passes.

    wait_for(lambda: "10.0.0.1/24" in addresses(), timeout=2, what="the LAN address back")
    match = wait_for(lambda: log_match(log, r"^bound ip=(\\S+)"), timeout=20, what="udhcpc bound")

A test never sleeps to let something happen: it waits for the thing itself, or for a
positive signal that it would have happened by now (a counter the program under test
increments, a line it logs). WaitTimeout is an AssertionError, so pytest reports a
failure with the condition's name and the last error the condition raised.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not come true in time."""


def wait_for(condition: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.05,
             what: str = "condition") -> T:
    """Poll `condition` until it returns something truthy and return that; WaitTimeout after
    `timeout` seconds. An exception raised by `condition` counts as "not yet" (things settle),
    and the last one is named in the timeout's message."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise WaitTimeout(f"{what} not true after {timeout:.1f} s{detail}")
        time.sleep(interval)


def log_size(path: Path) -> int:
    """Current length of a log file (0 if it does not exist yet): a mark to search after."""
    return path.stat().st_size if path.exists() else 0


def log_text(path: Path, after: int = 0) -> str:
    """A log file's text from byte `after` ("" if it does not exist yet)."""
    if not path.exists():
        return ""
    return path.read_bytes()[after:].decode(errors="replace")


def log_match(path: Path, pattern: str, after: int = 0) -> re.Match[str] | None:
    """The first match of `pattern` (multi-line) in `path` from byte `after`, or None."""
    return re.search(pattern, log_text(path, after), re.MULTILINE)


def wait_for_line(path: Path, pattern: str, timeout: float = 20.0, after: int = 0) -> re.Match[str]:
    """Wait until `path` (from byte `after`) has a line matching `pattern`; the match. The
    timeout's message carries the file's text, which is what one needs to see why."""
    try:
        return wait_for(lambda: log_match(path, pattern, after), timeout, what=f"{pattern!r} in {path}")
    except WaitTimeout as timeout_error:
        raise WaitTimeout(f"{timeout_error}:\n{log_text(path) or '<empty or missing>'}") from None
