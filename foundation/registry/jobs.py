"""The `jobs` and `job_log` tables: provisioning runs and their output lines."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from foundation.errors import RegistryError
from foundation.registry.db import transaction
from foundation.registry.models import JobLogRow, JobRow, JobState, LogStream

_COLUMNS = "id, node, plan, state, created, started, finished"
_ENDED = (JobState.SUCCEEDED, JobState.FAILED, JobState.INTERRUPTED)


def job_from_row(row: sqlite3.Row) -> JobRow:
    """A JobRow from a `SELECT {_COLUMNS}` row."""
    return JobRow(
        id=row["id"], node=row["node"], plan=row["plan"], state=JobState(row["state"]),
        created=row["created"], started=row["started"], finished=row["finished"],
    )  # fmt: skip


def create_job(conn: sqlite3.Connection, *, node: str, plan: str, now: float) -> JobRow:
    """Queue a job and return it."""
    with transaction(conn):
        cursor = conn.execute(
            "INSERT INTO jobs (node, plan, state, created) VALUES (?, ?, 'queued', ?)",
            (node, plan, now),
        )
    assert cursor.lastrowid is not None
    return require_job(conn, cursor.lastrowid)


def get_job(conn: sqlite3.Connection, job_id: int) -> JobRow | None:
    """The job with this id, or None."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return job_from_row(row) if row is not None else None


def require_job(conn: sqlite3.Connection, job_id: int) -> JobRow:
    """The job with this id; RegistryError if there is none."""
    job = get_job(conn, job_id)
    if job is None:
        raise RegistryError(f"no job {job_id} in the registry — check the job number")
    return job


def list_jobs(
    conn: sqlite3.Connection, *, node: str | None = None, limit: int = 100
) -> list[JobRow]:
    """The most recent jobs (of one node, if given), newest first."""
    if node is None:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE node = ? ORDER BY id DESC LIMIT ?", (node, limit)
        )
    return [job_from_row(row) for row in rows]


def start_job(conn: sqlite3.Connection, job_id: int, *, now: float) -> JobRow:
    """queued → running."""
    with transaction(conn):
        job = require_job(conn, job_id)
        if job.state is not JobState.QUEUED:
            raise RegistryError(f"job {job_id} is {job.state.value}, only a queued job can start")
        conn.execute("UPDATE jobs SET state = 'running', started = ? WHERE id = ?", (now, job_id))
    return require_job(conn, job_id)


def finish_job(conn: sqlite3.Connection, job_id: int, state: JobState, *, now: float) -> JobRow:
    """running (or queued) → succeeded, failed or interrupted."""
    if state not in _ENDED:
        raise ValueError(f"a job ends succeeded, failed or interrupted, not {state.value}")
    with transaction(conn):
        job = require_job(conn, job_id)
        if job.state in _ENDED:
            raise RegistryError(f"job {job_id} already ended ({job.state.value})")
        conn.execute(
            "UPDATE jobs SET state = ?, finished = ? WHERE id = ?", (state.value, now, job_id)
        )
    return require_job(conn, job_id)


def interrupt_running_jobs(conn: sqlite3.Connection, *, now: float) -> list[int]:
    """Mark jobs left running by a dead daemon as interrupted (call at start); return their ids."""
    with transaction(conn):
        ids = [
            row[0]
            for row in conn.execute("SELECT id FROM jobs WHERE state = 'running' ORDER BY id")
        ]
        conn.execute(
            "UPDATE jobs SET state = 'interrupted', finished = ? WHERE state = 'running'", (now,)
        )
    return ids


def append_log(
    conn: sqlite3.Connection, job_id: int, lines: Iterable[tuple[LogStream, str]], *, now: float
) -> int:
    """Append lines to a job's log in one transaction; return the last sequence number."""
    with transaction(conn):
        require_job(conn, job_id)
        seq = conn.execute(
            "SELECT coalesce(max(seq), 0) FROM job_log WHERE job_id = ?", (job_id,)
        ).fetchone()[0]
        for stream, line in lines:
            seq += 1
            conn.execute(
                "INSERT INTO job_log (job_id, seq, time, stream, line) VALUES (?, ?, ?, ?, ?)",
                (job_id, seq, now, stream.value, line),
            )
    return int(seq)


def job_log(
    conn: sqlite3.Connection, job_id: int, *, after_seq: int = 0, limit: int = 10_000
) -> list[JobLogRow]:
    """A job's log lines after `after_seq`, in order (for following a running job)."""
    rows = conn.execute(
        "SELECT job_id, seq, time, stream, line FROM job_log WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        (job_id, after_seq, limit),
    )
    return [
        JobLogRow(
            job_id=r["job_id"],
            seq=r["seq"],
            time=r["time"],
            stream=LogStream(r["stream"]),
            line=r["line"],
        )
        for r in rows
    ]
