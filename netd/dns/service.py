"""The DNS service as the daemon runs it: `create(ctx)` → start/stop.

It builds the zone from the registry's snapshot, follows node events from
the bus (a NodeEvent changes the answer before the next query is read; a
Resync takes a fresh snapshot), and serves on the LAN address and 127.0.0.1.
Clients allowed: the LAN subnet, the pod network (pods on host-gw nodes keep
their pod source address) and loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from foundation.records import NodeEvent
from netd.bus import Event, Resync
from netd.dns.cache import AnswerCache
from netd.dns.fastpath import FastPath
from netd.dns.forwarder import Forwarder, UpstreamSource, default_resolv_conf
from netd.dns.handler import QueryHandler
from netd.dns.server import DnsServer
from netd.dns.zone import Zone, ZoneSettings
from netd.service import NetdContext

log = logging.getLogger(__name__)
LOCALHOST = IPv4Address("127.0.0.1")


@dataclass(frozen=True)
class DnsSettings:
    """Knobs that are not in cluster.yaml (tests and benchmarks change them)."""

    port: int = 53
    """Port to serve on."""
    listen: tuple[IPv4Address, ...] | None = None
    """Addresses to serve on; None = the LAN address and 127.0.0.1."""
    resolv_conf: Path = field(default_factory=default_resolv_conf)
    """Where `upstream_dns: auto` finds the uplink's resolvers."""
    upstream_port: int = 53
    """Port of the upstream resolvers."""
    cache_entries: int = 10000
    """Bound of the answer cache."""
    total_timeout: float = 1.8
    """Budget of one forwarded question before SERVFAIL."""
    fast_path: bool = True
    """Answer cache hits in C (batched UDP I/O) when the native extension is loaded."""


class DnsService:
    """Cluster DNS: authoritative zone, forwarding cache, UDP and TCP servers."""

    name = "dns"

    def __init__(self, ctx: NetdContext, settings: DnsSettings | None = None) -> None:
        self.ctx = ctx
        self.settings = settings or DnsSettings()
        network = ctx.config.network
        self.zone = Zone(ZoneSettings.from_config(ctx.config), ())
        self.handler = QueryHandler(self.zone, AnswerCache(max_entries=self.settings.cache_entries))
        listen = self.settings.listen or (network.master_address, LOCALHOST)
        self.source = UpstreamSource(
            network.upstream_dns,
            self.settings.resolv_conf,
            own_addresses=listen,
            port=self.settings.upstream_port,
        )
        self.forwarder = Forwarder(self.source, total_timeout=self.settings.total_timeout)
        allowed = (network.subnet, ctx.config.kubernetes.pod_cidr)
        self.fast_path = (
            FastPath.native(self.handler.our_payload, allowed) if self.settings.fast_path else None
        )
        self.handler.mirror_to(self.fast_path)
        self.server = DnsServer(
            self.handler,
            self.forwarder,
            listen,
            self.settings.port,
            allowed_sources=allowed,
            fast_path=self.fast_path,
        )
        self._events: asyncio.Queue[Event] | None = None
        self._follower: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take the registry snapshot, follow events, bind sockets."""
        self._events = self.ctx.bus.subscribe()  # before the snapshot: nothing falls between
        self.resync()
        self._follower = asyncio.create_task(self._follow(self._events))
        await self.server.start()
        log.info(
            "DNS serving %s on %s port %d",
            self.zone.settings.domain,
            self.server.addresses,
            self.server.port,
        )

    async def stop(self) -> None:
        """Stop serving and following events."""
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        await self.server.stop()

    def resync(self) -> None:
        """Rebuild the zone from the registry."""
        self.zone.replace_all(self.ctx.known_nodes())
        self.handler.zone_changed()

    def apply(self, event: Event) -> None:
        """Follow one bus event (lease events are ignored: node events carry the names)."""
        if isinstance(event, NodeEvent):
            if self.zone.apply(event):
                self.handler.zone_changed()
        elif isinstance(event, Resync):
            self.resync()

    async def _follow(self, events: asyncio.Queue[Event]) -> None:
        while True:
            event = await events.get()
            try:
                self.apply(event)
            except Exception:  # a bad record must not stop DNS from following the registry
                log.exception("DNS could not apply %r; resyncing", event)
                try:
                    self.resync()
                except Exception:
                    log.exception("DNS could not resync; serving the names it had")

    def counters(self) -> dict[str, dict[str, int]]:
        """All counters, for the web page and tests."""
        return {
            "handler": dict(vars(self.handler.stats)),
            "cache": dict(vars(self.handler.cache.stats)),
            "forwarder": dict(vars(self.forwarder.stats)),
            "server": dict(vars(self.server.stats)),
            "fast_path": dict(vars(self.fast_path.stats)) if self.fast_path else {},
        }


def create(ctx: NetdContext, settings: DnsSettings | None = None) -> DnsService:
    """The daemon's entry point for `--only dns`."""
    return DnsService(ctx, settings)
