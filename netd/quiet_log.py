"""Warnings that a storm of packets or events cannot turn into a storm of log lines.

Every DISCOVER of an exhausted pool, every spoofed DECLINE, every probe a proxy-ARP box
answers is worth knowing about, but one line per packet fills the disk under a flood.
A QuietWarning logs at most `lines` lines per window of `window` seconds; the rest are
held back and counted, and the first line of the next window says how many there were.
The counters in Engine.stats keep the exact figures. Time is passed in, like everywhere in
the engine, so this stays pure and testable.
"""

from __future__ import annotations

import logging


class QuietWarning:
    """One kind of warning, limited to `lines` per `window` seconds; logged at `level`
    (ERROR for a caught bug, whose traceback matters)."""

    def __init__(self, log: logging.Logger, lines: int = 10, window: float = 60.0,
                 level: int = logging.WARNING) -> None:
        self.log = log
        self.lines = lines
        self.window = window
        self.level = level
        self._window_ends = float("-inf")
        self._logged = 0
        self._held = 0

    def warn(self, now: float, message: str, *args: object, exc_info: bool = False) -> bool:
        """Log `message % args` (with the exception being handled, if `exc_info`) unless this
        window's lines are spent; True if it was logged."""
        if now >= self._window_ends:
            self._window_ends = now + self.window
            self._logged = 0
        if self._logged >= self.lines:
            self._held += 1
            return False
        self._logged += 1
        if self._held:
            message += " (and %d more like it held back since the last such line)"
            args = (*args, self._held)
            self._held = 0
        self.log.log(self.level, message, *args, exc_info=exc_info)
        return True
