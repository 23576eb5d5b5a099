"""The registry side of jobs: where a job resumes, the node state it leaves, its log writer.

A job's log lines go to `job_log` (the web page polls it by `seq`), redacted,
in small batches: a line announcing a command is written before the command
runs (so a follower sees what is running), everything else at most a quarter
second later. A re-run that changes nothing costs a handful of transactions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from foundation import registry
from foundation.registry import JobRow, JobState, LogStream, NodeState
from provisioning.plans import JOINING_PLANS
from provisioning.redact import Redactor

MAX_LINE = 2000
"""Longest log line kept (the rest is cut)."""
MAX_OUTPUT_LINES = 200
"""Output lines kept per command (the last ones, where errors are)."""


def resume_point(conn: sqlite3.Connection, node: str, plan: str, steps: int, job_id: int) -> JobRow | None:
    """The job this one takes over from: the node's latest real job, if it was this plan and was cut off
    or failed part-way with the same number of steps."""
    for job in registry.list_jobs(conn, node=node, limit=50):
        if job.id == job_id or job.dry_run:
            continue
        resumable = (job.plan == plan and job.state in (JobState.FAILED, JobState.INTERRUPTED)
                     and job.steps == steps and 0 < job.step < steps)
        return job if resumable else None
    return None


def end_state(plan: str, in_cluster: bool) -> NodeState:
    """Where a node is after a plan succeeded: joined when it is in the cluster, else approved."""
    return NodeState.JOINED if plan in JOINING_PLANS or in_cluster else NodeState.APPROVED


class JobLog:
    """One job's log, written to the registry through the job's Redactor."""

    def __init__(self, conn: sqlite3.Connection, job_id: int, redact: Redactor,
                 clock: Callable[[], float], *, flush_after: float = 0.25,
                 echo: Callable[[str], None] | None = None) -> None:
        self.conn = conn
        self.job_id = job_id
        self.redact = redact
        self.clock = clock
        self.flush_after = flush_after
        self.echo = echo
        self._pending: list[tuple[LogStream, str]] = []
        self._oldest: float | None = None
        self._progress: tuple[int, str | None, int] | None = None

    def progress(self, step: int, step_name: str | None, changed: int) -> None:
        """Note the job's progress; it is written with the next flush (a transaction each step would cost
        an fsync each; a resume point at most a quarter second old is checked again anyway)."""
        self._progress = (step, step_name, changed)
        if self.clock() - (self._oldest if self._oldest is not None else self.clock()) >= self.flush_after:
            self.flush()

    def write(self, stream: LogStream, text: str, *, now_please: bool = False) -> None:
        """Queue every line of `text` (redacted, cut to MAX_LINE); flush when asked or when due."""
        clean = self.redact(text)
        for line in clean.splitlines() or [""]:
            self._pending.append((stream, line[:MAX_LINE]))
            if self.echo is not None:
                self.echo(line[:MAX_LINE])
        now = self.clock()
        if self._oldest is None:
            self._oldest = now
        if now_please or now - self._oldest >= self.flush_after:
            self.flush()

    def info(self, text: str) -> None:
        """A remark of the runner's own."""
        self.write(LogStream.INFO, text)

    def command(self, text: str) -> None:
        """A command about to run: written at once."""
        self.write(LogStream.INFO, text, now_please=True)

    def output(self, stdout: str, stderr: str) -> None:
        """A command's output, the last MAX_OUTPUT_LINES lines of each stream."""
        for stream, text in ((LogStream.STDOUT, stdout), (LogStream.STDERR, stderr)):
            lines = text.splitlines()
            if len(lines) > MAX_OUTPUT_LINES:
                self.write(stream, f"… {len(lines) - MAX_OUTPUT_LINES} earlier lines not kept")
                lines = lines[-MAX_OUTPUT_LINES:]
            if lines:
                self.write(stream, "\n".join(lines))

    def flush(self) -> None:
        """Write the queued lines and the progress in one transaction."""
        if self._pending or self._progress is not None:
            with registry.transaction(self.conn):
                if self._pending:
                    registry.append_log(self.conn, self.job_id, self._pending, now=self.clock())
                if self._progress is not None:
                    step, name, changed = self._progress
                    registry.record_step(self.conn, self.job_id, step=step, step_name=name, changed=changed)
        self._pending = []
        self._oldest = None
        self._progress = None
