"""The kernel side of routes and the LAN address.

Reads (route dumps, links, addresses) go through pyroute2's synchronous
IPRoute; route writes go out as netlink batches (netd.routes.rtnl_batch), which is
what makes a 250-route reconcile as fast as `ip -batch`.

Works with pyroute2 0.7.x (Debian bookworm's python3-pyroute2, used by the
node agent) and 0.9.x (the master's venv). In 0.9 the synchronous IPRoute
runs a private asyncio loop, so it must never be called from a thread that
runs an event loop: an instance of KernelRoutes belongs to one plain thread
(the RouteKeeper's), created and used there only.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from netd.routes.plan import RTPROT_APPLIANCE, KernelRoute, RouteAction, RouteOp
from netd.routes.rtnl_batch import batches, decode_acks, encode_route

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
        # Writes go through a plain rtnetlink socket in batches (see netd.routes.rtnl_batch).
        self._batch_sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._batch_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1024 * 1024)
        self._batch_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024 * 1024)
        self._batch_sock.bind((0, 0))
        self._batch_sock.settimeout(5.0)
        self._seq = 0

    def close(self) -> None:
        """Release the netlink sockets."""
        self._ipr.close()
        self._batch_sock.close()

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
        """Carry out `ops` in netlink batches; returns one line per operation that failed (the rest still run)."""
        requests: dict[int, tuple[RouteOp, str, bytes]] = {}
        for op in ops:
            self._seq = (self._seq % 0x7FFFFFFF) + 1
            command = {RouteAction.ADD: "add", RouteAction.REPLACE: "replace"}.get(op.action, "del")
            route = op.route
            message = encode_route(
                self._seq, command, route.dst, route.gateway, route.oif, route.metric, RTPROT_APPLIANCE, MAIN_TABLE
            )
            requests[self._seq] = (op, command, message)
        failures: list[str] = []
        for group in batches(list(requests), lambda seq: len(requests[seq][2])):
            self._batch_sock.send(b"".join(requests[seq][2] for seq in group))
            # Collect this batch's acks before sending more, so the receive buffer never overflows.
            waiting = set(group)
            while waiting:
                try:
                    acks = decode_acks(self._batch_sock.recv(65536))
                except TimeoutError:
                    break
                for seq, code in acks.items():
                    if seq in waiting:
                        waiting.discard(seq)
                        op, command, _ = requests[seq]
                        line = _failure(op, command, code)
                        if line:
                            failures.append(line)
            for seq in sorted(waiting):
                op, command, _ = requests[seq]
                failures.append(f"{command} {op.route.dst}: no answer from the kernel")
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


def _failure(op: RouteOp, command: str, code: int) -> str | None:
    """The failure line for a nonzero ack, None when the result is what we wanted."""
    route = op.route
    if code == 0:
        return None
    if op.action is RouteAction.DELETE and code == errno.ESRCH:
        return None  # already gone: that is what we wanted
    if op.action is RouteAction.ADD and code == errno.EEXIST:
        # A route that is not ours holds this prefix (same metric): never touch it.
        return f"add {route.dst} via {route.gateway}: a foreign route holds it; left alone"
    return f"{command} {route.dst} via {route.gateway}: {os.strerror(code)}"


def _table(msg: object) -> int:
    table = msg.get_attr("RTA_TABLE")  # type: ignore[attr-defined]
    return int(table if table is not None else msg["table"])  # type: ignore[index]
