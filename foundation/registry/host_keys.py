"""The `host_keys` table: SSH host keys known before first contact, and the key pinned per node.

A card key (written to cards.pub by `appliance flash`) is known with no node
until a node presents it; then it is pinned to that node. A key trusted on
first use or accepted by the admin is recorded already pinned. A node has at
most one pinned key, and a key is pinned to at most one node (two nodes with
one host key are cloned cards). `nodes.ssh_host_key` mirrors the pin, written
in the same transaction, for readers that only look at the node row.

Parsing keys and computing fingerprints is provisioning's job
(provisioning.host_keys); this module only stores what it is given.
"""

from __future__ import annotations

import sqlite3

from foundation.errors import RegistryError
from foundation.registry import history
from foundation.registry.db import transaction
from foundation.registry.models import HostKeyRow, HostKeySource
from foundation.registry.nodes import require_node

_COLUMNS = "key, fingerprint, source, card, node, added, pinned"


def host_key_from_row(row: sqlite3.Row) -> HostKeyRow:
    """A HostKeyRow from a `SELECT {_COLUMNS}` row."""
    return HostKeyRow(
        key=row["key"], fingerprint=row["fingerprint"], source=HostKeySource(row["source"]),
        card=row["card"], node=row["node"], added=row["added"], pinned=row["pinned"],
    )  # fmt: skip


def add_card_key(
    conn: sqlite3.Connection, key: str, fingerprint: str, *, card: str | None, now: float
) -> bool:
    """Record a key known from a card (nothing happens if it is known already); True if new."""
    with transaction(conn):
        inserted = conn.execute(
            f"INSERT OR IGNORE INTO host_keys ({_COLUMNS}) VALUES (?, ?, 'card', ?, NULL, ?, NULL)",
            (key, fingerprint, card, now),
        ).rowcount
    return bool(inserted)


def get_host_key(conn: sqlite3.Connection, key: str) -> HostKeyRow | None:
    """The row of `key` (`type base64`), or None if the appliance does not know it."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM host_keys WHERE key = ?", (key,)).fetchone()
    return host_key_from_row(row) if row is not None else None


def pinned_host_key(conn: sqlite3.Connection, node: str) -> HostKeyRow | None:
    """The key pinned to `node`, or None before first contact."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM host_keys WHERE node = ?", (node,)).fetchone()
    return host_key_from_row(row) if row is not None else None


def count_card_keys(conn: sqlite3.Connection) -> int:
    """How many card keys are known (pinned or not)."""
    return int(conn.execute("SELECT count(*) FROM host_keys WHERE source = 'card'").fetchone()[0])


def list_host_keys(conn: sqlite3.Connection) -> list[HostKeyRow]:
    """Every known key, pinned ones first, then by when they were added."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM host_keys ORDER BY node IS NULL, added, key")
    return [host_key_from_row(row) for row in rows]


def pin_host_key(
    conn: sqlite3.Connection,
    node: str,
    key: str,
    fingerprint: str,
    *,
    source: HostKeySource,
    now: float,
) -> HostKeyRow:
    """Pin `key` to `node`, replacing its previous pin; a known card key keeps its card label.

    RegistryError when the key is already pinned to another node (a cloned card).
    """
    with transaction(conn):
        require_node(conn, node)
        known = get_host_key(conn, key)
        if known is not None and known.node not in (None, node):
            raise RegistryError(
                f"{node}: its SSH host key {fingerprint} is already pinned to {known.node} — "
                "two nodes with one host key are copies of one card; re-image one of them"
            )
        # Unpinning the old key fires the trigger that drops it unless a card vouches for it.
        conn.execute("UPDATE host_keys SET node = NULL, pinned = NULL WHERE node = ? AND key != ?",
                     (node, key))
        if known is None:
            conn.execute(
                f"INSERT INTO host_keys ({_COLUMNS}) VALUES (?, ?, ?, NULL, ?, ?, ?)",
                (key, fingerprint, source.value, node, now, now),
            )
        elif known.node is None:
            conn.execute("UPDATE host_keys SET node = ?, pinned = ? WHERE key = ?", (node, now, key))
        conn.execute("UPDATE nodes SET ssh_host_key = ? WHERE name = ?", (key, node))
        how = {"card": "known from its card", "tofu": "trusted on first use",
               "manual": "accepted by the admin"}[(known.source if known else source).value]
        history.append_event(conn, kind="node.host_key", node=node,
                             message=f"{node}: SSH host key {fingerprint} pinned ({how})", now=now)
        pinned = pinned_host_key(conn, node)
    assert pinned is not None
    return pinned


def unpin_host_key(conn: sqlite3.Connection, node: str, *, now: float) -> bool:
    """Forget the key pinned to `node` (its card key stays known); True if there was one."""
    with transaction(conn):
        require_node(conn, node)
        count = conn.execute(
            "UPDATE host_keys SET node = NULL, pinned = NULL WHERE node = ?", (node,)
        ).rowcount
        conn.execute("UPDATE nodes SET ssh_host_key = NULL WHERE name = ?", (node,))
        if count:
            history.append_event(conn, kind="node.host_key", node=node,
                                 message=f"{node}: SSH host key unpinned", now=now)
    return bool(count)
