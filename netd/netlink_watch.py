"""Kernel change notifications (links, IPv4 addresses, IPv4 routes) delivered to a callback.

A plain socket bound to rtnetlink multicast groups, read by one thread and
decoded with pyroute2's rtnetlink marshal. A raw socket rather than a bound
IPRoute because pyroute2 0.9's synchronous IPRoute buffers messages in a
private event loop (select() on its descriptor then misses them), and the
same code has to run on the agent's pyroute2 0.7. ENOBUFS (the kernel
dropped notifications because we fell behind) becomes an Overflow event:
the listener must then resync from a full dump.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from pyroute2.netlink.rtnl.marshal import MarshalRtnl

log = logging.getLogger(__name__)

RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
IFF_UP = 0x1


@dataclass(frozen=True)
class LinkChange:
    """An interface appeared, changed or went away."""

    index: int
    """Interface index."""
    name: str
    """Interface name."""
    up: bool
    """Administratively up (IFF_UP)."""
    removed: bool
    """True for RTM_DELLINK."""


@dataclass(frozen=True)
class AddressChange:
    """An IPv4 address was added or removed."""

    index: int
    """Interface index."""
    address: IPv4Address
    """The local address."""
    prefixlen: int
    """Its prefix length."""
    removed: bool
    """True for RTM_DELADDR."""


@dataclass(frozen=True)
class RouteChange:
    """An IPv4 route was added or removed."""

    dst: IPv4Network
    """Destination prefix."""
    proto: int
    """Route protocol tag."""
    table: int
    """Routing table."""
    removed: bool
    """True for RTM_DELROUTE."""


@dataclass(frozen=True)
class Overflow:
    """The kernel dropped notifications (ENOBUFS): rebuild state from a full dump."""


NetlinkEvent = LinkChange | AddressChange | RouteChange | Overflow


def decode(data: bytes) -> list[NetlinkEvent]:
    """The events in one datagram from the kernel (messages of other kinds are skipped)."""
    events: list[NetlinkEvent] = []
    for msg in MarshalRtnl().parse(data):
        kind = msg.get("event")
        if kind in ("RTM_NEWLINK", "RTM_DELLINK"):
            events.append(
                LinkChange(
                    index=int(msg["index"]),
                    name=str(msg.get_attr("IFLA_IFNAME") or ""),
                    up=bool(msg["flags"] & IFF_UP),
                    removed=kind == "RTM_DELLINK",
                )
            )
        elif kind in ("RTM_NEWADDR", "RTM_DELADDR") and msg["family"] == socket.AF_INET:
            local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if local:
                events.append(
                    AddressChange(
                        index=int(msg["index"]),
                        address=IPv4Address(local),
                        prefixlen=int(msg["prefixlen"]),
                        removed=kind == "RTM_DELADDR",
                    )
                )
        elif kind in ("RTM_NEWROUTE", "RTM_DELROUTE") and msg["family"] == socket.AF_INET:
            dst = msg.get_attr("RTA_DST") or "0.0.0.0"
            table = msg.get_attr("RTA_TABLE")
            events.append(
                RouteChange(
                    dst=IPv4Network(f"{dst}/{msg['dst_len']}", strict=False),
                    proto=int(msg["proto"]),
                    table=int(table if table is not None else msg["table"]),
                    removed=kind == "RTM_DELROUTE",
                )
            )
    return events


class NetlinkWatcher:
    """Reads rtnetlink notifications in a thread of its own and hands each event to `on_event`.

    `on_event` runs in the watcher's thread: it must be quick and thread-safe
    (set a threading.Event, or loop.call_soon_threadsafe).
    """

    def __init__(
        self,
        on_event: Callable[[NetlinkEvent], None],
        groups: int = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE,
        name: str = "netlink-watcher",
        rcvbuf: int = 4 * 1024 * 1024,
    ) -> None:
        self._on_event = on_event
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        # A large buffer makes ENOBUFS rare; it is still handled (Overflow) when it happens.
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._sock.bind((0, groups))
        self._sock.settimeout(0.25)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start delivering events (the socket is already subscribed, so none since __init__ is lost)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the socket."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(1024 * 1024)
            except TimeoutError:
                continue
            except OSError as error:
                if self._stop.is_set():
                    return
                if error.errno == errno.ENOBUFS:
                    log.warning("netlink notifications were dropped (ENOBUFS); resyncing")
                    self._deliver(Overflow())
                    continue
                log.error("netlink watcher stopped: %s", error)
                return
            try:
                events = decode(data)
            except Exception:  # a message pyroute2 cannot decode must not kill the watcher
                log.exception("undecodable netlink notification; resyncing")
                events = [Overflow()]
            for event in events:
                self._deliver(event)

    def _deliver(self, event: NetlinkEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("netlink event handler failed for %s", event)
