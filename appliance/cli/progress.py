"""A small progress line for long byte work: bytes, rate, time left.

On a terminal it rewrites one line (`\\r`), at most ten times a second; when
not on a terminal it prints a plain line at the start and at every 25%, so
logs stay short. The clock is passed in so the tests step it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


def human_bytes(value: float) -> str:
    """1.2 GB, 340 MB, 12 kB (decimal units, as card sizes are sold)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def progress_text(what: str, done: int, total: int, elapsed: float) -> str:
    """`what: 1.2 GB of 2.1 GB (57%), 48.0 MB/s, 19 s left`."""
    rate = done / elapsed if elapsed > 0 else 0.0
    left = (total - done) / rate if rate > 0 else None
    percent = 100 * done // total if total else 100
    tail = f", {left:.0f} s left" if left is not None and done < total else ""
    return f"{what}: {human_bytes(done)} of {human_bytes(total)} ({percent}%), {human_bytes(rate)}/s{tail}"


class ProgressLine:
    """Report (what, done, total) as it moves; `finish` ends the line."""

    def __init__(self, stream: TextIO, terminal: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.terminal, self.clock = stream, terminal, clock
        self._what: str | None = None
        self._started = 0.0
        self._shown = 0.0
        self._quarter = -1

    def update(self, what: str, done: int, total: int) -> None:
        now = self.clock()
        if what != self._what:
            self.finish()
            self._what, self._started, self._shown, self._quarter = what, now, float("-inf"), -1
        text = progress_text(what, done, total, now - self._started)
        if self.terminal:
            if now - self._shown >= 0.1 or done >= total:
                self.stream.write("\r" + text + "\x1b[K")
                self.stream.flush()
                self._shown = now
            return
        quarter = 4 * done // total if total else 4
        if quarter > self._quarter:
            self._quarter = quarter
            self.stream.write(text + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.terminal and self._what is not None:
            self.stream.write("\n")
            self.stream.flush()
        self._what = None
