"""Recording DHCP lease events: nodes by client-id/MAC, addresses, pod CIDRs, history."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from foundation import registry
from foundation.errors import RegistryError
from foundation.records import LeaseChange, LeaseEvent, NodeRecord
from foundation.registry.models import LeaseState, NodeRole, NodeRow, NodeState
from foundation.registry.nodes import insert_node

POD = IPv4Network("10.244.0.0/16")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = registry.open_registry(tmp_path)
    registry.ensure_master(
        connection, name="master", address=IPv4Address("10.0.0.1"), pod_cidr=POD,
        node_cidr_mask=24, now=0.0,
    )  # fmt: skip
    yield connection
    connection.close()


def _lease(n: int, change: LeaseChange = LeaseChange.GRANTED, **changes: object) -> LeaseEvent:
    event = LeaseEvent(
        change=change, address=IPv4Address(f"10.0.0.{10 + n}"), mac=f"02:00:00:00:00:{n:02x}",
        client_id=None, node_name=f"node-{n}", hostname=None, expires=600.0,
    )  # fmt: skip
    return dataclasses.replace(event, **changes)  # type: ignore[arg-type]


def _record(conn: sqlite3.Connection, event: LeaseEvent, now: float = 10.0) -> NodeRecord:
    record = registry.record_lease_event(conn, event, pod_cidr=POD, node_cidr_mask=24, now=now)
    assert record is not None
    return record


@pytest.mark.parametrize("change", [LeaseChange.EXPIRED, LeaseChange.RELEASED, LeaseChange.DECLINED])
def test_an_ending_lease_never_brings_a_forgotten_node_back(
    conn: sqlite3.Connection, change: LeaseChange
) -> None:
    _record(conn, _lease(3))
    registry.forget_node(conn, "node-3", now=20.0)
    ended = registry.record_lease_event(
        conn, _lease(3, change, expires=0.0), pod_cidr=POD, node_cidr_mask=24, now=30.0
    )
    assert ended is None
    assert registry.get_node(conn, "node-3") is None
    lease = registry.get_lease(conn, IPv4Address("10.0.0.13"))
    assert lease is not None and lease.state is not LeaseState.ACTIVE
    # Batches skip it too, and the registry link publishes nothing for it.
    records, failures = registry.record_lease_events(
        conn, [_lease(3, change, expires=0.0)], pod_cidr=POD, node_cidr_mask=24, now=31.0
    )
    assert (records, failures) == ([], [])


def test_a_forgotten_node_still_on_the_network_is_discovered_again(conn: sqlite3.Connection) -> None:
    _record(conn, _lease(3))
    registry.forget_node(conn, "node-3", now=20.0)
    again = _record(conn, _lease(3, LeaseChange.RENEWED), now=30.0)
    assert again.name == "node-3"
    assert registry.require_node(conn, "node-3").state is NodeState.DISCOVERED


def test_first_lease_discovers_the_node(conn: sqlite3.Connection) -> None:
    record = _record(conn, _lease(3, hostname="raspberrypi"))
    assert record == NodeRecord(
        name="node-3", address=IPv4Address("10.0.0.13"), mac="02:00:00:00:00:03",
        pod_cidr=IPv4Network("10.244.3.0/24"),
    )  # fmt: skip
    node = registry.require_node(conn, "node-3")
    assert (node.state, node.hostname, node.first_seen, node.last_seen) == (
        NodeState.DISCOVERED,
        "raspberrypi",
        10.0,
        10.0,
    )
    lease = registry.get_lease(conn, IPv4Address("10.0.0.13"))
    assert lease is not None and (lease.node, lease.state, lease.expires) == (
        "node-3",
        LeaseState.ACTIVE,
        600.0,
    )
    assert [e.kind for e in registry.list_events(conn, node="node-3")] == [
        "node.discovered",
        "lease.granted",
    ]
    assert registry.list_node_records(conn) == [
        NodeRecord(
            name="master",
            address=IPv4Address("10.0.0.1"),
            mac=None,
            pod_cidr=IPv4Network("10.244.0.0/24"),
        ),
        record,
    ]


def test_renewal_keeps_name_and_slice_and_updates_last_seen(conn: sqlite3.Connection) -> None:
    first = _record(conn, _lease(1), now=10.0)
    registry.approve_node(conn, "node-1", now=11.0)
    again = _record(conn, _lease(1, LeaseChange.RENEWED, expires=1200.0), now=20.0)
    assert again == first
    node = registry.require_node(conn, "node-1")
    assert (node.first_seen, node.last_seen, node.state) == (10.0, 20.0, NodeState.APPROVED)


def test_client_id_identifies_the_node_before_the_mac(conn: sqlite3.Connection) -> None:
    _record(conn, _lease(1, client_id="ff:00:01"))
    # Same client-id from a new NIC (a USB adapter): still node-1, now with the new MAC.
    record = _record(conn, _lease(1, client_id="ff:00:01", mac="02:00:00:00:99:99"))
    assert record.name == "node-1" and record.mac == "02:00:00:00:99:99"
    assert len(registry.list_nodes(conn)) == 2  # master and node-1


def test_release_takes_the_address_but_keeps_the_node(conn: sqlite3.Connection) -> None:
    _record(conn, _lease(2))
    record = _record(conn, _lease(2, LeaseChange.RELEASED, expires=0.0))
    assert record.address is None and record.pod_cidr == IPv4Network("10.244.2.0/24")
    lease = registry.get_lease(conn, IPv4Address("10.0.0.12"))
    assert lease is not None and lease.state is LeaseState.RELEASED
    back = _record(conn, _lease(2))
    assert back.address == IPv4Address("10.0.0.12")


def test_an_address_moves_to_its_new_holder(conn: sqlite3.Connection) -> None:
    _record(conn, _lease(1))
    # node-1's lease ran out unnoticed; the server gave 10.0.0.11 to node-2.
    record = _record(conn, _lease(2, address=IPv4Address("10.0.0.11")))
    assert record.address == IPv4Address("10.0.0.11")
    assert registry.require_node(conn, "node-1").address is None
    # A late "expired" for node-1 must not take the address from node-2.
    _record(conn, _lease(1, LeaseChange.EXPIRED, expires=0.0))
    assert registry.require_node(conn, "node-2").address == IPv4Address("10.0.0.11")


def test_reservation_row_without_mac_is_claimed_by_its_lease(conn: sqlite3.Connection) -> None:
    insert_node(conn, NodeRow(
        name="storage", role=NodeRole.WORKER, mac=None, client_id=None, address=None, model=None,
        state=NodeState.APPROVED, pod_cidr=None, ssh_host_key=None, hostname=None,
        first_seen=1.0, last_seen=1.0, approved_at=1.0,
    ))  # fmt: skip
    record = _record(conn, _lease(5, node_name="storage"))
    assert record.mac == "02:00:00:00:00:05"
    assert registry.require_node(conn, "storage").state is NodeState.APPROVED


def test_name_clash_is_a_registry_error_and_changes_nothing(conn: sqlite3.Connection) -> None:
    _record(conn, _lease(1))
    before = registry.list_nodes(conn)
    events_before = registry.list_events(conn)
    with pytest.raises(RegistryError, match="belongs to another node"):
        _record(conn, _lease(2, node_name="node-1"))  # another MAC claiming node-1's name
    assert registry.list_nodes(conn) == before
    assert registry.list_events(conn) == events_before
    assert registry.get_lease(conn, IPv4Address("10.0.0.12")) is None


def test_forget_returns_the_record_and_frees_name_and_slice(conn: sqlite3.Connection) -> None:
    record = _record(conn, _lease(4))
    registry.issue_agent_credential(conn, "node-4", now=11.0)
    assert registry.forget_node(conn, "node-4", now=12.0) == record
    assert registry.get_node(conn, "node-4") is None
    assert [r.name for r in registry.list_node_records(conn)] == ["master"]
    # The Pi comes back: discovered anew, and its old slice is free again.
    again = _record(conn, _lease(4), now=13.0)
    assert again.pod_cidr == IPv4Network("10.244.4.0/24")
    assert registry.require_node(conn, "node-4").state is NodeState.DISCOVERED
    assert "node.forgotten" in [e.kind for e in registry.list_events(conn, node="node-4")]


def test_many_nodes_never_share_address_or_slice(conn: sqlite3.Connection) -> None:
    for n in range(1, 120):
        _record(conn, _lease(n, address=IPv4Address(f"10.0.0.{n + 1}")))
    records = registry.list_node_records(conn)
    assert len(records) == 120
    assert len({r.pod_cidr for r in records}) == 120
    assert len({r.address for r in records}) == 120
    assert all(
        r.pod_cidr == IPv4Network(f"10.244.{r.name.split('-')[1]}.0/24") for r in records[1:]
    )


def test_batch_records_many_events_and_skips_only_the_bad_one(conn: sqlite3.Connection) -> None:
    batch = [_lease(1), _lease(2), _lease(9, node_name="node-1"), _lease(3)]
    records, failures = registry.record_lease_events(
        conn, batch, pod_cidr=POD, node_cidr_mask=24, now=10.0
    )
    assert [r.name for r in records] == ["node-1", "node-2", "node-3"]
    assert [(event.mac, "belongs to another node" in str(error)) for event, error in failures] == [
        ("02:00:00:00:00:09", True)
    ]
    assert registry.find_node(conn, "02:00:00:00:00:09") is None
    assert registry.get_lease(conn, IPv4Address("10.0.0.19")) is None  # rolled back with its event
    assert [n.name for n in registry.list_nodes(conn)] == ["master", "node-1", "node-2", "node-3"]


def test_master_rename_onto_a_worker_name_is_refused(conn: sqlite3.Connection) -> None:
    _record(conn, _lease(1))
    with pytest.raises(RegistryError, match="a worker has that name"):
        registry.ensure_master(
            conn, name="node-1", address=IPv4Address("10.0.0.1"), pod_cidr=POD,
            node_cidr_mask=24, now=1.0,
        )  # fmt: skip
    renamed = registry.ensure_master(
        conn, name="boss", address=IPv4Address("10.0.0.1"), pod_cidr=POD, node_cidr_mask=24, now=2.0
    )
    assert (renamed.name, renamed.pod_cidr) == ("boss", IPv4Network("10.244.0.0/24"))


def test_a_node_cidr_mask_that_does_not_fit_fails_each_event_with_the_fix(
    conn: sqlite3.Connection,
) -> None:
    batch = [_lease(1), _lease(2, LeaseChange.EXPIRED, expires=0.0), _lease(3)]
    records, failures = registry.record_lease_events(
        conn, batch, pod_cidr=POD, node_cidr_mask=12, now=10.0
    )
    assert records == []
    assert [(event.node_name, str(error)) for event, error in failures] == [
        (name, "node_cidr_mask 12 does not fit pod_cidr 10.244.0.0/16 — "
               "kubernetes.node_cidr_mask must be between 16 and 32")
        for name in ("node-1", "node-3")
    ]  # fmt: skip
    # The ending lease of a client that is no node is still written down.
    assert [lease.address for lease in registry.list_leases(conn)] == [IPv4Address("10.0.0.12")]
    assert [n.name for n in registry.list_nodes(conn)] == ["master"]
