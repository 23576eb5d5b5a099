"""Asking the upstream resolvers (the uplink's), with a hard time budget.

`upstream_dns: auto` (None in the config) means the resolvers the uplink got
by DHCP. Decision: whatever DHCP client runs on the uplink (NetworkManager on
Raspberry Pi OS trixie, dhcpcd, dhclient) writes them into a resolv.conf, so
we read `/run/systemd/resolve/resolv.conf` when systemd-resolved runs (its
/etc/resolv.conf only names the 127.0.0.53 stub) and `/etc/resolv.conf`
otherwise, re-reading it when it changes. Loopback addresses and our own
listening addresses are skipped, so the master pointing its own resolv.conf at
us does not make a loop. Tests pass another file (DnsSettings.resolv_conf or
the NETD_DNS_RESOLV_CONF environment variable).

Each question goes to one upstream at a time over UDP (fresh socket, random
ID, answer checked against ID and question); a truncated answer is fetched
again over TCP; a refused port, timeout, SERVFAIL or REFUSED moves on to the
next upstream. The whole question gets `total_timeout` (1.8 s by default),
after which the caller answers SERVFAIL: never a hang. Identical questions in
flight share one upstream exchange.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address
from pathlib import Path

from dnslib import EDNS0, RCODE, DNSError, DNSHeader, DNSLabel, DNSQuestion, DNSRecord

from netd.dns.cache import CacheKey
from netd.dns.zone import labels_of_wire

log = logging.getLogger(__name__)

DEFAULT_RESOLV_CONFS = (Path("/run/systemd/resolve/resolv.conf"), Path("/etc/resolv.conf"))
_RETRY_NEXT = (RCODE.SERVFAIL, RCODE.REFUSED, RCODE.NOTIMP)


def parse_resolv_conf(text: str) -> list[IPv4Address]:
    """IPv4 `nameserver` lines of a resolv.conf, in order; anything else is ignored."""
    found = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                address = ip_address(fields[1])
            except ValueError:
                continue
            if isinstance(address, IPv4Address):
                found.append(address)
    return found


def default_resolv_conf() -> Path:
    """The file the uplink's DHCP client writes its resolvers to on this machine."""
    override = os.environ.get("NETD_DNS_RESOLV_CONF")
    if override:
        return Path(override)
    for path in DEFAULT_RESOLV_CONFS:
        if path.exists():
            return path
    return DEFAULT_RESOLV_CONFS[-1]


class UpstreamSource:
    """The current upstream resolvers: fixed from the config, or read from a resolv.conf."""

    def __init__(
        self,
        fixed: Iterable[IPv4Address] | None,
        resolv_conf: Path,
        own_addresses: Iterable[IPv4Address] = (),
        port: int = 53,
    ) -> None:
        self.fixed = None if fixed is None else list(fixed)
        self.resolv_conf = resolv_conf
        self.port = port
        self._own = set(own_addresses)
        self._stamp: tuple[int, int] | None = None
        self._from_file: list[IPv4Address] = []

    def current(self) -> list[IPv4Address]:
        """Resolvers to try, in order."""
        if self.fixed is not None:
            return self.fixed
        try:
            info = self.resolv_conf.stat()
            stamp = (info.st_mtime_ns, info.st_ino)
            if stamp != self._stamp:
                servers = parse_resolv_conf(self.resolv_conf.read_text(errors="replace"))
                self._from_file = [a for a in servers if not a.is_loopback and a not in self._own]
                self._stamp = stamp
                log.info("upstream resolvers from %s: %s", self.resolv_conf, self._from_file)
        except OSError as error:
            if self._stamp is not None or self._from_file:
                log.warning("cannot read %s (%s); no upstream resolvers", self.resolv_conf, error)
            self._stamp, self._from_file = None, []
        return self._from_file


@dataclass
class ForwarderStats:
    """Counters of upstream exchanges."""

    sent: int = 0
    """Queries sent upstream (UDP and TCP)."""
    timeouts: int = 0
    """Attempts that got no usable answer in time."""
    unreachable: int = 0
    """Attempts refused at once (ICMP port unreachable, connection refused)."""
    tcp_retries: int = 0
    """Truncated UDP answers fetched again over TCP."""
    failures: int = 0
    """Questions no upstream answered (SERVFAIL to the client)."""
    merged: int = 0
    """Questions that joined an identical one already in flight."""


