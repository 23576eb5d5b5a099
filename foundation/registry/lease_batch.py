"""Recording a batch of lease events: decide in Python, write each row once.

This is the registry's one lease writer (`leases.record_lease_events` drives
it). The obvious way — per event a savepoint, a lease row, up to three
lookups, an upsert, address moves, a pod-slice allocation that re-reads the
node, an event row and a final re-read — competes with the DHCP server for
the CPU under a DHCP storm. That way lives on in the tests as the oracle
(tests/foundation/registry/lease_oracle.py); this path gives the same
database end state, records and failures with far fewer statements:

- one lookup per event fetches every row that matters (the client's row by
  client-id or MAC, the row holding the name, the row holding the address),
  so a name/MAC clash is known before anything is written and a failing
  event writes nothing at all (no savepoint needed);
- a node is written with one INSERT or one UPDATE that already carries its
  address and pod slice, and its record is built from what is known;
- lease and event rows go out with one executemany each at the end, in the
  reference's order (so rowids and event ids come out the same): nothing in
  the batch reads those tables;
- pod slices come from a per-batch SliceBook.

Anything unexpected (an error this path did not foresee) makes the caller
roll the batch back and record its events one at a time through this path.
"""

from __future__ import annotations

import sqlite3
from ipaddress import IPv4Address, IPv4Network

from foundation.errors import RegistryError
from foundation.records import LeaseChange, LeaseEvent, NodeRecord
from foundation.registry.models import LeaseState
from foundation.registry.slice_book import SliceBook, stored_slice

STATE_OF_CHANGE = {
    LeaseChange.GRANTED: LeaseState.ACTIVE,
    LeaseChange.RENEWED: LeaseState.ACTIVE,
    LeaseChange.RELEASED: LeaseState.RELEASED,
    LeaseChange.EXPIRED: LeaseState.EXPIRED,
    LeaseChange.DECLINED: LeaseState.DECLINED,
}

# Every unique column a lease event can touch: the client (client-id, MAC), its name, its address.
_LOOKUP = (
    "SELECT id, name, role, mac, client_id, address, pod_cidr, hostname, last_seen FROM nodes "
    "WHERE client_id = ? OR mac = ? OR name = ? OR address = ?"
)
_ID, _NAME, _ROLE, _MAC, _CLIENT_ID, _ADDRESS, _POD_CIDR, _HOSTNAME, _LAST_SEEN = range(9)

