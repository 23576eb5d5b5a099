"""The kernel side of routes and the LAN address, through pyroute2's synchronous IPRoute.

Works with pyroute2 0.7.x (Debian bookworm's python3-pyroute2, used by the
node agent) and 0.9.x (the master's venv). In 0.9 the synchronous IPRoute
runs a private asyncio loop, so it must never be called from a thread that
runs an event loop: an instance of KernelRoutes belongs to one plain thread
(the RouteKeeper's), created and used there only.
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from netd.routes_plan import RTPROT_APPLIANCE, KernelRoute, RouteAction, RouteOp

log = logging.getLogger(__name__)

MAIN_TABLE = 254
IFF_UP = 0x1


@dataclass(frozen=True)
class InterfaceAddress:
    """An IPv4 address to keep on an interface (the master's LAN address)."""

    address: IPv4Address
    """The address, e.g. 10.0.0.1."""
    prefixlen: int
    """Its prefix length, e.g. 24."""


class KernelRoutes:
    """Reads and changes our routes and addresses in the current network namespace."""

    def __init__(self) -> None:
        self._ipr = IPRoute()

    def close(self) -> None:
        """Release the netlink socket."""
        self._ipr.close()

    def ifindex(self, name: str) -> int | None:
        """Index of the interface called `name`, None if there is none."""
        found = self._ipr.link_lookup(ifname=name)
        return int(found[0]) if found else None

    def link_is_up(self, index: int) -> bool:
        """Whether the interface is administratively up."""
        links = self._ipr.link("get", index=index)
        return bool(links and links[0]["flags"] & IFF_UP)

    def our_routes(self) -> list[KernelRoute]:
        """Every IPv4 route in the main table carrying our protocol tag."""
        routes = []
        for msg in self._ipr.route("dump", family=socket.AF_INET):
            if msg["proto"] != RTPROT_APPLIANCE or _table(msg) != MAIN_TABLE:
                continue
            dst = msg.get_attr("RTA_DST") or "0.0.0.0"
            gateway = msg.get_attr("RTA_GATEWAY")
            routes.append(
                KernelRoute(
                    dst=IPv4Network(f"{dst}/{msg['dst_len']}"),
                    gateway=IPv4Address(gateway) if gateway else None,
                    oif=int(msg.get_attr("RTA_OIF") or 0),
                    metric=int(msg.get_attr("RTA_PRIORITY") or 0),
                )
            )
        return routes

    def apply(self, ops: list[RouteOp]) -> list[str]:
        """Carry out `ops`; returns one line per operation that failed (the rest still run)."""
        failures = []
        for op in ops:
            route = op.route
            spec: dict[str, object] = {
                "dst": str(route.dst),
                "proto": RTPROT_APPLIANCE,
                "table": MAIN_TABLE,
            }
            if route.gateway is not None:
                spec["gateway"] = str(route.gateway)
            if route.oif:
                spec["oif"] = route.oif
            if route.metric:
                spec["priority"] = route.metric
            command = {RouteAction.ADD: "add", RouteAction.REPLACE: "replace"}.get(op.action, "del")
            try:
                self._ipr.route(command, **spec)
            except NetlinkError as error:
                if op.action is RouteAction.DELETE and error.code == errno.ESRCH:
                    continue  # already gone: that is what we wanted
                if op.action is RouteAction.ADD and error.code == errno.EEXIST:
                    # A route that is not ours holds this prefix (same metric): never touch it.
                    failures.append(f"add {route.dst} via {route.gateway}: a foreign route holds it; left alone")
                    continue
                failures.append(f"{command} {route.dst} via {route.gateway}: {error}")
        return failures

    def ensure_address(self, index: int, wanted: InterfaceAddress) -> bool:
        """Put `wanted` on interface `index` unless it is there; True if it had to be added."""
        for msg in self._ipr.addr("dump", family=socket.AF_INET):
            if msg["index"] != index:
                continue
            local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if local == str(wanted.address) and msg["prefixlen"] == wanted.prefixlen:
                return False
        try:
            self._ipr.addr("add", index=index, address=str(wanted.address), prefixlen=wanted.prefixlen)
        except NetlinkError as error:
            if error.code != errno.EEXIST:
                raise
            return False
        return True


def _table(msg: object) -> int:
    table = msg.get_attr("RTA_TABLE")  # type: ignore[attr-defined]
    return int(table if table is not None else msg["table"])  # type: ignore[index]