class Forwarder:
    """Resolves questions through the upstream resolvers within a time budget."""

    def __init__(
        self, source: UpstreamSource, attempt_timeout: float = 0.8, total_timeout: float = 1.8
    ) -> None:
        self.source = source
        self.attempt_timeout = attempt_timeout
        self.total_timeout = total_timeout
        self.stats = ForwarderStats()
        self._in_flight: dict[CacheKey, asyncio.Future[DNSRecord | None]] = {}
        self._preferred = 0

    async def resolve(self, key: CacheKey) -> DNSRecord | None:
        """The upstream answer to the question `key`, or None if none came in time."""
        pending = self._in_flight.get(key)
        if pending is not None:
            self.stats.merged += 1
            return await asyncio.shield(pending)
        future: asyncio.Future[DNSRecord | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        answer: DNSRecord | None = None
        try:
            answer = await self._resolve(key)
        except Exception as error:  # the I/O loop's catch-all: one question fails, not the server
            log.exception("forwarding failed: %s", error)
        finally:
            del self._in_flight[key]
            future.set_result(answer)  # also on cancellation, so merged waiters never hang
        return answer

    async def _resolve(self, key: CacheKey) -> DNSRecord | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total_timeout
        upstreams = self.source.current()
        fallback: DNSRecord | None = None
        for i in range(len(upstreams)):
            index = (self._preferred + i) % len(upstreams)
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            timeout = min(self.attempt_timeout, remaining)
            answer = await self._ask(str(upstreams[index]), key, timeout)
            if answer is None:
                continue
            if answer.header.rcode in _RETRY_NEXT:
                fallback = answer
                continue
            self._preferred = index
            return answer
        if fallback is None:
            self.stats.failures += 1
        return fallback

    async def _ask(self, server: str, key: CacheKey, timeout: float) -> DNSRecord | None:
        qname, qtype, qclass, do = key
        labels = labels_of_wire(qname)
        request = DNSRecord(
            DNSHeader(id=secrets.randbelow(0x10000), rd=1),
            q=DNSQuestion(DNSLabel(labels), qtype, qclass),
        )
        request.add_ar(EDNS0(udp_len=1232, flags="do" if do else ""))
        data = request.pack()
        try:
            async with asyncio.timeout(timeout):
                answer = await self._udp_exchange(server, data, request)
                if answer.header.tc:
                    self.stats.tcp_retries += 1
                    answer = await self._tcp_exchange(server, data, request)
                return answer
        except TimeoutError:
            self.stats.timeouts += 1
        except OSError as error:
            self.stats.unreachable += 1
            log.debug("upstream %s: %s", server, error)
        return None

    async def _udp_exchange(self, server: str, data: bytes, request: DNSRecord) -> DNSRecord:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect((server, self.source.port))
            self.stats.sent += 1
            await loop.sock_sendall(sock, data)
            while True:  # ignore anything that does not match (spoofing, late answers)
                raw = await loop.sock_recv(sock, 65535)
                answer = parse_upstream_answer(raw, request)
                if answer is not None:
                    return answer

    async def _tcp_exchange(self, server: str, data: bytes, request: DNSRecord) -> DNSRecord:
        reader, writer = await asyncio.open_connection(server, self.source.port)
        try:
            self.stats.sent += 1
            writer.write(struct.pack(">H", len(data)) + data)
            await writer.drain()
            while True:
                (length,) = struct.unpack(">H", await reader.readexactly(2))
                answer = parse_upstream_answer(await reader.readexactly(length), request)
                if answer is not None:
                    return answer
        except asyncio.IncompleteReadError as error:
            raise ConnectionResetError(f"upstream {server} closed the TCP connection") from error
        finally:
            writer.close()


def parse_upstream_answer(raw: bytes, request: DNSRecord) -> DNSRecord | None:
    """`raw` parsed if it answers `request` (same ID and question), else None; never raises."""
    try:
        answer = DNSRecord.parse(raw)
    except (DNSError, ValueError, IndexError, struct.error):
        return None
    if answer.header.id != request.header.id or not answer.header.qr:
        return None
    if len(answer.questions) != 1:
        return None
    question, asked = answer.q, request.q
    if (question.qtype, question.qclass) != (asked.qtype, asked.qclass):
        return None
    if tuple(label.lower() for label in question.qname.label) != tuple(asked.qname.label):
        return None
    return answer
