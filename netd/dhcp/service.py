"""The DHCP service as the daemon runs it (`--only dhcp`): `create(ctx)` → start/stop.

Start = load the lease journal from `<state_dir>/dhcp`, rebuild the engine from it,
write a fresh snapshot (so a crash-torn journal is cut and folded in at once), then
serve on `network.lan_interface`. Lease events go to the daemon's bus.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from netd.dhcp.engine import Engine
from netd.dhcp.journal import Journal
from netd.dhcp.model import EngineSettings
from netd.dhcp.server import DhcpServer
from netd.service import NetdContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DhcpSettings:
    """Knobs that are not in cluster.yaml (tests and benchmarks change them)."""

    probe: bool = True
    """Probe never-used addresses before offering them."""
    probe_timeout: float = 0.2
    """How long a probe waits for an answer (seconds); an ARP reply on a LAN takes ~1 ms,
    and Kea's ping-check waits 100 ms."""
    client_rate: int = 30
    """Packets per second accepted from one hardware address."""
    interface: str | None = None
    """Interface to serve on; None = network.lan_interface."""
    compact_after: int = 100000
    """Journal records appended before the journal is folded into a new snapshot (and at
    least as many as there are clients, so compaction work stays proportional to appends)."""


class DhcpService:
    """DHCPv4 for the cluster LAN with durable leases."""

    name = "dhcp"

    def __init__(self, ctx: NetdContext, settings: DhcpSettings | None = None) -> None:
        self.ctx = ctx
        self.settings = settings or DhcpSettings()
        engine_settings = EngineSettings.from_config(ctx.config)
        engine_settings.probe = self.settings.probe
        self.engine = Engine(engine_settings)
        self.journal = Journal(ctx.state_dir / "dhcp")
        self.server = DhcpServer(
            self.engine, self.journal, ctx.bus.publish,
            interface=self.settings.interface or ctx.config.network.lan_interface,
            probe_timeout=self.settings.probe_timeout, client_rate=self.settings.client_rate,
            compact_after=self.settings.compact_after,
        )

    async def start(self) -> None:
        """Recover leases, compact, and serve."""
        records = self.journal.load()
        self.engine.restore(records, time.time())
        generation, old = self.journal.start_compaction()
        self.journal.finish_compaction(generation, old, self.engine.snapshot())
        log.info("DHCP leases recovered: %d records, %d torn records skipped, %d clients",
                 len(records), self.journal.torn, len(self.engine.table.clients))
        await self.server.start()

    async def stop(self) -> None:
        """Stop serving; every ACKed lease is already on disk."""
        await self.server.stop()
        self.journal.close()


def create(ctx: NetdContext, settings: DhcpSettings | None = None) -> DhcpService:
    """The daemon's entry point for `--only dhcp`."""
    return DhcpService(ctx, settings)
