"""Progress on a terminal: a line for long byte work, and a board of provisioning jobs.

- `ProgressLine` (flash, image build): bytes, rate, time left. On a terminal it
  rewrites one line (`\\r`), at most ten times a second; when not on a terminal
  it prints a plain line at the start and at every 25%, so logs stay short. The
  clock is passed in so the tests step it.
- `ProgressBoard` (provision, nodes): one line per node, rewritten in place. Off
  a terminal nothing is drawn; the command prints its plain result lines at the
  end. Updates come from the runner's worker threads, hence the lock.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from provisioning.runner import JobProgress


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


class ProgressBoard:
    """A line per job: node, step i/N and its name, changes so far."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._lines: dict[int, str] = {}
        self._drawn = 0
        self._lock = threading.Lock()

    def __call__(self, progress: JobProgress) -> None:
        """Take one update (called from worker threads)."""
        if not self.live:
            return
        if progress.state == "running":
            status = f"step {progress.step + 1}/{progress.steps} {progress.step_name}"
        else:
            status = progress.state
        line = f"{progress.node:<16} {status:<40} {progress.changed} changed"
        with self._lock:
            self._lines[progress.job_id] = line
            self._draw()

    def _draw(self) -> None:
        out = self.stream
        if self._drawn:
            out.write(f"\x1b[{self._drawn}F")  # back to the first line of the board
        for line in self._lines.values():
            out.write("\x1b[2K" + line[:200] + "\n")
        self._drawn = len(self._lines)
        out.flush()

    def close(self) -> None:
        """Leave the board as it is (the result lines follow it)."""
        with self._lock:
            self._lines.clear()
            self._drawn = 0
