"""What a provisioning job reports: progress while it runs, its outcome when it ends."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobProgress:
    """A job moved on (for progress lines on a terminal)."""

    job_id: int
    """The job."""
    node: str
    """Its node."""
    plan: str
    """Its plan."""
    step: int
    """Steps done."""
    steps: int
    """Steps in the plan."""
    step_name: str
    """The step running now (or the last one)."""
    changed: int
    """Operations that changed something so far."""
    state: str
    """running, succeeded, failed or interrupted."""


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended."""

    job_id: int
    """The job."""
    node: str
    """Its node."""
    plan: str
    """Its plan."""
    state: str
    """succeeded, failed or interrupted."""
    changed: int
    """Operations that changed something."""
    steps: int
    """Steps in the plan."""
    error: str | None
    """Why it failed (one line, no secrets)."""
    resumed_from: int | None
    """The job it took over from."""
    dry_run: bool
    """True when it only listed what it would do."""
    commands: tuple[str, ...]
    """Every action, as the log shows it (a dry run's answer)."""

    @property
    def ok(self) -> bool:
        """True when it succeeded."""
        return self.state == "succeeded"
