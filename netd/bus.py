"""The network daemon's in-process event bus.

The DHCP server publishes lease events; the registry link records them,
allocates pod CIDRs and publishes node events; DNS, routes and the agent API
follow node events (and take a snapshot of all nodes when they start or are
told to resync). The bus is asyncio-only: publishing never blocks the
publisher (each subscriber has its own bounded queue, and a subscriber that
falls behind loses the oldest events and is told to resync). The records it
carries live in foundation.records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from foundation.records import LeaseEvent, NodeEvent


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
