"""The DNS service with the fast path on and off, side by side on real loopback sockets.

The same datagrams (cluster names in any letter case, with and without
EDNS, NXDOMAIN, junk, a response, a FORMERR) go to both; every reply is
byte for byte the same and, after the same traffic, so are all the counters
(what C answered is counted as the handler would have counted it).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from netd.bus import EventBus
from netd.dns.service import DnsService, DnsSettings
from netd.service import NetdContext
from tests.netd.dns.queries import CONFIG, node, query
from tests.netd.dns.test_dns_service import LOCAL, free_port

NODES = [node(f"node-{n}", f"10.0.0.{10 + n}") for n in range(1, 4)]
ASKED = [
    query("node-1.cluster.home"), query("NODE-1.Cluster.Home", qid=9), query("node-2.cluster.home", edns=1232),
    query("node-2.cluster.home", edns=4096, do=True), query("13.0.0.10.in-addr.arpa", "PTR"),
    query("nosuch.cluster.home"), query("master.cluster.home", "ANY", rd=False),
    query("node-1.cluster.home", "AXFR"), query("node-1.cluster.home", edns=1232)[:-2],
    b"\x12\x34\x01\x00\x00\x02" + b"\x00" * 6,
]
DROPPED = [b"\x00" * 5, query("node-1.cluster.home")[:2] + b"\x81\x80" + query("node-1.cluster.home")[4:]]


@asynccontextmanager
async def serving(fast_path: bool) -> AsyncIterator[tuple[DnsService, int]]:
    ctx = NetdContext(config=CONFIG, bus=EventBus(), state_dir=Path("."), known_nodes=lambda: NODES)
    port = free_port()
    service = DnsService(ctx, DnsSettings(port=port, listen=(LOCAL,), fast_path=fast_path))
    assert (service.fast_path is not None) == fast_path
    await service.start()
    try:
        yield service, port
    finally:
        await service.stop()


async def exchange(port: int, data: bytes, expect_reply: bool) -> bytes | None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        await loop.sock_sendto(sock, data, ("127.0.0.1", port))
        try:
            async with asyncio.timeout(3.0 if expect_reply else 0.3):
                return (await loop.sock_recvfrom(sock, 65535))[0]
        except TimeoutError:
            return None


def test_fast_and_python_paths_answer_and_count_alike() -> None:
    async def body() -> None:
        async with serving(True) as (fast, fast_port), serving(False) as (slow, slow_port):
            for rounds in range(3):  # the first round makes the zone templates, later ones hit them
                for data in ASKED + DROPPED:
                    wanted = data not in DROPPED
                    replies = [await exchange(port, data, wanted) for port in (fast_port, slow_port)]
                    assert replies[0] == replies[1], (rounds, data)
                    assert (replies[0] is not None) == wanted, data
            counters = fast.counters(), slow.counters()
            assert counters[0]["fast_path"]["answered"] >= 2 * 6  # rounds two and three
            assert counters[1]["fast_path"] == {}
            for part in ("handler", "cache", "server", "forwarder"):
                assert counters[0][part] == counters[1][part], part

    asyncio.run(body())
