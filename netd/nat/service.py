"""NAT of the cluster LAN (and the pod network) to the uplink (`--only nat`).

Turns IPv4 forwarding on, renders netd's nftables table (netd.nat.render)
and applies it atomically: `nft -c -f` first (a bad ruleset never reaches
the kernel), then `nft -f`. It re-applies at start (so a restart repairs
the table) and whenever the uplink changes: it is re-created (new index),
goes up or down, or its addresses change (netlink notifications). On stop
the table stays: NAT keeps working while netd restarts.

Backend `userspace` (TUN + native rewrite) is not in this version and is
refused with a clear error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from foundation.errors import ConfigError
from netd.nat.nft import apply_ruleset, enable_forwarding, nft_binary, read_uplink, table_present
from netd.nat.render import TABLE_FAMILY, TABLE_NAME, UplinkState, parse_web_listen, render_ruleset
from netd.netlink_watch import (
    RTMGRP_IPV4_IFADDR,
    RTMGRP_LINK,
    AddressChange,
    LinkChange,
    NetlinkEvent,
    NetlinkWatcher,
)
from netd.service import NetdContext, Service

log = logging.getLogger(__name__)

KUBE_API_PORT = 6443
"""The Kubernetes API server's port (kubeadm's default)."""

class NatService:
    """Keeps netd's nftables table applied for the current uplink."""

    name = "nat"

    def __init__(self, ctx: NetdContext, recheck_interval: float = 60.0) -> None:
        self._ctx = ctx
        self.recheck_interval = recheck_interval
        """Seconds between checks that our table is still there (someone may flush the ruleset)."""
        self._changed = asyncio.Event()
        self._watcher: NetlinkWatcher | None = None
        self._task: asyncio.Task[None] | None = None
        self.applied: UplinkState | None = None
        """The uplink state the table in the kernel was last rendered for."""
        self.applications = 0
        """How many times the table was applied."""

    def render(self, uplink: UplinkState) -> str:
        """The ruleset for `uplink` under this config."""
        network = self._ctx.config.network
        return render_ruleset(
            lan_interface=network.lan_interface,
            uplink=uplink,
            lan_subnet=network.subnet,
            pod_cidr=self._ctx.config.kubernetes.pod_cidr,
            web=parse_web_listen(self._ctx.config.web.listen),
            kube_api_port=KUBE_API_PORT if self._ctx.config.kubernetes.api_on_uplink else None,
        )

    async def start(self) -> None:
        backend = self._ctx.config.network.nat.backend
        if backend == "userspace":
            raise ConfigError(
                "network.nat.backend: userspace is not implemented in this version — use nftables"
            )
        if backend != "nftables":
            raise ConfigError(f"network.nat.backend: {backend!r} is not nftables or userspace")
        nft_binary()
        enable_forwarding()
        loop = asyncio.get_running_loop()
        # Watch before the first apply so that a change in between is not missed.
        self._watcher = NetlinkWatcher(
            lambda event: self._on_kernel_event(loop, event),
            groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR,
            name="netlink-nat",
        )
        self._watcher.start()
        await self._apply_if_changed(force=True)
        self._task = asyncio.create_task(self._follow(), name="nat-follow")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._watcher is not None:
            await asyncio.to_thread(self._watcher.stop)

    def _on_kernel_event(self, loop: asyncio.AbstractEventLoop, event: NetlinkEvent) -> None:
        uplink = self._ctx.config.network.uplink_interface
        applied = self.applied
        if isinstance(event, LinkChange):
            relevant = event.name == uplink or (applied is not None and event.index == applied.index)
        elif isinstance(event, AddressChange):
            relevant = applied is None or event.index == applied.index
        else:  # Overflow: we may have missed anything
            relevant = True
        if relevant:
            loop.call_soon_threadsafe(self._changed.set)

    async def _follow(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=self.recheck_interval)
            except TimeoutError:
                pass
            await asyncio.sleep(0.05)  # let a burst of notifications (re-creation) settle
            changed = self._changed.is_set()
            self._changed.clear()
            try:
                if changed:
                    await self._apply_if_changed(force=False)
                elif not await asyncio.to_thread(table_present):
                    log.warning("nat: table %s %s was removed by someone; putting it back", TABLE_FAMILY, TABLE_NAME)
                    await self._apply_if_changed(force=True)
            except Exception:  # keep following; the next change or check tries again
                log.exception("nat: re-applying the nftables table failed")

    async def _apply_if_changed(self, force: bool) -> None:
        uplink = await asyncio.to_thread(read_uplink, self._ctx.config.network.uplink_interface)
        if not force and uplink == self.applied:
            return
        await asyncio.to_thread(apply_ruleset, self.render(uplink))
        self.applied = uplink
        self.applications += 1
        log.info("nat: table %s %s applied for uplink %s", TABLE_FAMILY, TABLE_NAME, uplink)


def create(ctx: NetdContext) -> Service:
    """Factory the daemon calls for `--only nat`."""
    return NatService(ctx)
