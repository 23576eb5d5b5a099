"""When the node agent reports to the master next: a pure schedule, tested by stepping a clock.

After a report the master answered: the report_interval it asked for. After one it did not
answer (master down, network out, credential refused): exponential backoff with jitter, so
that agents which lost the master together (a master restart) come back spread out instead
of in step. The n-th retry in a row waits uniform(c/2, c), c = min(max_backoff,
min_backoff * 2^n); the jitter comes from an injected random.Random (seeded in tests, so
they are exact). Standard library only: it ships in the agent's payload.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class ReportSchedule:
    """The agent's report schedule: the master's interval, or jittered backoff after failures."""

    min_backoff: float
    """Ceiling of the first retry delay (seconds)."""
    max_backoff: float
    """Largest ceiling (seconds)."""
    rng: random.Random = field(default_factory=random.Random)
    """Source of jitter (seeded in tests)."""
    failures: int = 0
    """Unanswered reports in a row (0 after an answered one)."""

    def next(self, now: float, report_interval: float | None) -> float:
        """When (on the clock of `now`) to report next, after a report at `now`:
        `report_interval` is what the master answered, None when it did not answer."""
        if report_interval is not None:
            self.failures = 0
            return now + report_interval
        ceiling = min(self.max_backoff, self.min_backoff * 2 ** min(self.failures, 32))
        self.failures += 1
        return now + self.rng.uniform(ceiling / 2, ceiling)
