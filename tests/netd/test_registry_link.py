"""The daemon's registry link turns lease events into registry nodes and node events."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from appliance import registry
from appliance.config_model import Config
from netd.events import EventBus, LeaseChange, LeaseEvent, NodeChange, NodeEvent
from netd.registry_link import MASTER_NAME, RegistryLink
from netd.service import NetdContext


def _lease(change: LeaseChange, mac: str, address: str, name: str) -> LeaseEvent:
    return LeaseEvent(change=change, address=IPv4Address(address), mac=mac, client_id=None,
                      node_name=name, hostname=None, expires=0.0)


async def _next_node_event(queue: asyncio.Queue) -> NodeEvent:  # type: ignore[type-arg]
    while True:
        event = await asyncio.wait_for(queue.get(), timeout=5)
        if isinstance(event, NodeEvent):
            return event


def test_lease_events_become_nodes_with_pod_cidrs(tmp_path: Path) -> None:
    async def scenario() -> None:
        ctx = NetdContext(config=Config(), bus=EventBus(), state_dir=tmp_path)
        link = RegistryLink(ctx)
        follower = ctx.bus.subscribe()
        await link.start()
        try:
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
        finally:
            await link.stop()

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
        ctx = NetdContext(config=Config(), bus=EventBus(), state_dir=tmp_path)
        link = RegistryLink(ctx)
        follower = ctx.bus.subscribe()
        await link.start()
        try:
            # The master's own name offered to a DHCP client: the registry must refuse it.
            ctx.bus.publish(_lease(LeaseChange.GRANTED, "b8:27:eb:00:00:09", "10.0.0.9", MASTER_NAME))
            ctx.bus.publish(_lease(LeaseChange.GRANTED, "b8:27:eb:00:00:04", "10.0.0.8", "node-4"))
            event = await _next_node_event(follower)
            assert event.node.name == "node-4"
            return link.failures
        finally:
            await link.stop()

    assert asyncio.run(scenario()) == 1
