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

from foundation.errors import RegistryError
from foundation.records import LeaseEvent, NodeRecord
from foundation.registry import lease_batch
from foundation.registry.db import transaction
from foundation.registry.models import LeaseRow, LeaseState

log = logging.getLogger(__name__)

_COLUMNS = "address, mac, client_id, node, expires, state, updated"



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


def record_lease_events(
    conn: sqlite3.Connection,
    lease_events: Iterable[LeaseEvent],
    *,
    pod_cidr: IPv4Network,
    node_cidr_mask: int,
    now: float,
) -> tuple[list[NodeRecord], list[tuple[LeaseEvent, RegistryError]]]:
    """Record many lease events in one transaction (one fsync); a failing event is skipped alone.

    For each event: the lease row, the node (by client-id, then MAC; created as
    `discovered` when new), its address (taken from any other node when granted:
    the DHCP server is authoritative; given up when released, expired or
    declined, if the node still has it), its pod slice, and an event row. An
    ending lease for a client that is no node (e.g. one the admin forgot) is
    recorded but never brings the node back. Returns the node records to
    publish (after the commit) and the events that could not be recorded with
    why (the daemon logs them; it never dies on one bad event).

    Every decision is lease_batch's. Should it meet an error it did not foresee
    (a bug), the batch is rolled back and each event is recorded alone, so only
    the event that hits the bug is lost, reported as a failure.
    """
    batch = list(lease_events)
    with transaction(conn):
        try:
            return _record_batch(conn, batch, pod_cidr, node_cidr_mask, now)
        except Exception as error:
            if not conn.in_transaction:  # SQLite dropped the whole transaction: nothing to isolate
                raise
            log.warning("registry: batch of %d lease events hit %s: %s; recording them one at a time",
                        len(batch), type(error).__name__, error)
        records: list[NodeRecord] = []
        failures: list[tuple[LeaseEvent, RegistryError]] = []
        for event in batch:
            try:
                one_records, one_failures = _record_batch(conn, [event], pod_cidr, node_cidr_mask, now)
            except Exception as error:
                if not conn.in_transaction:
                    raise
                log.exception("registry: lease event for %s could not be recorded", event.mac)
                failures.append((event, RegistryError(
                    f"lease event for {event.mac} could not be recorded ({type(error).__name__}: "
                    f"{error}) — a bug: report it with the master's log")))
                continue
            records += one_records
            failures += one_failures
        return records, failures


def _record_batch(
    conn: sqlite3.Connection,
    batch: list[LeaseEvent],
    pod_cidr: IPv4Network,
    node_cidr_mask: int,
    now: float,
) -> tuple[list[NodeRecord], list[tuple[LeaseEvent, RegistryError]]]:
    """`batch` through lease_batch inside a savepoint (undone whole if it raises)."""
    with transaction(conn):
        writer = lease_batch.LeaseBatch(conn, pod_cidr, node_cidr_mask, now)
        for event in batch:
            writer.record(event)
        writer.flush()
    return writer.records, writer.failures


def record_lease_event(
    conn: sqlite3.Connection,
    event: LeaseEvent,
    *,
    pod_cidr: IPv4Network,
    node_cidr_mask: int,
    now: float,
) -> NodeRecord | None:
    """Record one lease event (see `record_lease_events`); RegistryError if it cannot be recorded.

    Returns the node as netd should now see it, or None when a lease ended for a
    client that is no node.
    """
    records, failures = record_lease_events(
        conn, [event], pod_cidr=pod_cidr, node_cidr_mask=node_cidr_mask, now=now
    )
    if failures:
        raise failures[0][1]
    return records[0] if records else None
