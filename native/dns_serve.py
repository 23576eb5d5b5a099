"""The DNS fast path's batched UDP I/O: recvmmsg, answer the cache hits, sendmmsg; and its twin.

`serve(sock, now)` reads batches of up to BATCH datagrams waiting on a
non-blocking IPv4 UDP socket, drops (and counts) those from sources that are
neither loopback nor in the allowed networks, answers the hits from an
answer cache and hands everything else back as `Batch.misses`, in the order
received, for the caller's own path. It goes on to the next batch (up to
ROUNDS) while a full batch came in and every datagram of it was answered.
`NativeBatchServer` does it in one C call with the GIL released (two system
calls per batch); `BatchServerTwin` does the same with one recvfrom/sendto
per datagram.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from native._loader import Native
from native.dns_answer import FORWARDED, SLOT, AnswerCacheTwin, NativeAnswerCache

BATCH = 64
"""Datagrams per batch (one recvmmsg)."""
ROUNDS = 8
"""Batches one serve call reads at most."""
MAX_NETS = 16
"""Allowed source networks (besides loopback)."""


@dataclass
class Batch:
    """What one serve call did."""

    received: int = 0
    """Datagrams read."""
    drained: bool = False
    """True when no more datagrams were waiting."""
    answered_zone: int = 0
    """Answered from the zone table."""
    answered_forwarded: int = 0
    """Answered from the forwarded table."""
    refused: int = 0
    """Dropped: the source is neither loopback nor allowed."""
    send_errors: int = 0
    """Replies the kernel would not take."""
    receive_error: int = 0
    """errno of a failed receive (other than EAGAIN), else 0."""
    misses: list[tuple[bytes, tuple[str, int]]] | None = None
    """(datagram, (source address, port)) for the caller to answer."""


def _networks(allowed: Iterable[IPv4Network]) -> list[tuple[int, int]]:
    nets = [(int(net.network_address), int(net.netmask)) for net in allowed]
    if len(nets) > MAX_NETS:
        raise ValueError(f"at most {MAX_NETS} allowed source networks, got {len(nets)}")
    return nets


def _allowed(nets: list[tuple[int, int]], address: int) -> bool:
    return address >> 24 == 127 or any(address & mask == net & mask for net, mask in nets)


class BatchServerTwin:
    """Pure-Python twin of NativeBatchServer."""

    def __init__(self, cache: AnswerCacheTwin, our_payload: int,
                 allowed: Iterable[IPv4Network]) -> None:
        self.cache = cache
        self.our_payload = our_payload
        self._nets = _networks(allowed)

    def serve(self, sock: socket.socket, now: float) -> Batch:
        """Batches from `sock` (non-blocking, AF_INET, SOCK_DGRAM), as NativeBatchServer."""
        batch = Batch(misses=[])
        for _ in range(ROUNDS):
            received = self._round(sock, now, batch)
            if received < BATCH:
                batch.drained = batch.receive_error == 0
                break
            if batch.misses:
                break
        return batch

    def _round(self, sock: socket.socket, now: float, batch: Batch) -> int:
        assert batch.misses is not None
        replies: list[tuple[bytes, tuple[str, int]]] = []
        received = 0
        while received < BATCH:
            try:
                data, peer = sock.recvfrom(SLOT, socket.MSG_DONTWAIT)
            except InterruptedError:
                continue
            except BlockingIOError:
                break
            except OSError as error:
                if received == 0:
                    batch.receive_error = error.errno or 0
                break
            received += 1
            if not _allowed(self._nets, int(IPv4Address(peer[0]))):
                batch.refused += 1
                continue
            hit = self.cache.answer(data, now, self.our_payload)
            if hit is None:
                batch.misses.append((data, peer))
                continue
            reply, kind = hit
            if kind == FORWARDED:
                batch.answered_forwarded += 1
            else:
                batch.answered_zone += 1
            replies.append((reply, peer))
        batch.received += received
        for reply, peer in replies:
            try:
                sock.sendto(reply, socket.MSG_DONTWAIT, peer)
            except OSError:
                batch.send_errors += 1
        return received


class NativeBatchServer:
    """Batched UDP I/O in C (native/src/dns_serve.c) over a NativeAnswerCache."""

    def __init__(self, cache: NativeAnswerCache, our_payload: int,
                 allowed: Iterable[IPv4Network]) -> None:
        if not 0 <= our_payload <= 0xFFFF:
            raise ValueError(f"our_payload is a 16-bit value, got {our_payload!r}")
        self.cache = cache
        self.our_payload = our_payload
        native: Native = cache.native
        ffi, lib = native.ffi, native.lib
        self._ffi, self._lib = ffi, lib
        raw = lib.appl_dns_server_new(our_payload)
        if raw == ffi.NULL:
            raise MemoryError("no memory for the DNS batch buffers")
        self._server = ffi.gc(raw, lib.appl_dns_server_free)
        nets = _networks(allowed)
        lib.appl_dns_server_allow(
            self._server,
            ffi.new("uint32_t[]", [net for net, _ in nets] or [0]),
            ffi.new("uint32_t[]", [mask for _, mask in nets] or [0]),
            len(nets),
        )
        self._batch = ffi.new("appl_dns_batch *")
        self._peers: dict[tuple[int, int], tuple[str, int]] = {}

    def serve(self, sock: socket.socket, now: float) -> Batch:
        """Batches from `sock` (non-blocking, AF_INET, SOCK_DGRAM): see the module's text."""
        b = self._batch
        self._lib.appl_dns_serve(self._server, self.cache.handle, sock.fileno(), now, b)
        misses = []
        for i in range(b.misses):
            data = bytes(self._ffi.buffer(b.miss_data[i], b.miss_length[i]))
            misses.append((data, self._peer(b.miss_address[i], b.miss_port[i])))
        return Batch(
            received=b.received,
            drained=bool(b.drained),
            answered_zone=b.answered_zone,
            answered_forwarded=b.answered_forwarded,
            refused=b.refused,
            send_errors=b.send_errors,
            receive_error=b.receive_error,
            misses=misses,
        )

    def _peer(self, address: int, port: int) -> tuple[str, int]:
        key = (address, port)
        peer = self._peers.get(key)
        if peer is None:
            if len(self._peers) > 4096:
                self._peers.clear()
            peer = self._peers[key] = (str(IPv4Address(address)), port)
        return peer
