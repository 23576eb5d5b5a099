"""The `leases` table, and recording a DHCP lease event into the registry.

The DHCP server keeps its own durable lease store (it must answer fast);
the registry keeps the last known state of every address and, above all,
turns a lease into a node: name, address, pod CIDR, last_seen, history.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network

from appliance.errors import RegistryError
from appliance.registry import events, lease_batch, nodes
from appliance.registry.db import transaction
from appliance.registry.models import LeaseRow, LeaseState
from netd.events import LeaseEvent, NodeRecord

log = logging.getLogger(__name__)

_COLUMNS = "address, mac, client_id, node, expires, state, updated"

_STATE_OF_CHANGE = lease_batch.STATE_OF_CHANGE


def lease_from_row(row: sqlite3.Row) -> LeaseRow:
    """A LeaseRow from a `SELECT {_COLUMNS}` row."""
    return LeaseRow(
        address=IPv4Address(row["address"]),
        mac=row["mac"],
        client_id=row["client_id"],
        node=row["node"],
        expires=row["expires"],
        state=LeaseState(row["state"]),
        updated=row["updated"],
    )


def put_lease(conn: sqlite3.Connection, lease: LeaseRow) -> None:
    """Insert or replace the row of `lease.address`."""
    with transaction(conn):
        conn.execute(
            f"INSERT OR REPLACE INTO leases ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(lease.address), lease.mac, lease.client_id, lease.node, lease.expires,
             lease.state.value, lease.updated),
        )  # fmt: skip


def get_lease(conn: sqlite3.Connection, address: IPv4Address) -> LeaseRow | None:
    """The row of one address, or None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM leases WHERE address = ?", (str(address),)
    ).fetchone()
    return lease_from_row(row) if row is not None else None


def list_leases(conn: sqlite3.Connection, *, active_only: bool = False) -> list[LeaseRow]:
    """Every lease row (or only the active ones), by address."""
    where = " WHERE state = 'active'" if active_only else ""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM leases{where}")
    return sorted((lease_from_row(row) for row in rows), key=lambda lease: lease.address)


def record_lease_event(
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
            events.append_event(
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
        events.append_event(
            conn, kind=f"lease.{event.change.value}", node=name,
            message=f"{name} ({event.mac}) lease {event.change.value} for {address}", now=now,
        )  # fmt: skip
        return nodes.node_record(nodes.require_node(conn, name))


def record_lease_events(
    conn: sqlite3.Connection,
    lease_events: Iterable[LeaseEvent],
    *,
    pod_cidr: IPv4Network,
    node_cidr_mask: int,
    now: float,
) -> tuple[list[NodeRecord], list[tuple[LeaseEvent, RegistryError]]]:
    """Record many lease events in one transaction (one fsync); a failing event is skipped alone.

    Returns the node records to publish and the events that could not be
    recorded with why (the daemon logs them; it never dies on one bad event).
    The result is exactly that of `record_lease_events_one_by_one`; it is
    reached through lease_batch's cheaper path, and should that path meet
    anything it did not foresee, the batch is rolled back and replayed one by one.
    """
    batch = list(lease_events)
    with transaction(conn):
        if lease_batch.mask_fits(pod_cidr, node_cidr_mask):
            try:
                with transaction(conn):  # a savepoint: undone whole if the cheap path gives up
                    fast = lease_batch.LeaseBatch(conn, pod_cidr, node_cidr_mask, now)
                    for event in batch:
                        fast.record(event)
                    fast.flush()
                return fast.records, fast.failures
            except Exception as error:
                # Whatever it was, the reference path decides the outcome (it may well
                # raise the same). Unless SQLite dropped the whole transaction: report that.
                if not conn.in_transaction:
                    raise
                log.warning("registry: batch of %d lease events replayed one by one (%s: %s)",
                            len(batch), type(error).__name__, error)
        return record_lease_events_one_by_one(
            conn, batch, pod_cidr=pod_cidr, node_cidr_mask=node_cidr_mask, now=now
        )


def record_lease_events_one_by_one(
    conn: sqlite3.Connection,
    lease_events: Iterable[LeaseEvent],
    *,
    pod_cidr: IPv4Network,
    node_cidr_mask: int,
    now: float,
) -> tuple[list[NodeRecord], list[tuple[LeaseEvent, RegistryError]]]:
    """The reference batch path: `record_lease_event` per event, each in its own savepoint."""
    records: list[NodeRecord] = []
    failures: list[tuple[LeaseEvent, RegistryError]] = []
    with transaction(conn):
        for event in lease_events:
            try:
                # Nested: a savepoint, so a failing event rolls back only its own changes.
                record = record_lease_event(
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
            events.append_event(
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
