"""Progress of provisioning jobs on a terminal: one line per node, rewritten in place.

Off a terminal nothing is drawn; the command prints its plain result lines
at the end. Updates come from the runner's worker threads, hence the lock.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from provisioning.runner import JobProgress


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
