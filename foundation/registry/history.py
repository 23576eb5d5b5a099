"""The `events` table: the history the web page and `nodes` commands show."""

from __future__ import annotations

import sqlite3

from foundation.registry.db import transaction
from foundation.registry.models import EventRow

_COLUMNS = "id, time, kind, node, message"


def event_from_row(row: sqlite3.Row) -> EventRow:
    """An EventRow from a `SELECT {_COLUMNS}` row."""
    return EventRow(
        id=row["id"], time=row["time"], kind=row["kind"], node=row["node"], message=row["message"]
    )


def append_event(
    conn: sqlite3.Connection, *, kind: str, node: str | None, message: str, now: float
) -> int:
    """Append one event and return its id."""
    with transaction(conn):
        cursor = conn.execute(
            "INSERT INTO events (time, kind, node, message) VALUES (?, ?, ?, ?)",
            (now, kind, node, message),
        )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def list_events(
    conn: sqlite3.Connection, *, node: str | None = None, after_id: int = 0, limit: int = 100
) -> list[EventRow]:
    """Events newer than `after_id`, oldest first, optionally only those of one node."""
    if node is None:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        )
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE node = ? AND id > ? ORDER BY id LIMIT ?",
            (node, after_id, limit),
        )
    return [event_from_row(row) for row in rows]


def latest_events(conn: sqlite3.Connection, limit: int = 50) -> list[EventRow]:
    """The `limit` most recent events, newest first (for the web page)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM events ORDER BY id DESC LIMIT ?", (limit,))
    return [event_from_row(row) for row in rows]
