"""Pure planning of host-gw pod routes: which routes we want, and how to get there from what is.

No netlink here. The kernel side (netd.routes.kernel) dumps the routes that
carry our protocol tag, this module diffs them against the wanted set, and
the kernel side carries the operations out. The master and the node agent
share this code, so it uses only the standard library.

Route protocol: our routes carry protocol number 171 (0xAB). Linux reserves
0-4 for itself (unspec, redirect, kernel, boot, static) and iproute2's
rt_protos names 8-18, 42, 99 and 186-192 for routing daemons (gated, ra,
mrt, zebra, bird, dnrouted, xorp, ntk, dhcp, mrouted, keepalived, babel,
openr, bgp, isis, ospf, rip, eigrp); 171 is in none of those lists.
`ip route show proto 171` lists exactly what netd owns.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from foundation.records import NodeRecord

RTPROT_APPLIANCE = 171
"""Route protocol number that tags every route netd or the agent programs."""


@dataclass(frozen=True, order=True)
class PodRoute:
    """One host-gw route: a node's pod CIDR via that node's LAN address."""

    dst: IPv4Network
    """The pod CIDR of the other node."""
    gateway: IPv4Address
    """That node's LAN address."""


@dataclass(frozen=True, order=True)
class KernelRoute:
    """A route of ours as the kernel holds it (main table, our protocol)."""

    dst: IPv4Network
    """Destination prefix."""
    gateway: IPv4Address | None
    """Next hop, None for a route without one (never ours, but possible by hand)."""
    oif: int
    """Output interface index (0 if none)."""
    metric: int = 0
    """Route priority; ours are always 0, a tagged route added by hand may differ."""


class RouteAction(enum.Enum):
    """What to do with one route."""

    ADD = "add"
    REPLACE = "replace"
    DELETE = "delete"


@dataclass(frozen=True)
class RouteOp:
    """One change to the kernel's routes of our protocol."""

    action: RouteAction
    """Add, replace or delete."""
    route: KernelRoute
    """The route to add/replace (wanted form) or to delete (as the kernel has it)."""


def wanted_routes(
    nodes: Iterable[NodeRecord], *, self_address: IPv4Address | None, lan_subnet: IPv4Network
) -> set[PodRoute]:
    """Routes to every other node's pod CIDR via its address on the LAN.

    Nodes without an address or a pod CIDR, the node itself, and nodes whose
    address is not on the LAN subnet (not a usable next hop) are skipped. If
    two nodes claim the same pod CIDR (should never happen: the registry
    allocates), the one with the smallest name wins so every node agrees.
    """
    by_dst: dict[IPv4Network, tuple[str, IPv4Address]] = {}
    for node in nodes:
        if node.address is None or node.pod_cidr is None:
            continue
        if node.address == self_address or node.address not in lan_subnet:
            continue
        current = by_dst.get(node.pod_cidr)
        if current is None or node.name < current[0]:
            by_dst[node.pod_cidr] = (node.name, node.address)
    return {PodRoute(dst, address) for dst, (_name, address) in by_dst.items()}


def plan_routes(wanted: Iterable[PodRoute], actual: Iterable[KernelRoute], oif: int) -> list[RouteOp]:
    """The operations that turn `actual` (our routes in the kernel) into `wanted` via `oif`.

    Deletions come first so that a pod CIDR moving between nodes never
    collides; the result is sorted so the same inputs give the same plan.
    """
    want = {route.dst: KernelRoute(route.dst, route.gateway, oif) for route in wanted}
    have: dict[IPv4Network, list[KernelRoute]] = {}
    for route in actual:
        have.setdefault(route.dst, []).append(route)
    deletes: list[RouteOp] = []
    changes: list[RouteOp] = []
    for dst, routes in sorted(have.items()):
        target = want.get(dst)
        if target is not None and len(routes) == 1 and _replaceable(routes[0], target):
            # One wrong route for a wanted prefix: replace it in place, no gap in reachability
            # (the kernel replaces the route with the same prefix and metric).
            changes.append(RouteOp(RouteAction.REPLACE, target))
            continue
        # Unwanted prefix, or several routes of ours for it (different metrics): keep at most
        # the right one.
        for route in sorted(routes, key=_sort_key):
            if route != target:
                deletes.append(RouteOp(RouteAction.DELETE, route))
    for dst, target in sorted(want.items()):
        routes = have.get(dst, [])
        if target not in routes and not (len(routes) == 1 and _replaceable(routes[0], target)):
            changes.append(RouteOp(RouteAction.ADD, target))
    return deletes + sorted(changes, key=lambda op: op.route)


def _replaceable(current: KernelRoute, target: KernelRoute) -> bool:
    return current != target and current.metric == target.metric


def _sort_key(route: KernelRoute) -> tuple[str, int, int]:
    return (str(route.gateway), route.oif, route.metric)
