"""The shape every netd service (dhcp, dns, nat, routes) has, so the daemon can run any subset.

Each service module exposes `create(ctx: NetdContext) -> Service`; the daemon
imports them by name (dhcp: netd.dhcp.service, dns: netd.dns.service,
nat: netd.nat, routes: netd.routes) and starts the ones `--only` selects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from foundation.config.model import Config
from foundation.records import NodeRecord
from netd.bus import EventBus


def _no_nodes() -> list[NodeRecord]:
    return []


@dataclass
class NetdContext:
    """What the daemon hands every service's `create(ctx)` factory."""

    config: Config
    """The validated cluster.yaml."""
    bus: EventBus
    """Lease and node events inside the daemon."""
    state_dir: Path
    """Where durable state lives (registry, lease journal)."""
    known_nodes: Callable[[], list[NodeRecord]] = field(default=_no_nodes)
    """Snapshot of every node from the registry (used at start and on Resync)."""


class Service(Protocol):
    """A long-running part of netd, started and stopped by the daemon."""

    name: str
    """Short name used by `--only` (dhcp, dns, nat, routes)."""

    async def start(self) -> None:
        """Bind sockets, apply state, and start background tasks; return once serving."""

    async def stop(self) -> None:
        """Stop serving and release every resource."""
