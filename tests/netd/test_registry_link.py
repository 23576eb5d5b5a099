"""The daemon's registry link turns lease events into registry nodes and node events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundation import registry
from foundation.config.model import Config
from foundation.records import LeaseChange, LeaseEvent, NodeChange, NodeEvent, NodeRecord
from netd.bus import EventBus
from netd.registry_link import (
    MASTER_NAME,
    KnownNodes,
    RegistryLink,
    compact_node,
    expand_node,
    node_changes,
)
from netd.service import NetdContext


def _lease(change: LeaseChange, mac: str, address: str, name: str) -> LeaseEvent:
    return LeaseEvent(change=change, address=IPv4Address(address), mac=mac, client_id=None,
                      node_name=name, hostname=None, expires=0.0)


async def _next_node_event(queue: asyncio.Queue) -> NodeEvent:  # type: ignore[type-arg]
    while True:
        event = await asyncio.wait_for(queue.get(), timeout=5)
        if isinstance(event, NodeEvent):
            return event


@asynccontextmanager
async def running_link(tmp_path: Path, **options: float) -> AsyncIterator[
        tuple[NetdContext, RegistryLink, asyncio.Queue]]:  # type: ignore[type-arg]
    """A started RegistryLink on a registry in `tmp_path`, and a follower of its bus."""
    ctx = NetdContext(config=Config(), bus=EventBus(), state_dir=tmp_path)
    link = RegistryLink(ctx, **options)
    follower = ctx.bus.subscribe()
    await link.start()
    try:
        yield ctx, link, follower
    finally:
        await link.stop()


def test_lease_events_become_nodes_with_pod_cidrs(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_link(tmp_path) as (ctx, link, follower):
            master = {n.name: n for n in link.known_nodes()}[MASTER_NAME]
            assert master.address == IPv4Address("10.0.0.1")
            assert master.pod_cidr == IPv4Network("10.244.0.0/24")

            ctx.bus.publish(_lease(LeaseChange.GRANTED, "b8:27:eb:00:00:03", "10.0.0.7", "node-3"))
            event = await _next_node_event(follower)
            assert event.change is NodeChange.UPSERTED
            assert event.node.name == "node-3"
            assert event.node.address == IPv4Address("10.0.0.7")
            assert event.node.pod_cidr == IPv4Network("10.244.3.0/24")

            ctx.bus.publish(_lease(LeaseChange.RELEASED, "b8:27:eb:00:00:03", "10.0.0.7", "node-3"))
            released = await _next_node_event(follower)
            assert released.node.name == "node-3" and released.node.address is None
            # The pod slice stays with the node: it is the node's, not the lease's.
            assert released.node.pod_cidr == IPv4Network("10.244.3.0/24")

    asyncio.run(scenario())
    # Durable: another process (the CLI) sees the node after the daemon stopped.
    conn = registry.open_registry(tmp_path)
    try:
        names = {node.name for node in registry.list_node_records(conn)}
    finally:
        conn.close()
    assert names == {MASTER_NAME, "node-3"}


def test_a_refused_event_is_counted_and_the_link_keeps_going(tmp_path: Path) -> None:
    async def scenario() -> int:
        async with running_link(tmp_path) as (ctx, link, follower):
            # The master's own name offered to a DHCP client: the registry must refuse it.
            ctx.bus.publish(_lease(LeaseChange.GRANTED, "b8:27:eb:00:00:09", "10.0.0.9", MASTER_NAME))
            ctx.bus.publish(_lease(LeaseChange.GRANTED, "b8:27:eb:00:00:04", "10.0.0.8", "node-4"))
            event = await _next_node_event(follower)
            assert event.node.name == "node-4"
            return link.failures

    assert asyncio.run(scenario()) == 1


def test_a_run_of_refused_events_is_counted_but_logged_ten_lines_a_minute(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> int:
        async with running_link(tmp_path) as (ctx, link, follower):
            for n in range(50):  # each asks for the master's name: each refused
                ctx.bus.publish(_lease(LeaseChange.GRANTED, f"b8:27:eb:00:01:{n:02x}",
                                       f"10.0.1.{n + 10}", MASTER_NAME))
            ctx.bus.publish(_lease(LeaseChange.GRANTED, "b8:27:eb:00:00:04", "10.0.0.8", "node-4"))
            assert (await _next_node_event(follower)).node.name == "node-4"
            return link.failures

    with caplog.at_level(logging.WARNING, logger="netd.registry_link"):
        assert asyncio.run(scenario()) == 50
    refused = [r for r in caplog.records if "registry refused lease event" in r.getMessage()]
    assert len(refused) == 10


def test_a_node_forgotten_by_another_process_is_published_as_removed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_link(tmp_path, poll_interval=0.05) as (ctx, link, follower):
            ctx.bus.publish(_lease(LeaseChange.GRANTED, "b8:27:eb:00:00:03", "10.0.0.7", "node-3"))
            ctx.bus.publish(_lease(LeaseChange.GRANTED, "b8:27:eb:00:00:05", "10.0.0.9", "node-5"))
            seen = {(await _next_node_event(follower)).node.name for _ in range(2)}
            assert seen == {"node-3", "node-5"}
            # The CLI's `nodes forget`: another process, its own connection; the daemon is not told.
            forgotten = await asyncio.to_thread(_forget, tmp_path, "node-3")
            event = await _next_node_event(follower)
            assert event == NodeEvent(NodeChange.REMOVED, forgotten)
            # Nothing else changed, so nothing else is published (node-5 stays as it was).
            await asyncio.sleep(0.3)
            assert [e for e in _drain(follower) if isinstance(e, NodeEvent)] == []
            assert {n.name for n in link.known_nodes()} == {MASTER_NAME, "node-5"}

    asyncio.run(scenario())


def _forget(state_dir: Path, name: str) -> NodeRecord:
    cli = registry.open_registry(state_dir)
    try:
        return registry.forget_node(cli, name, now=1.0)
    finally:
        cli.close()


def _drain(queue: asyncio.Queue) -> list[object]:  # type: ignore[type-arg]
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def _record(name: str, address: str | None, pod: str | None) -> NodeRecord:
    return NodeRecord(name=name, address=IPv4Address(address) if address else None, mac=None,
                      pod_cidr=IPv4Network(pod) if pod else None)


def test_node_changes_removes_first_then_upserts_what_differs() -> None:
    a1, b1, c1 = _record("a", "10.0.0.2", None), _record("b", "10.0.0.3", None), _record("c", None, None)
    b2, d1 = _record("b", "10.0.0.4", None), _record("d", "10.0.0.5", "10.244.5.0/24")
    before = {"a": a1, "b": b1, "c": c1}
    after = {"b": b2, "c": c1, "d": d1}
    assert node_changes(before, after) == [
        NodeEvent(NodeChange.REMOVED, a1), NodeEvent(NodeChange.UPSERTED, b2), NodeEvent(NodeChange.UPSERTED, d1),
    ]
    assert node_changes(after, after) == []


names = st.sampled_from(["a", "b", "c", "d"])
records = st.builds(_record, names, st.sampled_from([None, "10.0.0.2", "10.0.0.3"]),
                    st.sampled_from([None, "10.244.1.0/24"]))
views = st.lists(records).map(lambda rs: {r.name: r for r in rs})


@given(views, views)
def test_node_changes_applied_to_before_give_after(before: dict[str, NodeRecord],
                                                   after: dict[str, NodeRecord]) -> None:
    view = dict(before)
    for event in node_changes(before, after):
        if event.change is NodeChange.REMOVED:
            del view[event.node.name]
        else:
            view[event.node.name] = event.node
    assert view == after


any_record = st.builds(
    NodeRecord, name=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    address=st.none() | st.builds(IPv4Address, st.integers(0, 2**32 - 1)),
    mac=st.none() | st.binary(max_size=20).map(lambda raw: raw.hex(":")) | st.text(max_size=12)
    | st.sampled_from(["B8:27:EB:00:00:01", "dc-a6-32-12-34-56", "00", ":", ""]),
    pod_cidr=st.none() | st.builds(lambda n, p: IPv4Network((n, p), strict=False),
                                   st.integers(0, 2**32 - 1), st.integers(0, 32)),
)  # fmt: skip


@settings(max_examples=500)
@given(any_record)
def test_the_compact_view_gives_back_the_record_it_was_made_from(record: NodeRecord) -> None:
    assert expand_node(record.name, compact_node(record)) == record


@given(st.lists(records), st.lists(records))
def test_known_nodes_replace_with_gives_the_same_events_as_node_changes(
        first: list[NodeRecord], second: list[NodeRecord]) -> None:
    known = KnownNodes()
    known.update(first)
    before = {record.name: record for record in first}
    after = {record.name: record for record in second}
    assert known.replace_with(list(after.values())) == node_changes(before, after)
    assert {name: known.get(name) for name in after} == after and len(known) == len(after)


def test_a_burst_of_lease_events_is_recorded_in_one_transaction(tmp_path: Path) -> None:
    """Events published in one DHCP group commit after another gather for GATHER_SECONDS and
    share one registry transaction (one fsync); each batch stamps its rows with one time."""
    async def scenario() -> None:
        async with running_link(tmp_path, gather=0.2) as (ctx, link, follower):
            for n in range(1, 41):
                ctx.bus.publish(_lease(LeaseChange.GRANTED, f"b8:27:eb:00:01:{n:02x}",
                                       f"10.0.0.{100 + n}", f"node-{n}"))
                if n % 10 == 0:  # four DHCP commits, a few ms apart
                    await asyncio.sleep(0.01)
            seen = {(await _next_node_event(follower)).node.name for _ in range(40)}
            assert seen == {f"node-{n}" for n in range(1, 41)}

    asyncio.run(scenario())
    conn = registry.open_registry(tmp_path)
    try:
        times = conn.execute(
            "SELECT DISTINCT time FROM events WHERE kind = 'lease.granted'").fetchall()
    finally:
        conn.close()
    assert len(times) == 1