_INSERT_NODE = (
    "INSERT INTO nodes (name, role, mac, client_id, address, state, pod_cidr, hostname, "
    "first_seen, last_seen) VALUES (?, 'worker', ?, ?, ?, 'discovered', ?, ?, ?, ?)"
)
_INSERT_LEASE = (
    "INSERT OR REPLACE INTO leases (address, mac, client_id, node, expires, state, updated) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_EVENT = "INSERT INTO events (time, kind, node, message) VALUES (?, ?, ?, ?)"


def clash_error(event: LeaseEvent) -> RegistryError:
    """Why a lease cannot be recorded: its name or MAC belongs to another node."""
    return RegistryError(
        f"lease for {event.mac} names it {event.node_name!r}, but that name or MAC belongs to "
        "another node in the registry — forget the stale node (`appliance nodes forget`)"
    )


class LeaseBatch:
    """One batch inside one open transaction: `record` each event, then `flush` once."""

    def __init__(
        self, conn: sqlite3.Connection, pod_cidr: IPv4Network, node_cidr_mask: int, now: float
    ) -> None:
        self._cursor = conn.cursor()
        self._cursor.row_factory = None  # plain tuples: cheaper than sqlite3.Row
        self._pod = pod_cidr
        self._mask = node_cidr_mask
        self._now = now
        self._slices: SliceBook | None = None
        self._mask_error: RegistryError | None = None
        """Set when node_cidr_mask does not fit pod_cidr: every event that needs a slice fails with it."""
        try:
            self._slices = SliceBook(self._cursor, pod_cidr, node_cidr_mask)
        except RegistryError as error:
            self._mask_error = error
        self._lease_rows: list[tuple[object, ...]] = []
        self._event_rows: list[tuple[object, ...]] = []
        self.records: list[NodeRecord] = []
        """The node records to publish, in event order."""
        self.failures: list[tuple[LeaseEvent, RegistryError]] = []
        """The events skipped, with why."""

    def record(self, event: LeaseEvent) -> None:
        """Record one event (node row now; lease and event rows at `flush`)."""
        active = event.change is LeaseChange.GRANTED or event.change is LeaseChange.RENEWED
        address = str(event.address)
        name = event.node_name
        by_client = by_mac = by_name = holder = None
        for row in self._cursor.execute(_LOOKUP, (event.client_id, event.mac, name, address)):
            if event.client_id is not None and row[_CLIENT_ID] == event.client_id:
                by_client = row
            if row[_MAC] == event.mac:
                by_mac = row
            if row[_NAME] == name:
                by_name = row
            if row[_ADDRESS] == address:
                holder = row
        found = by_client or by_mac
        if (
            found is None
            and by_name is not None
            and by_name[_MAC] is None
            and by_name[_ROLE] == "worker"
        ):
            found = by_name
        kind = f"lease.{event.change.value}"
        if found is None:
            if not active:  # an ending lease never brings a forgotten node back
                self._lease_row(event, address)
                self._event_rows.append((
                    self._now, kind, None,
                    f"{event.mac} lease {event.change.value} for {address} (not a node)",
                ))  # fmt: skip
                return
            record = self._discover(event, address, by_name, holder)
        else:
            record = self._update(event, address, active, found, by_client, by_mac, by_name, holder)
        if record is None:
            return
        self._lease_row(event, address)
        self._event_rows.append(
            (
                self._now,
                kind,
                name,
                f"{name} ({event.mac}) lease {event.change.value} for {address}",
            )
        )
        self.records.append(record)

    def flush(self) -> None:
        """Write the collected lease and event rows, in the order the events came."""
        if self._lease_rows:
            self._cursor.executemany(_INSERT_LEASE, self._lease_rows)
        if self._event_rows:
            self._cursor.executemany(_INSERT_EVENT, self._event_rows)
        self._lease_rows.clear()
        self._event_rows.clear()

    def _discover(
        self, event: LeaseEvent, address: str, by_name: tuple | None, holder: tuple | None
    ) -> NodeRecord | None:
        """A client that is no node yet: one INSERT with its address and slice."""
        name = event.node_name
        if by_name is not None:  # the name is taken by a row that is not this client's
            self.failures.append((event, clash_error(event)))
            return None
        try:
            pod = self._book().allocate(0, None, name, master=False)
        except RegistryError as error:
            self.failures.append((event, error))
            return None
        if holder is not None:  # the DHCP server is authoritative: the address moves
            self._cursor.execute("UPDATE nodes SET address = NULL WHERE id = ?", (holder[_ID],))
        self._cursor.execute(_INSERT_NODE, (
            name, event.mac, event.client_id, address, str(pod), event.hostname, self._now, self._now,
        ))  # fmt: skip
        self._event_rows.append(
            (self._now, "node.discovered", name, f"new node {name} ({event.mac})")
        )
        return NodeRecord(name=name, address=event.address, mac=event.mac, pod_cidr=pod)

    def _update(
        self,
        event: LeaseEvent,
        address: str,
        active: bool,
        found: tuple,
        by_client: tuple | None,
        by_mac: tuple | None,
        by_name: tuple | None,
        holder: tuple | None,
    ) -> NodeRecord | None:
        """A known node: one UPDATE of name, MAC, address, slice and last_seen."""
        node_id = found[_ID]
        if any(row is not None and row[_ID] != node_id for row in (by_client, by_mac, by_name)):
            self.failures.append((event, clash_error(event)))
            return None
        if self._mask_error is not None:
            self.failures.append((event, self._mask_error))
            return None
        old_pod = found[_POD_CIDR]
        pod = stored_slice(self._pod, self._mask, old_pod) if old_pod is not None else None
        pod_text = old_pod  # a kept slice stays exactly as stored
        if pod is None:
            try:
                pod = self._book().allocate(
                    node_id, old_pod, event.node_name, master=found[_ROLE] == "master"
                )
            except RegistryError as error:
                self.failures.append((event, error))
                return None
            pod_text = str(pod)
        if active:
            new_address: str | None = address
            if holder is not None and holder[_ID] != node_id:
                self._cursor.execute("UPDATE nodes SET address = NULL WHERE id = ?", (holder[_ID],))
        else:  # take the address away only if the node still has it
            new_address = None if found[_ADDRESS] == address else found[_ADDRESS]
        # Only the columns that change: a renewal then touches no index, only last_seen.
        changes: dict[str, object] = {}
        if found[_NAME] != event.node_name:
            changes["name"] = event.node_name
        if found[_MAC] != event.mac:
            changes["mac"] = event.mac
        if event.client_id is not None and found[_CLIENT_ID] != event.client_id:
            changes["client_id"] = event.client_id
        if event.hostname is not None and found[_HOSTNAME] != event.hostname:
            changes["hostname"] = event.hostname
        if not self._now <= found[_LAST_SEEN]:
            changes["last_seen"] = self._now
        if found[_ADDRESS] != new_address:
            changes["address"] = new_address
        if found[_POD_CIDR] != pod_text:
            changes["pod_cidr"] = pod_text
        if changes:
            assignments = ", ".join(f"{column} = ?" for column in changes)
            self._cursor.execute(
                f"UPDATE nodes SET {assignments} WHERE id = ?", (*changes.values(), node_id)
            )
        if new_address is None:
            record_address = None
        elif new_address == address:
            record_address = event.address
        else:
            record_address = IPv4Address(new_address)
        return NodeRecord(name=event.node_name, address=record_address, mac=event.mac, pod_cidr=pod)

    def _book(self) -> SliceBook:
        """The slice book; the mask error when the pod settings cannot be sliced."""
        if self._slices is None:
            assert self._mask_error is not None
            raise self._mask_error
        return self._slices

    def _lease_row(self, event: LeaseEvent, address: str) -> None:
        self._lease_rows.append((
            address, event.mac, event.client_id, event.node_name, event.expires,
            STATE_OF_CHANGE[event.change].value, self._now,
        ))  # fmt: skip
