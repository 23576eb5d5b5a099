"""The DNS service on real loopback sockets, in-process: events, TCP, limits, errors."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from dnslib import RCODE, DNSRecord

from foundation.errors import EnvironmentProblem
from foundation.records import NodeChange, NodeEvent, NodeRecord
from netd.bus import EventBus, Resync
from netd.dns.handler import Command
from netd.dns.service import DnsService, DnsSettings, create
from netd.service import NetdContext
from tests.netd.dns.queries import CONFIG, node, query

LOCAL = IPv4Address("127.0.0.1")


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


@asynccontextmanager
async def running(
    nodes: list[NodeRecord], upstream_port: int | None = None, **server: object
) -> AsyncIterator[tuple[DnsService, int]]:
    config = CONFIG
    if upstream_port is not None:
        network = dataclasses.replace(CONFIG.network, upstream_dns=(LOCAL,))
        config = dataclasses.replace(CONFIG, network=network)
    ctx = NetdContext(
        config=config, bus=EventBus(), state_dir=Path("."), known_nodes=lambda: list(nodes)
    )
    port = free_port()
    settings = DnsSettings(port=port, listen=(LOCAL,), upstream_port=upstream_port or 53)
    service = create(ctx, settings)
    for name, value in server.items():
        setattr(service.server, name, value)
    await service.start()
    try:
        yield service, port
    finally:
        await service.stop()


async def udp_ask(port: int, data: bytes, timeout: float = 3.0) -> bytes:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        await loop.sock_sendto(sock, data, ("127.0.0.1", port))
        async with asyncio.timeout(timeout):
            reply, _ = await loop.sock_recvfrom(sock, 65535)
    return reply


async def tcp_ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    writer.write(struct.pack(">H", len(data)) + data)
    (length,) = struct.unpack(">H", await reader.readexactly(2))
    return await reader.readexactly(length)


def addresses(reply: bytes) -> list[str]:
    return [str(rr.rdata) for rr in DNSRecord.parse(reply).rr]


def run(coroutine: Callable[[], object]) -> None:
    asyncio.run(coroutine())  # type: ignore[arg-type]


def test_names_follow_node_events_and_resync() -> None:
    nodes = [node("node-1", "10.0.0.11")]

    async def body() -> None:
        async with running(nodes) as (service, port):
            assert addresses(await udp_ask(port, query("node-1.cluster.home"))) == ["10.0.0.11"]
            service.ctx.bus.publish(NodeEvent(NodeChange.UPSERTED, node("node-3", "10.0.0.3")))
            await asyncio.sleep(0)  # the follower task runs before the next datagram is read
            assert addresses(await udp_ask(port, query("node-3.cluster.home"))) == ["10.0.0.3"]
            service.ctx.bus.publish(NodeEvent(NodeChange.REMOVED, node("node-3", "10.0.0.3")))
            await asyncio.sleep(0)
            gone = DNSRecord.parse(await udp_ask(port, query("node-3.cluster.home")))
            assert gone.header.rcode == RCODE.NXDOMAIN
            nodes.append(node("node-7", "10.0.0.7"))
            service.ctx.bus.publish(Resync())
            await asyncio.sleep(0)
            assert addresses(await udp_ask(port, query("node-7.cluster.home"))) == ["10.0.0.7"]

    run(body)


def test_tcp_carries_several_queries_per_connection_and_closes_when_idle() -> None:
    async def body() -> None:
        async with running([node("node-3", "10.0.0.3")], tcp_idle=0.3) as (_service, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for qid in range(5):
                reply = await tcp_ask(reader, writer, query("NODE-3.cluster.home", qid=qid))
                assert DNSRecord.parse(reply).header.id == qid
                assert str(DNSRecord.parse(reply).q.qname) == "NODE-3.cluster.home."
            started = time.monotonic()
            assert await reader.read(1) == b""  # the server hangs up on an idle connection
            assert time.monotonic() - started < 2
            writer.close()

    run(body)


def test_tcp_connection_limit() -> None:
    async def body() -> None:
        async with running([], max_tcp=1) as (service, port):
            first = await asyncio.open_connection("127.0.0.1", port)
            assert DNSRecord.parse(await tcp_ask(*first, query("master.cluster.home"))).rr
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await reader.read(1) == b""  # closed at once
            assert service.server.stats.tcp_refused == 1
            writer.close()
            first[1].close()

    run(body)


def test_malformed_datagrams_are_counted_and_the_server_keeps_answering() -> None:
    async def body() -> None:
        async with running([node("node-3", "10.0.0.3")]) as (service, port):
            loop = asyncio.get_running_loop()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for junk in (
                    b"",
                    b"\x00",
                    b"\xff" * 11,
                    b"\x12\x34" + b"\xff" * 40,
                    query("a.b")[:-3],
                ):
                    await loop.sock_sendto(sock, junk, ("127.0.0.1", port))
            formerr = DNSRecord.parse(
                await udp_ask(port, b"\x12\x34\x01\x00\x00\x02" + b"\x00" * 6)
            )
            assert formerr.header.rcode == RCODE.FORMERR
            assert addresses(await udp_ask(port, query("node-3.cluster.home"))) == ["10.0.0.3"]
            stats = service.counters()
            assert (
                stats["handler"]["dropped"] >= 3
            )  # short ones and the one that looks like a response
            assert stats["handler"]["formerr"] >= 2
            assert stats["server"]["internal_errors"] == 0

    run(body)


def test_upstream_that_never_answers_gives_servfail_within_two_seconds() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
        black_hole.bind(("127.0.0.1", 0))

        async def body() -> None:
            async with running([], upstream_port=black_hole.getsockname()[1]) as (service, port):
                started = time.monotonic()
                reply = DNSRecord.parse(await udp_ask(port, query("www.example.test")))
                elapsed = time.monotonic() - started
                assert reply.header.rcode == RCODE.SERVFAIL
                assert 0.5 < elapsed < 2.0
                assert service.forwarder.stats.timeouts == 1

        run(body)


def test_refused_upstream_port_gives_servfail_at_once() -> None:
    async def body() -> None:
        async with running([], upstream_port=free_port()) as (service, port):
            started = time.monotonic()
            reply = DNSRecord.parse(await udp_ask(port, query("www.example.test")))
            assert reply.header.rcode == RCODE.SERVFAIL
            assert time.monotonic() - started < 0.5
            assert service.forwarder.stats.unreachable == 1

    run(body)


def test_port_in_use_is_a_clear_environment_problem() -> None:
    async def body() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
            holder.bind(("127.0.0.1", 0))
            ctx = NetdContext(config=CONFIG, bus=EventBus(), state_dir=Path("."))
            service = create(ctx, DnsSettings(port=holder.getsockname()[1], listen=(LOCAL,)))
            with pytest.raises(EnvironmentProblem, match="cannot listen on port"):
                await service.start()
            await service.stop()

    run(body)


def test_a_query_that_hits_a_bug_is_logged_ten_times_a_minute_not_per_packet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server's one catch-all: a flood of queries that all hit the same bug (injected here,
    since the fuzzed handler has no known one) costs ten tracebacks, not one per packet."""

    async def body() -> None:
        async with running([node("node-1", "10.0.0.11")]) as (service, port):
            handler = service.server.handler
            real_handle = handler.handle

            def handle_with_a_bug(data: bytes, now: float, udp: bool) -> Command:
                if b"\x04boom" in data:
                    raise RuntimeError("injected bug")
                return real_handle(data, now, udp)

            handler.handle = handle_with_a_bug  # type: ignore[method-assign]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for qid in range(100):
                    sock.sendto(query("boom.cluster.home", qid=qid), ("127.0.0.1", port))
            # still serving, and every failure counted
            assert addresses(await udp_ask(port, query("node-1.cluster.home"))) == ["10.0.0.11"]
            assert service.server.stats.internal_errors == 100

    with caplog.at_level(logging.ERROR, logger="netd.dns.server"):
        run(body)
    failed = [r for r in caplog.records if "failed; still serving" in r.getMessage()]
    assert len(failed) == 10
    assert all(r.exc_info is not None and "injected bug" in str(r.exc_info[1]) for r in failed)
