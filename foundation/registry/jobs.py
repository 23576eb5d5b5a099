"""The `jobs` and `job_log` tables: provisioning runs and their output lines."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from foundation.errors import RegistryError
from foundation.registry.db import transaction
from foundation.registry.models import JobLogRow, JobRow, JobState, LogStream

_COLUMNS = (
    "id, node, plan, state, created, started, finished, step, steps, step_name, changed, error, "
    "resumed_from, dry_run, owner"
)
_ENDED = (JobState.SUCCEEDED, JobState.FAILED, JobState.INTERRUPTED)


def job_from_row(row: sqlite3.Row) -> JobRow:
    """A JobRow from a `SELECT {_COLUMNS}` row."""
    return JobRow(
        id=row["id"], node=row["node"], plan=row["plan"], state=JobState(row["state"]),
        created=row["created"], started=row["started"], finished=row["finished"],
        step=row["step"], steps=row["steps"], step_name=row["step_name"], changed=row["changed"],
        error=row["error"], resumed_from=row["resumed_from"], dry_run=bool(row["dry_run"]),
        owner=row["owner"],
    )  # fmt: skip


def create_job(
    conn: sqlite3.Connection, *, node: str, plan: str, now: float, dry_run: bool = False
) -> JobRow:
    """Queue a job and return it."""
    with transaction(conn):
        cursor = conn.execute(
            "INSERT INTO jobs (node, plan, state, created, dry_run) VALUES (?, ?, 'queued', ?, ?)",
            (node, plan, now, int(dry_run)),
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


def start_job(
    conn: sqlite3.Connection,
    job_id: int,
    *,
    now: float,
    steps: int = 0,
    step: int = 0,
    resumed_from: int | None = None,
    owner: int | None = None,
) -> JobRow:
    """queued → running, with the plan's step count and where it starts (a resumed job: later)."""
    with transaction(conn):
        job = require_job(conn, job_id)
        if job.state is not JobState.QUEUED:
            raise RegistryError(f"job {job_id} is {job.state.value}, only a queued job can start")
        conn.execute(
            "UPDATE jobs SET state = 'running', started = ?, steps = ?, step = ?, resumed_from = ?, "
            "owner = ? WHERE id = ?",
            (now, steps, step, resumed_from, owner, job_id),
        )
    return require_job(conn, job_id)


def record_step(
    conn: sqlite3.Connection, job_id: int, *, step: int, step_name: str | None, changed: int
) -> None:
    """Note a running job's progress: `step` steps done, `step_name` next, `changed` so far."""
    with transaction(conn):
        updated = conn.execute(
            "UPDATE jobs SET step = ?, step_name = ?, changed = ? WHERE id = ? AND state = 'running'",
            (step, step_name, changed, job_id),
        ).rowcount
        if not updated:
            raise RegistryError(f"job {job_id} is not running — it was ended by another process")


def finish_job(
    conn: sqlite3.Connection, job_id: int, state: JobState, *, now: float, error: str | None = None
) -> JobRow:
    """running (or queued) → succeeded, failed or interrupted (with the reason, one line)."""
    if state not in _ENDED:
        raise ValueError(f"a job ends succeeded, failed or interrupted, not {state.value}")
    with transaction(conn):
        job = require_job(conn, job_id)
        if job.state in _ENDED:
            raise RegistryError(f"job {job_id} already ended ({job.state.value})")
        conn.execute(
            "UPDATE jobs SET state = ?, finished = ?, error = ? WHERE id = ?",
            (state.value, now, error, job_id),
        )
    return require_job(conn, job_id)


def last_job(conn: sqlite3.Connection, node: str, plan: str) -> JobRow | None:
    """The newest job of `plan` on `node` (queued, running or ended), or None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM jobs WHERE node = ? AND plan = ? AND dry_run = 0 "
        "ORDER BY id DESC LIMIT 1",
        (node, plan),
    ).fetchone()
    return job_from_row(row) if row is not None else None


def active_jobs(conn: sqlite3.Connection, node: str | None = None) -> list[JobRow]:
    """Queued and running jobs (of one node, if given), oldest first."""
    query = f"SELECT {_COLUMNS} FROM jobs WHERE state IN ('queued', 'running')"
    args: tuple[object, ...] = ()
    if node is not None:
        query += " AND node = ?"
        args = (node,)
    return [job_from_row(row) for row in conn.execute(query + " ORDER BY id", args)]


def interrupt_orphaned_jobs(
    conn: sqlite3.Connection, alive: Callable[[int], bool], *, now: float
) -> list[int]:
    """Mark running jobs whose owner process is gone (`alive(pid)` false) as interrupted."""
    rows = conn.execute("SELECT id, owner FROM jobs WHERE state = 'running' ORDER BY id").fetchall()
    if not any(r["owner"] is None or not alive(r["owner"]) for r in rows):
        return []  # the usual case: no write, no fsync
    with transaction(conn):
        rows = conn.execute("SELECT id, owner FROM jobs WHERE state = 'running' ORDER BY id").fetchall()
        orphans = [r["id"] for r in rows if r["owner"] is None or not alive(r["owner"])]
        for job_id in orphans:
            conn.execute(
                "UPDATE jobs SET state = 'interrupted', finished = ?, "
                "error = coalesce(error, 'cut off: its runner stopped') WHERE id = ?",
                (now, job_id),
            )
    return orphans


def interrupt_running_jobs(conn: sqlite3.Connection, *, now: float) -> list[int]:
    """Mark jobs left running by a dead daemon as interrupted (call at start); return their ids."""
    with transaction(conn):
        ids = [
            row[0]
            for row in conn.execute("SELECT id FROM jobs WHERE state = 'running' ORDER BY id")
        ]
        conn.execute(
            "UPDATE jobs SET state = 'interrupted', finished = ?, "
            "error = coalesce(error, 'cut off: the master stopped') WHERE state = 'running'",
            (now,),
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
