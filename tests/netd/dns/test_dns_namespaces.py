"""Our DNS server in a 'master' namespace, asked by dig from the LAN and from the home side.

Real dnsmasq upstream in an 'internet' namespace, real dig, real veths.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from hardware.lab import plumbing
from tests.netd.dns.topology import Topology
from tests.support.netns import NetnsKit
from tests.support.paths import PYTHON
from tests.support.wait import wait_for

pytestmark = pytest.mark.root

BIG = ",".join(f'"{c * 200}"' for c in "abcdefg")  # a 1400+ byte TXT answer: over 1232 bytes too


def start_upstream(topology: Topology) -> None:
    topology.dnsmasq(
        "upstream",
        topology.internet,
        "192.0.2.53",
        "--no-resolv",
        "--local-ttl=3",
        "--address=/example.test/203.0.113.80",
        f"--txt-record=big.example.test,{BIG}",
    )


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """The namespaces with the upstream and our server running, shared by this module's tests."""
    workdir = tmp_path_factory.mktemp("dns")
    with NetnsKit(workdir) as net:
        topology = Topology(net, workdir)
        # upstream_dns: auto, read from what the uplink's DHCP client wrote; the first resolver is dead.
        (workdir / "resolv.conf").write_text("nameserver 192.0.2.99\nnameserver 192.0.2.53\n")
        start_upstream(topology)
        topology.start(
            "ours",
            topology.master,
            PYTHON,
            "-m",
            "netd.dns",
            "--node",
            "node-3=10.0.0.3",
            "--node",
            "node-1=10.0.0.11",
            "--resolv-conf",
            str(workdir / "resolv.conf"),
            "--stats-file",
            str(workdir / "stats.json"),
            ready="ready",
        )
        yield topology


def counters(topology: Topology) -> dict[str, dict[str, int]]:
    stats = topology.workdir / "stats.json"
    stats.unlink(missing_ok=True)
    os.kill(topology.processes["ours"].pid, signal.SIGUSR1)  # ip netns exec execs: this is our server
    wait_for(lambda: stats.exists() and stats.stat().st_size, 5, what="the server's counters written")
    return json.loads(stats.read_text())  # type: ignore[no-any-return]


def test_cluster_names_and_reverse_lookup(topology: Topology) -> None:
    forward = topology.dig(topology.client, "@10.0.0.1", "Node-3.Cluster.Home")
    assert forward.status == "NOERROR" and "aa" in forward.flags
    assert forward.data() == ["10.0.0.3"]
    assert forward.answers[0].startswith("Node-3.Cluster.Home.")  # the asker's case, echoed
    reverse = topology.dig(topology.client, "@10.0.0.1", "-x", "10.0.0.3")
    assert reverse.data() == ["node-3.cluster.home."]
    missing = topology.dig(topology.client, "@10.0.0.1", "node-9.cluster.home")
    assert missing.status == "NXDOMAIN"
    nodata = topology.dig(topology.client, "@10.0.0.1", "node-3.cluster.home", "AAAA")
    assert (nodata.status, nodata.answers) == ("NOERROR", [])
    local = topology.dig(
        topology.master, "@127.0.0.1", "node-1.cluster.home"
    )  # the master itself, on localhost
    assert local.data() == ["10.0.0.11"]


def test_tcp_query(topology: Topology) -> None:
    result = topology.dig(topology.client, "+tcp", "@10.0.0.1", "kubernetes.cluster.home")
    assert result.data() == ["10.0.0.1"]
    forwarded = topology.dig(topology.client, "+tcp", "@10.0.0.1", "tcp.example.test")
    assert forwarded.data() == ["203.0.113.80"]


def test_large_answer_is_truncated_over_udp_and_whole_over_tcp(topology: Topology) -> None:
    cut = topology.dig(topology.client, "+noedns", "+ignore", "@10.0.0.1", "big.example.test", "TXT")
    assert "tc" in cut.flags and cut.answers == []
    retried = topology.dig(
        topology.client, "+noedns", "@10.0.0.1", "big.example.test", "TXT"
    )  # dig falls back to TCP
    assert "tc" not in retried.flags and len(retried.answers) == 1
    assert "Truncated, retrying in TCP mode" in retried.text
    tcp = topology.dig(topology.client, "+tcp", "@10.0.0.1", "big.example.test", "TXT")
    assert tcp.data() == retried.data()
    small_edns = topology.dig(
        topology.client, "+bufsize=512", "+ignore", "@10.0.0.1", "big.example.test", "TXT"
    )
    assert "tc" in small_edns.flags


def test_nothing_is_answered_from_the_uplink_side(topology: Topology) -> None:
    for target in (
        "192.0.2.1",
        "10.0.0.1",
    ):  # the uplink address, and the LAN address routed via it
        for transport in ("+notcp", "+tcp"):
            started = time.monotonic()
            result = topology.dig(
                topology.internet, transport, "-b", "192.0.2.100", f"@{target}", "node-3.cluster.home"
            )
            assert result.status == "NO-ANSWER", result.text
            assert time.monotonic() - started < 10
    assert counters(topology)["server"]["refused_source"] >= 2


def test_malformed_datagrams_are_counted_and_the_server_keeps_answering(topology: Topology) -> None:
    before = counters(topology)["handler"]
    with plumbing.socket_in(topology.client, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for junk in (b"", b"x", b"\x12\x34" + b"\xff" * 30, b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\x3fabc"):
            sock.sendto(junk, ("10.0.0.1", 53))
    assert topology.dig(topology.client, "@10.0.0.1", "node-1.cluster.home").data() == ["10.0.0.11"]
    after = counters(topology)
    assert after["handler"]["dropped"] - before["dropped"] >= 3
    assert after["handler"]["formerr"] - before["formerr"] >= 1
    assert after["server"]["internal_errors"] == 0
    assert topology.processes["ours"].running()


def test_external_name_through_the_upstream_then_the_cache_then_servfail(topology: Topology) -> None:
    asked_at = time.monotonic()  # the server cached the name after this
    first = topology.dig(topology.client, "@10.0.0.1", "www.example.test")
    assert first.data() == ["203.0.113.80"]
    topology.stop("upstream")
    try:
        cached = topology.dig(topology.client, "@10.0.0.1", "WWW.example.test")
        assert cached.data() == ["203.0.113.80"]
        assert cached.answers[0].startswith("WWW.example.test.")
        assert cached.ttls()[0] <= 3
        started = time.monotonic()
        down = topology.dig(topology.client, "@10.0.0.1", "other.example.test")
        assert down.status == "SERVFAIL"
        assert time.monotonic() - started < 2.0
        # The name is served from the cache until its TTL (3 s) runs out, then no more.
        wait_for(lambda: topology.dig(topology.client, "@10.0.0.1", "www.example.test").status == "SERVFAIL",
                 10, interval=0.2, what="the cached name expired")
        assert time.monotonic() - asked_at >= 3.0  # not before its TTL ran out
    finally:
        start_upstream(topology)
    stats = counters(topology)
    assert stats["cache"]["hits"] >= 1 and stats["forwarder"]["timeouts"] >= 1  # 192.0.2.99 is dead
