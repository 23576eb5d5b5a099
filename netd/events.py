"""Events published inside the network daemon.

The DHCP server publishes lease events; the registry writer records them,
allocates pod CIDRs and publishes node events; DNS, routes and the web page
follow node events (and take a snapshot of all nodes when they start or are
told to resync). The bus is in-process and asyncio-only: publishing
never blocks the publisher (each subscriber has its own bounded queue, and a
subscriber that falls behind loses the oldest events and is told to resync).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network


class LeaseChange(enum.Enum):
    """What happened to a lease."""

    GRANTED = "granted"
    RENEWED = "renewed"
    RELEASED = "released"
    EXPIRED = "expired"
    DECLINED = "declined"


@dataclass(frozen=True)
class LeaseEvent:
    """A lease changed."""

    change: LeaseChange
    """What happened."""
    address: IPv4Address
    """The leased address."""
    mac: str
    """Client hardware address, lower-case colon form."""
    client_id: str | None
    """Option 61 as lower-case hex bytes joined by colons, if the client sent one."""
    node_name: str
    """The name the appliance gave this client (node_name_pattern or a reservation)."""
    hostname: str | None
    """Option 12 as sent by the client, only if it was a valid DNS label."""
    expires: float
    """Unix time the lease ends (0 for released/expired/declined)."""


class NodeChange(enum.Enum):
    """What happened to a node in the registry."""

    UPSERTED = "upserted"
    REMOVED = "removed"


@dataclass(frozen=True)
class NodeRecord:
    """What DNS and routes need to know of one node (the registry is the source of truth)."""

    name: str
    """Node name (a DNS label), e.g. node-1."""
    address: IPv4Address | None
    """Current LAN address, None while it has none."""
    mac: str | None
    """Hardware address, lower-case colon form."""
    pod_cidr: IPv4Network | None
    """This node's slice of the pod network, None until allocated."""


@dataclass(frozen=True)
class NodeEvent:
    """The registry's view of a node changed (published after the change is committed)."""

    change: NodeChange
    """Upserted or removed."""
    node: NodeRecord
    """The node as it now is (for REMOVED: as it was)."""


@dataclass(frozen=True)
class Resync:
    """A subscriber missed events and must rebuild its view from the source of truth."""


Event = LeaseEvent | NodeEvent | Resync


class EventBus:
    """In-process publish/subscribe with one bounded queue per subscriber."""

    def __init__(self, queue_size: int = 4096) -> None:
        self._queue_size = queue_size
        self._queues: list[asyncio.Queue[Event]] = []
        self._callbacks: list[Callable[[Event], None]] = []

    def subscribe(self) -> asyncio.Queue[Event]:
        """A queue that receives every event published from now on."""
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._queues.append(queue)
        return queue

    def on_event(self, callback: Callable[[Event], None]) -> None:
        """Call `callback` synchronously for every event (must be quick and must not raise)."""
        self._callbacks.append(callback)

    def publish(self, event: Event) -> None:
        """Deliver `event` to every subscriber without blocking."""
        for callback in self._callbacks:
            callback(event)
        for queue in self._queues:
            if queue.full():
                # Drop the backlog and tell the subscriber to rebuild from the source of truth.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(Resync())
            queue.put_nowait(event)
