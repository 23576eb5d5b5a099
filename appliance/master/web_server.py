"""Where the page listens: `web.listen` (fixed addresses, and `uplink:PORT` following the uplink's
current address) plus the local Unix socket of the CLI, all served by waitress.

Fixed addresses are bound with IP_FREEBIND, so the LAN address may still be
on its way (the routes service puts it on). The uplink's addresses change
(home DHCP): `follow()` rebinds that server when they do; the others stay up.
"""

from __future__ import annotations

import logging
import socket
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from netd.api.server import WsgiServer, tcp_listener, unix_listener
from netd.nat.render import WebListen

log = logging.getLogger("appliance.master")

WEB_THREADS = 8
"""Worker threads of the page's main server (20 concurrent clients measured in tests/bench)."""


class WebListeners:
    """The page's servers: one for fixed addresses and the local socket, one for the uplink."""

    def __init__(self, app: Any, listen: tuple[WebListen, ...], local_socket: Path) -> None:
        self._app = app
        self._listen = listen
        self._local_socket = local_socket
        self._fixed: WsgiServer | None = None
        self._local: WsgiServer | None = None
        self._uplink: WsgiServer | None = None
        self.uplink_bound: list[tuple[IPv4Address, int]] = []
        """(address, port) pairs the uplink server listens on now."""

    def _fixed_pairs(self) -> set[tuple[IPv4Address, int]]:
        return {(entry.address, entry.port) for entry in self._listen if entry.address is not None}

    def start(self, uplink_addresses: list[IPv4Address]) -> None:
        """Bind and serve; OSError (one line made by the caller) when a fixed address cannot be bound."""
        sockets: list[socket.socket] = []
        try:
            for address, port in sorted(self._fixed_pairs()):
                sockets.append(tcp_listener(str(address), port, freebind=True))
        except BaseException:
            for each in sockets:
                each.close()
            raise
        # waitress serves TCP and Unix sockets from separate servers.
        self._local = WsgiServer(self._app, [unix_listener(self._local_socket)], name="web-local", threads=2)
        self._local.start()
        if not sockets:
            self.follow(uplink_addresses)
            return
        self._fixed = WsgiServer(self._app, sockets, name="web", threads=WEB_THREADS)
        self._fixed.start()
        log.info("web page listening", extra={"event": "web.listening",
                                               "addresses": ", ".join(map(str, self._fixed.addresses))})
        self.follow(uplink_addresses)

    def follow(self, uplink_addresses: list[IPv4Address]) -> None:
        """Listen on `uplink:PORT` entries at these addresses (rebinding only when they changed)."""
        ports = sorted({entry.port for entry in self._listen if entry.address is None})
        fixed = self._fixed_pairs()
        wanted = sorted({(address, port) for address in uplink_addresses for port in ports} - fixed)
        if wanted == self.uplink_bound:
            return
        if self._uplink is not None:
            self._uplink.stop()
            self._uplink = None
        self.uplink_bound = []
        sockets = []
        for address, port in wanted:
            try:
                sockets.append(tcp_listener(str(address), port))
            except OSError as error:  # the address left again, or the port is taken: say so, go on
                log.warning("web page cannot listen on the uplink", extra={
                    "event": "web.uplink_bind_failed", "address": f"{address}:{port}", "reason": error.strerror})
        if sockets:
            self._uplink = WsgiServer(self._app, sockets, name="web-uplink", threads=4)
            self._uplink.start()
            self.uplink_bound = [(IPv4Address(s.getsockname()[0]), s.getsockname()[1]) for s in sockets]
        log.info("web page follows the uplink", extra={
            "event": "web.uplink", "addresses": ", ".join(f"{a}:{p}" for a, p in self.uplink_bound) or "none"})

    def stop(self) -> None:
        """Stop both servers (running requests end first)."""
        for server in (self._uplink, self._fixed, self._local):
            if server is not None:
                server.stop()
        self._uplink = self._fixed = self._local = None
        self._local_socket.unlink(missing_ok=True)
