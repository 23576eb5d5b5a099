"""The master's LAN address and host-gw pod routes (`--only routes`).

Keeps `network.master_address` on `network.lan_interface` and a route to
every other node's pod CIDR via that node's LAN address, tagged with our
route protocol (netd.routes.plan.RTPROT_APPLIANCE = 171). Node agents do the
same on every node with the same code (netd.routes.keeper).

How a node's pod CIDR agrees with Kubernetes' `node.spec.podCIDR`: the
registry is the only allocator. kubeadm runs the controller-manager with
`--allocate-node-cidrs=false` (so Kubernetes never picks a CIDR of its own),
and the provisioner, right after `kubeadm join` registers the Node, patches
`spec.podCIDR`/`spec.podCIDRs` from the registry's `pod_cidr` (the field can
be set once and is immutable after, which is exactly the registry's rule:
a node keeps its slice until it is forgotten). The agent's CNI config uses
the same registry value, so routes, CNI IPAM and the Node object agree;
nothing reads `node.spec.podCIDR` back to route by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from ipaddress import IPv4Network
from pathlib import Path

from foundation.records import NodeChange, NodeEvent, NodeRecord
from netd.bus import Event, Resync
from netd.cni import write_cni_config
from netd.routes.keeper import RouteKeeper
from netd.routes.kernel import InterfaceAddress
from netd.routes.plan import wanted_routes
from netd.service import NetdContext, Service

log = logging.getLogger(__name__)


class RoutesService:
    """Follows node events and keeps the kernel's routes and the LAN address right."""

    name = "routes"

    def __init__(self, ctx: NetdContext, resync_interval: float = 30.0, cni_dir: Path | None = None) -> None:
        self._ctx = ctx
        self._cni_dir = cni_dir
        self._cni_written: IPv4Network | None = None
        network = ctx.config.network
        self._keeper = RouteKeeper(
            network.lan_interface,
            InterfaceAddress(network.master_address, network.subnet.prefixlen),
            resync_interval=resync_interval,
        )
        self._nodes: dict[str, NodeRecord] = {}
        self._task: asyncio.Task[None] | None = None
        self.events_handled = 0
        """Bus events taken so far (tests wait on it instead of sleeping)."""

    @property
    def keeper(self) -> RouteKeeper:
        """The route keeper (for status and tests)."""
        return self._keeper

    async def start(self) -> None:
        # Subscribe before the snapshot so no event between the two is lost.
        queue = self._ctx.bus.subscribe()
        self._load_snapshot()
        self._keeper.start()
        self._task = asyncio.create_task(self._follow(queue), name="routes-follow")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self._keeper.stop)

    def _load_snapshot(self) -> None:
        self._nodes = {node.name: node for node in self._ctx.known_nodes()}
        self._push()

    def _push(self) -> None:
        network = self._ctx.config.network
        self._write_cni()
        self._keeper.set_routes(
            wanted_routes(
                self._nodes.values(), self_address=network.master_address, lan_subnet=network.subnet
            )
        )

    def _write_cni(self) -> None:
        # The master's kubelet needs a CNI config too (else its node stays NotReady); its pod CIDR is
        # the master's own registry slice (slice 0), like any node's.
        if self._cni_dir is None:
            return
        address = self._ctx.config.network.master_address
        own = next((n for n in self._nodes.values() if n.address == address and n.pod_cidr), None)
        if own is None or own.pod_cidr == self._cni_written:
            return
        assert own.pod_cidr is not None
        try:
            write_cni_config(own.pod_cidr, self._cni_dir)
            self._cni_written = own.pod_cidr
        except OSError as error:
            log.error("routes: cannot write the CNI config in %s: %s", self._cni_dir, error)

    async def _follow(self, queue: asyncio.Queue[Event]) -> None:
        while True:
            event = await queue.get()
            try:
                if isinstance(event, Resync):
                    self._load_snapshot()
                elif isinstance(event, NodeEvent):
                    if event.change is NodeChange.REMOVED:
                        self._nodes.pop(event.node.name, None)
                    else:
                        self._nodes[event.node.name] = event.node
                    self._push()
            except Exception:  # one bad event must not stop routing
                log.exception("routes: could not handle %s", event)
            self.events_handled += 1


def create(ctx: NetdContext) -> Service:
    """Factory the daemon calls for `--only routes`.

    It writes no CNI config: `appliance master run` (which owns the master's
    /etc) constructs RoutesService(ctx, cni_dir=netd.cni.CNI_CONF_DIR) so the
    master's kubelet gets its conflist; tests never touch the host's /etc.
    """
    return RoutesService(ctx)
