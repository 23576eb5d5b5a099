"""Sends the same datagrams through the C batch server and its twin on real UDP sockets.

Run directly (`python dns_serve_driver.py`) inside a network namespace whose
loopback also holds 10.0.0.3 and 192.0.2.7, it prints one JSON line per
server: what serve() returned and what each client got back. The tests
import `exchange` and run it on plain loopback too.
"""

from __future__ import annotations

import json
import select
import socket
from ipaddress import IPv4Network

from native._loader import load
from native.dns_answer import FORWARDED, ZONE, AnswerCacheTwin, NativeAnswerCache
from native.dns_serve import BatchServerTwin, NativeBatchServer
from tests.native.dns_packets import query, reply, wire_name

NODE = wire_name([b"node-3", b"cluster", b"home"])
WWW = wire_name([b"www", b"example", b"test"])


def _servers(which: str, allowed: list[IPv4Network]):  # type: ignore[no-untyped-def]
    if which == "c":
        native = load()
        assert native is not None, "the extension must be built"
        cache = NativeAnswerCache(native, seed=1)
        return cache, NativeBatchServer(cache, 1232, allowed)
    twin = AnswerCacheTwin()
    return twin, BatchServerTwin(twin, 1232, allowed)


def hits_only() -> list[bytes]:
    """130 hits: one serve call reads them all, three rounds of recvmmsg."""
    return [query([b"node-3", b"cluster", b"home"], 1, 1, qid=i) for i in range(130)]


def traffic() -> list[bytes]:
    """Hits (zone, forwarded, EDNS), misses, junk: 80 datagrams (40 hits), more than one batch."""
    base = [
        query([b"node-3", b"cluster", b"home"], 1, 1, qid=1),
        query([b"NODE-3", b"Cluster", b"home"], 1, 1, qid=2, edns=(1232, 0, False, b"")),
        query([b"www", b"example", b"test"], 1, 1, qid=3),
        query([b"www", b"example", b"test"], 1, 1, qid=4, edns=(1232, 0, True, b"")),  # DO: miss
        query([b"other", b"example", b"test"], 1, 1, qid=5),
        b"\x00\x01",
        query([b"node-3", b"cluster", b"home"], 252, 1, qid=6),
        query([b"www", b"example", b"test"], 1, 1, qid=7, edns=(100, 0, False, b"x" * 500)),  # hit
    ]
    return base * 10


def exchange(which: str, senders: list[str], server_address: str = "127.0.0.1",
             allowed: tuple[str, ...] = ("10.0.0.0/24",), datagrams: list[bytes] | None = None,
             ) -> dict[str, object]:
    """Every sender sends `datagrams` (`traffic()`); serve() until the socket is empty; what
    happened."""
    cache, server = _servers(which, [IPv4Network(a) for a in allowed])
    cache.put(ZONE, NODE, 1, 1, False, *reply(NODE, 1, 1, [30], flags=0x8580), 0.0, float("inf"))
    cache.put(FORWARDED, WWW, 1, 1, False, *reply(WWW, 1, 1, [300], flags=0x8180), 10.0, 400.0)
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    listener.bind((server_address, 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    clients = []
    for address in senders:
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.bind((address, 0))
        clients.append(client)
        for data in traffic() if datagrams is None else datagrams:
            client.sendto(data, (server_address, port))
    batches = []
    select.select([listener], [], [], 5)
    while True:
        batch = server.serve(listener, 110.5)
        if batch.received == 0:
            break
        batches.append({
            "received": batch.received, "drained": batch.drained, "zone": batch.answered_zone,
            "forwarded": batch.answered_forwarded, "refused": batch.refused,
            "send_errors": batch.send_errors, "receive_error": batch.receive_error,
            "misses": [[data.hex(), peer[0], peer[1] == c_port(clients, peer)]
                       for data, peer in batch.misses or ()],
        })
    got = {}
    for address, client in zip(senders, clients, strict=True):
        client.setblocking(False)
        replies = []
        while select.select([client], [], [], 0.3)[0]:
            replies.append(client.recv(65535).hex())
        got[address] = replies
        client.close()
    listener.close()
    return {"batches": batches, "replies": got}


def c_port(clients: list[socket.socket], peer: tuple[str, int]) -> int:
    """The port of the client socket bound to peer's address (misses must name it)."""
    for client in clients:
        if client.getsockname()[0] == peer[0]:
            return int(client.getsockname()[1])
    return -1


if __name__ == "__main__":
    senders = ["127.0.0.1", "10.0.0.3", "192.0.2.7"]
    for which in ("c", "twin"):
        print(json.dumps({which: exchange(which, senders)}), flush=True)
