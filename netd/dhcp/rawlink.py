"""Link-level helpers of the DHCP server: frames straight to a client's MAC, and
address probes (ARP on the LAN, ICMP echo behind a relay) that never block the loop.

Why a raw frame: a client without an address that did not set the broadcast flag
must get its OFFER/ACK unicast to its MAC (RFC 2131 §4.1); the kernel cannot ARP
for an address nobody holds yet. A packet socket (SOCK_DGRAM, so the kernel adds
the Ethernet header) sends the IPv4/UDP datagram we build here, and pollutes no
neighbour table (unlike SIOCSARP or a static neighbour per client).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections import deque
from collections.abc import Callable
from ipaddress import IPv4Address

from native.checksum import inet_checksum

log = logging.getLogger(__name__)

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
BROADCAST_MAC = b"\xff" * 6
PROBE_SLACK = 0.004
"""Seconds a probe may wait past its timeout, so one timer wake-up ends every probe due
within this window (at 4,000 new clients/s that is ~16 probes per wake-up, not 1)."""


def udp_datagram(src_ip: bytes, dst_ip: bytes, src_port: int, dst_port: int, payload: bytes) -> bytes:
    """An IPv4 header + UDP header + payload (UDP checksum 0: optional in IPv4, RFC 768)."""
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0x10, 20 + len(udp), 0, 0x4000, 64,
                         socket.IPPROTO_UDP, 0, src_ip, dst_ip)
    checksum = inet_checksum(header)
    return header[:10] + struct.pack("!H", checksum) + header[12:] + udp


def arp_probe(src_mac: bytes, target_ip: bytes) -> bytes:
    """An RFC 5227 ARP probe: who-has target, sender IP 0.0.0.0 (payload after Ethernet)."""
    return struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, src_mac, b"\0" * 4,
                       b"\0" * 6, target_ip)


def arp_sender_ip(payload: bytes) -> bytes | None:
    """Sender protocol address of an ARP reply or request, or None if not IPv4-over-Ethernet."""
    if len(payload) < 28:
        return None
    htype, ptype, hlen, plen = struct.unpack_from("!HHBB", payload)
    if htype != 1 or ptype != ETH_P_IP or hlen != 6 or plen != 4:
        return None
    sender = payload[14:18]
    return None if sender == b"\0\0\0\0" else sender


def icmp_echo(ident: int, sequence: int) -> bytes:
    """An ICMP echo request (type 8) with a valid checksum."""
    head = struct.pack("!BBHHH", 8, 0, 0, ident, sequence) + b"appliance-dhcp-probe"
    return head[:2] + struct.pack("!H", inet_checksum(head)) + head[4:]


class LinkSender:
    """Sends IPv4/UDP datagrams straight to a MAC on the LAN interface."""

    def __init__(self, interface: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        self.sock.setblocking(False)
        self.sock.bind((interface, ETH_P_IP))
        self.interface = interface

    def send(self, datagram: bytes, dst_mac: bytes) -> None:
        """Best effort, like any UDP send: a full buffer drops the reply (the client retries)."""
        try:
            self.sock.sendto(datagram, (self.interface, ETH_P_IP, 0, 1, dst_mac))
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Release the socket."""
        self.sock.close()


class Prober:
    """Outstanding probes; each ends with exactly one (token, in_use) in a `report` batch.

    The timeout is the same for every probe, so deadlines are kept in a FIFO with one
    timer for the oldest, instead of one timer per probe; the timer fires PROBE_SLACK
    after the oldest deadline and ends every probe due by then in one batch.
    """

    def __init__(self, interface: str, timeout: float,
                 report: Callable[[list[tuple[int, bool]]], None]) -> None:
        self.timeout = timeout
        self.report = report
        self._pending: dict[bytes, int] = {}
        self._deadlines: deque[tuple[float, bytes, int]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._arp = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ARP))
        self._arp.setblocking(False)
        self._arp.bind((interface, ETH_P_ARP))
        self._interface = interface
        self._mac: bytes = self._arp.getsockname()[4]
        self._loop.add_reader(self._arp.fileno(), self._on_arp)
        self._icmp: socket.socket | None = None
        self._ident = os.getpid() & 0xFFFF

    def refresh_mac(self) -> None:
        """Re-read the interface's MAC (a bridge's MAC changes as ports come and go)."""
        self._mac = self._arp.getsockname()[4]

    @property
    def outstanding(self) -> int:
        """Probes waiting for an answer or their timeout."""
        return len(self._pending)

    def probe(self, token: int, address: IPv4Address, on_link: bool) -> None:
        """Start probing; the result arrives through `report`."""
        target = address.packed
        if target in self._pending:  # already being probed for someone else: that is a conflict
            self._loop.call_soon(self.report, [(token, True)])
            return
        try:
            if on_link:
                self._arp.sendto(arp_probe(self._mac, target),
                                 (self._interface, ETH_P_ARP, 0, 1, BROADCAST_MAC))
            else:
                self._icmp_socket().sendto(icmp_echo(self._ident, token & 0xFFFF), (str(address), 0))
        except OSError as error:  # cannot probe: do not offer an address we could not check
            log.warning("probe of %s failed to send: %s", address, error)
            self._loop.call_soon(self.report, [(token, True)])
            return
        self._pending[target] = token
        self._deadlines.append((self._loop.time() + self.timeout, target, token))
        if self._timer is None:
            self._timer = self._loop.call_later(self.timeout + PROBE_SLACK, self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = self._loop.time()
        done = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _deadline, target, token = deadlines.popleft()
            if self._pending.get(target) == token:
                del self._pending[target]
                done.append((token, False))
        if deadlines:
            self._timer = self._loop.call_at(deadlines[0][0] + PROBE_SLACK, self._expire)
        if done:
            self.report(done)

    def _icmp_socket(self) -> socket.socket:
        if self._icmp is None:
            self._icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            self._icmp.setblocking(False)
            self._loop.add_reader(self._icmp.fileno(), self._on_icmp)
        return self._icmp

    def _answered(self, sender: bytes) -> None:
        token = self._pending.pop(sender, None)
        if token is not None:  # its deadline entry is skipped when it comes up
            self.report([(token, True)])

    def _on_arp(self) -> None:
        for _ in range(256):
            try:
                payload, link = self._arp.recvfrom(128)
            except BlockingIOError:
                return
            if link[2] == socket.PACKET_OUTGOING:
                continue  # our own probes and the kernel's own ARP requests
            sender = arp_sender_ip(payload)
            if sender is not None:
                self._answered(sender)

    def _on_icmp(self) -> None:
        assert self._icmp is not None
        for _ in range(256):
            try:
                packet, (source, _port) = self._icmp.recvfrom(2048)
            except BlockingIOError:
                return
            header_len = (packet[0] & 0x0F) * 4 if packet else 0
            if len(packet) >= header_len + 8 and packet[header_len] == 0:  # echo reply
                self._answered(IPv4Address(source).packed)

    def close(self) -> None:
        """Forget outstanding probes (reporting nothing) and close the sockets."""
        if self._timer is not None:
            self._timer.cancel()
        self._pending.clear()
        self._deadlines.clear()
        self._loop.remove_reader(self._arp.fileno())
        self._arp.close()
        if self._icmp is not None:
            self._loop.remove_reader(self._icmp.fileno())
            self._icmp.close()
