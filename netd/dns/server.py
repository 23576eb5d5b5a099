"""The asyncio loops around QueryHandler: UDP and TCP sockets, nothing else.

UDP sockets are read directly from the event loop's reader callback, draining
up to `_UDP_BATCH` datagrams per wake-up (asyncio's datagram transport does
one recvfrom per wake-up, which halves the rate). With a fast path
(netd.dns.fastpath: the C extension), each wake-up instead makes up to
`_FAST_BATCHES` fast-path calls, each reading batches with recvmmsg; C
answers the cache hits with sendmmsg and the rest goes through QueryHandler
exactly as without it. TCP follows RFC 7766:
2-byte length framing, several queries per connection answered as they
complete, an idle timeout and a cap on connections.

Only clients on the LAN, the pod network and loopback are answered; the
sockets are bound to the LAN address and 127.0.0.1 only (IP_FREEBIND, so we
can start before routes.py has put the address on the interface), so nothing
listens on the uplink. The only catch-all `except` of the DNS server lives
here: it logs the traceback, counts, and keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address

from foundation.errors import EnvironmentProblem
from netd.dns.fastpath import FastPath
from netd.dns.forwarder import Forwarder
from netd.dns.handler import Forward, QueryHandler, Reply
from netd.quiet_log import QuietWarning

log = logging.getLogger(__name__)

_UDP_BATCH = 64
_FAST_BATCHES = 8
"""Fast-path serve calls per wake-up (each reads up to 8 batches of 64 while all are hits)."""
_TCP_PIPELINE = 32
"""Forwarded queries one TCP connection may have in flight before we stop reading it."""
_IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)


@dataclass
class ServerStats:
    """Counters of the socket layer."""

    refused_source: int = 0
    """Messages from addresses outside the LAN, pod network and loopback (dropped)."""
    internal_errors: int = 0
    """Exceptions caught by the loop (each one a bug to fix; the server keeps going)."""
    send_errors: int = 0
    """Replies the kernel would not take (full buffer, unreachable client)."""
    busy_drops: int = 0
    """Forwarded queries dropped because too many were already waiting upstream."""
    tcp_connections: int = 0
    """TCP connections accepted."""
    tcp_refused: int = 0
    """TCP connections closed at once because the connection limit was reached."""


class DnsServer:
    """Serves `handler` on UDP and TCP at the given addresses."""

    def __init__(
        self,
        handler: QueryHandler,
        forwarder: Forwarder,
        addresses: Iterable[IPv4Address],
        port: int,
        allowed_sources: Iterable[IPv4Network],
        clock: Callable[[], float] = time.monotonic,
        max_pending: int = 2048,
        max_tcp: int = 64,
        tcp_idle: float = 10.0,
        fast_path: FastPath | None = None,
    ) -> None:
        self.handler = handler
        self.fast_path = fast_path
        self.forwarder = forwarder
        self.addresses = list(addresses)
        self.port = port
        self.allowed = list(allowed_sources)
        self.clock = clock
        self.max_pending = max_pending
        self.max_tcp = max_tcp
        self.tcp_idle = tcp_idle
        self.stats = ServerStats()
        self._udp: list[socket.socket] = []
        self._tcp: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp_open = 0
        self._source_ok: dict[str, bool] = {}
        self._failed = QuietWarning(log, level=logging.ERROR)
        """A query that raised (a bug): a traceback, but not one per packet of a flood."""

    async def start(self) -> None:
        """Bind every socket; return once serving."""
        loop = asyncio.get_running_loop()
        try:
            for address in self.addresses:
                udp = _bound_socket(socket.SOCK_DGRAM, str(address), self.port)
                self._udp.append(udp)
                loop.add_reader(udp.fileno(), self._udp_ready, udp)
                tcp = _bound_socket(socket.SOCK_STREAM, str(address), self.port)
                self._tcp.append(await asyncio.start_server(self._tcp_client, sock=tcp))
        except OSError as error:
            await self.stop()
            raise EnvironmentProblem(
                f"DNS cannot listen on port {self.port} of {', '.join(map(str, self.addresses))}: "
                f"{error.strerror or error}; stop the other DNS server holding it "
                "(systemd-resolved's stub listener, dnsmasq) or run netd as root"
            ) from error
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close every socket and cancel work in flight."""
        loop = asyncio.get_running_loop()
        for udp in self._udp:
            loop.remove_reader(udp.fileno())
            udp.close()
        self._udp.clear()
        for server in self._tcp:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._tcp:
            await server.wait_closed()
        self._tcp.clear()

    def _allowed(self, host: str) -> bool:
        ok = self._source_ok.get(host)
        if ok is None:
            address = ip_address(host)
            ok = address.is_loopback or any(address in net for net in self.allowed)
            if len(self._source_ok) > 4096:
                self._source_ok.clear()
            self._source_ok[host] = ok
        return ok

    def _spawn(self, coroutine: object) -> None:
        task = asyncio.ensure_future(coroutine)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # UDP

    def _udp_ready(self, sock: socket.socket) -> None:
        if self.fast_path is not None:
            self._udp_ready_fast(sock, self.fast_path)
            return
        for _ in range(_UDP_BATCH):
            try:
                data, peer = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # e.g. a queued ICMP error for an earlier reply
                log.debug("udp receive: %s", error)
                continue
            try:
                self._udp_datagram(sock, data, peer)
            except Exception:
                self.stats.internal_errors += 1
                self._failed.warn(self.clock(), "DNS query from %s failed; still serving", peer,
                                  exc_info=True)

    def _udp_ready_fast(self, sock: socket.socket, fast_path: FastPath) -> None:
        counts, stats = self.handler.stats, self.stats
        for _ in range(_FAST_BATCHES):
            try:
                batch = fast_path.serve(sock, self.clock())
            except Exception:
                self.stats.internal_errors += 1
                self._failed.warn(self.clock(), "DNS fast path failed; still serving", exc_info=True)
                return
            # What C answered counts as the handler would have counted it.
            answered = batch.answered_zone + batch.answered_forwarded
            counts.queries += answered
            counts.authoritative += batch.answered_zone
            counts.cache_hits += batch.answered_forwarded
            self.handler.cache.stats.hits += batch.answered_forwarded
            stats.refused_source += batch.refused
            stats.send_errors += batch.send_errors
            if batch.receive_error:
                log.debug("udp receive: errno %d", batch.receive_error)
            for data, peer in batch.misses or ():
                try:
                    self._udp_datagram(sock, data, peer)
                except Exception:
                    stats.internal_errors += 1
                    self._failed.warn(self.clock(), "DNS query from %s failed; still serving",
                                      peer, exc_info=True)
            if batch.drained:
                return

    def _udp_datagram(self, sock: socket.socket, data: bytes, peer: tuple[str, int]) -> None:
        if not self._allowed(peer[0]):
            self.stats.refused_source += 1
            return
        command = self.handler.handle(data, self.clock(), udp=True)
        if type(command) is Reply:
            self._udp_send(sock, command.data, peer)
        elif type(command) is Forward:
            if len(self._tasks) >= self.max_pending:
                self.stats.busy_drops += 1
                return
            self._spawn(self._udp_forward(sock, command, peer))

    def _udp_send(self, sock: socket.socket, data: bytes, peer: tuple[str, int]) -> None:
        try:
            sock.sendto(data, peer)
        except OSError:
            self.stats.send_errors += 1

    async def _udp_forward(
        self, sock: socket.socket, command: Forward, peer: tuple[str, int]
    ) -> None:
        try:
            answer = await self.forwarder.resolve(command.key)
            data = self.handler.complete(command, answer, self.clock(), udp=True)
            if sock.fileno() != -1:
                self._udp_send(sock, data, peer)
        except Exception:
            self.stats.internal_errors += 1
            self._failed.warn(self.clock(), "forwarded DNS query from %s failed; still serving",
                              peer, exc_info=True)

    # TCP

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self._tcp_open >= self.max_tcp or not self._allowed(peer[0]):
            if self._tcp_open >= self.max_tcp:
                self.stats.tcp_refused += 1
            else:
                self.stats.refused_source += 1
            writer.close()
            return
        self._tcp_open += 1
        self.stats.tcp_connections += 1
        pending: set[asyncio.Task[None]] = set()
        try:
            while True:
                async with asyncio.timeout(self.tcp_idle):
                    (length,) = struct.unpack(">H", await reader.readexactly(2))
                    data = await reader.readexactly(length)
                try:
                    command = self.handler.handle(data, self.clock(), udp=False)
                    if type(command) is Reply:
                        _tcp_send(writer, command.data)
                    elif type(command) is Forward:
                        if len(pending) >= _TCP_PIPELINE:  # back-pressure on one client
                            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                        task = asyncio.ensure_future(self._tcp_forward(writer, command))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
                    await writer.drain()
                except (ConnectionError, asyncio.IncompleteReadError):
                    raise
                except Exception:
                    self.stats.internal_errors += 1
                    self._failed.warn(self.clock(), "DNS query over TCP from %s failed; still serving",
                                      peer, exc_info=True)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass  # idle, closed or reset by the client: the normal ends of a connection
        finally:
            self._tcp_open -= 1
            if pending:
                await asyncio.wait(pending, timeout=self.forwarder.total_timeout + 0.5)
            for task in pending:
                task.cancel()
            writer.close()

    async def _tcp_forward(self, writer: asyncio.StreamWriter, command: Forward) -> None:
        try:
            answer = await self.forwarder.resolve(command.key)
            _tcp_send(writer, self.handler.complete(command, answer, self.clock(), udp=False))
        except Exception:
            self.stats.internal_errors += 1
            self._failed.warn(self.clock(), "forwarded DNS query over TCP failed; still serving",
                              exc_info=True)


def _tcp_send(writer: asyncio.StreamWriter, data: bytes) -> None:
    if not writer.is_closing():
        writer.write(struct.pack(">H", len(data)) + data)


def _bound_socket(kind: int, address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        sock.bind((address, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
