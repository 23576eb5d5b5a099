"""The one-by-one lease writer: the oracle the batched path (the product's only path) is compared with.

This is how the registry recorded a lease event before lease_batch existed:
per event a savepoint, a lease row, up to three lookups, an upsert, address
moves, a pod-slice allocation through `nodes.allocate_pod_cidr`, an event row
and a re-read. It is simple to read and obviously right, which makes it the
reference the property tests and bench_registry compare the batched path with.
The product never runs it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from ipaddress import IPv4Network

from foundation.errors import RegistryError
from foundation.records import LeaseEvent, NodeRecord
from foundation.registry import history, lease_batch, nodes
from foundation.registry.db import transaction
from foundation.registry.leases import put_lease
from foundation.registry.models import LeaseRow, LeaseState

_STATE_OF_CHANGE = lease_batch.STATE_OF_CHANGE


def record_lease_event_reference(
    conn: sqlite3.Connection,
    event: LeaseEvent,
    *,
    pod_cidr: IPv4Network,
    node_cidr_mask: int,
    now: float,
) -> NodeRecord | None:
    """Record a lease event: lease row, node upsert (by client-id, then MAC), pod CIDR, event row.

    One transaction. A granted/renewed lease gives the node that address
    (taking it from any other node: the DHCP server is authoritative); a
    released/expired/declined one takes the address away if the node still
    has it. Returns the node as netd should now see it (publish it after this
    returns, i.e. after the commit), or None when a lease ended for a client
    that is no node (e.g. one the admin forgot): an ending lease never
    brings a forgotten node back; only a client that is on the network does.
    """
    state = _STATE_OF_CHANGE[event.change]
    address = str(event.address)
    with transaction(conn):
        put_lease(conn, LeaseRow(
            address=event.address, mac=event.mac, client_id=event.client_id, node=event.node_name,
            expires=event.expires, state=state, updated=now,
        ))  # fmt: skip
        if state is not LeaseState.ACTIVE and _find_node(conn, event) is None:
            history.append_event(
                conn, kind=f"lease.{event.change.value}", node=None,
                message=f"{event.mac} lease {event.change.value} for {address} (not a node)", now=now,
            )  # fmt: skip
            return None
        name = _upsert_node(conn, event, now)
        if state is LeaseState.ACTIVE:
            conn.execute(
                "UPDATE nodes SET address = NULL WHERE address = ? AND name != ?", (address, name)
            )
            conn.execute("UPDATE nodes SET address = ? WHERE name = ?", (address, name))
        else:
            conn.execute(
                "UPDATE nodes SET address = NULL WHERE address = ? AND name = ?", (address, name)
            )
        nodes.allocate_pod_cidr(conn, name, pod_cidr, node_cidr_mask)
        history.append_event(
            conn, kind=f"lease.{event.change.value}", node=name,
            message=f"{name} ({event.mac}) lease {event.change.value} for {address}", now=now,
        )  # fmt: skip
        return nodes.node_record(nodes.require_node(conn, name))


def record_lease_events_one_by_one(
    conn: sqlite3.Connection,
    lease_events: Iterable[LeaseEvent],
    *,
    pod_cidr: IPv4Network,
    node_cidr_mask: int,
    now: float,
) -> tuple[list[NodeRecord], list[tuple[LeaseEvent, RegistryError]]]:
    """The reference batch path: `record_lease_event_reference` per event, each in its own savepoint."""
    records: list[NodeRecord] = []
    failures: list[tuple[LeaseEvent, RegistryError]] = []
    with transaction(conn):
        for event in lease_events:
            try:
                # Nested: a savepoint, so a failing event rolls back only its own changes.
                record = record_lease_event_reference(
                    conn, event, pod_cidr=pod_cidr, node_cidr_mask=node_cidr_mask, now=now
                )
                if record is not None:
                    records.append(record)
            except RegistryError as error:
                failures.append((event, error))
    return records, failures


def _find_node(conn: sqlite3.Connection, event: LeaseEvent) -> sqlite3.Row | None:
    """The node of this client (client-id first, then MAC, then a MAC-less row of that name)."""
    row = None
    if event.client_id is not None:
        row = conn.execute(
            "SELECT name FROM nodes WHERE client_id = ?", (event.client_id,)
        ).fetchone()
    if row is None:
        row = conn.execute("SELECT name FROM nodes WHERE mac = ?", (event.mac,)).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT name FROM nodes WHERE name = ? AND mac IS NULL AND role = 'worker'",
            (event.node_name,),
        ).fetchone()
    return row  # type: ignore[no-any-return]


def _upsert_node(conn: sqlite3.Connection, event: LeaseEvent, now: float) -> str:
    """Update this client's node, or create it (state discovered) if it has none."""
    row = _find_node(conn, event)
    try:
        if row is None:
            conn.execute(
                "INSERT INTO nodes (name, role, mac, client_id, state, hostname, first_seen, last_seen) "
                "VALUES (?, 'worker', ?, ?, 'discovered', ?, ?, ?)",
                (event.node_name, event.mac, event.client_id, event.hostname, now, now),
            )
            history.append_event(
                conn,
                kind="node.discovered",
                node=event.node_name,
                message=f"new node {event.node_name} ({event.mac})",
                now=now,
            )
            return event.node_name
        conn.execute(
            "UPDATE nodes SET name = ?, mac = ?, client_id = coalesce(?, client_id), "
            "hostname = coalesce(?, hostname), last_seen = max(last_seen, ?) WHERE name = ?",
            (event.node_name, event.mac, event.client_id, event.hostname, now, row["name"]),
        )
    except sqlite3.IntegrityError:
        raise lease_batch.clash_error(event) from None
    return event.node_name
