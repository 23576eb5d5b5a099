"""Our DNS server in a 'master' namespace, asked by dig from the LAN and from the home side.

Real dnsmasq upstream in an 'internet' namespace, real dig, real veths.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest

from tests.netd.dns.topology import PYTHON, Topology, new_topology, sh

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
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    workdir = tmp_path_factory.mktemp("dnst")
    topology = new_topology(workdir)
    try:
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
    finally:
        topology.destroy()


def counters(lab: Topology) -> dict[str, dict[str, int]]:
    stats = lab.workdir / "stats.json"
    stats.unlink(missing_ok=True)
    os.kill(lab.processes["ours"].pid, signal.SIGUSR1)  # ip netns exec execs: this is our server
    for _ in range(50):
        if stats.exists() and stats.stat().st_size:
            return json.loads(stats.read_text())  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("the server wrote no counters")


def test_cluster_names_and_reverse_lookup(lab: Topology) -> None:
    forward = lab.dig(lab.client, "@10.0.0.1", "Node-3.Cluster.Home")
    assert forward.status == "NOERROR" and "aa" in forward.flags
    assert forward.data() == ["10.0.0.3"]
    assert forward.answers[0].startswith("Node-3.Cluster.Home.")  # the asker's case, echoed
    reverse = lab.dig(lab.client, "@10.0.0.1", "-x", "10.0.0.3")
    assert reverse.data() == ["node-3.cluster.home."]
    missing = lab.dig(lab.client, "@10.0.0.1", "node-9.cluster.home")
    assert missing.status == "NXDOMAIN"
    nodata = lab.dig(lab.client, "@10.0.0.1", "node-3.cluster.home", "AAAA")
    assert (nodata.status, nodata.answers) == ("NOERROR", [])
    local = lab.dig(
        lab.master, "@127.0.0.1", "node-1.cluster.home"
    )  # the master itself, on localhost
    assert local.data() == ["10.0.0.11"]


def test_tcp_query(lab: Topology) -> None:
    result = lab.dig(lab.client, "+tcp", "@10.0.0.1", "kubernetes.cluster.home")
    assert result.data() == ["10.0.0.1"]
    forwarded = lab.dig(lab.client, "+tcp", "@10.0.0.1", "tcp.example.test")
    assert forwarded.data() == ["203.0.113.80"]


def test_large_answer_is_truncated_over_udp_and_whole_over_tcp(lab: Topology) -> None:
    cut = lab.dig(lab.client, "+noedns", "+ignore", "@10.0.0.1", "big.example.test", "TXT")
    assert "tc" in cut.flags and cut.answers == []
    retried = lab.dig(
        lab.client, "+noedns", "@10.0.0.1", "big.example.test", "TXT"
    )  # dig falls back to TCP
    assert "tc" not in retried.flags and len(retried.answers) == 1
    assert "Truncated, retrying in TCP mode" in retried.text
    tcp = lab.dig(lab.client, "+tcp", "@10.0.0.1", "big.example.test", "TXT")
    assert tcp.data() == retried.data()
    small_edns = lab.dig(
        lab.client, "+bufsize=512", "+ignore", "@10.0.0.1", "big.example.test", "TXT"
    )
    assert "tc" in small_edns.flags


def test_nothing_is_answered_from_the_uplink_side(lab: Topology) -> None:
    for target in (
        "192.0.2.1",
        "10.0.0.1",
    ):  # the uplink address, and the LAN address routed via it
        for transport in ("+notcp", "+tcp"):
            started = time.monotonic()
            result = lab.dig(
                lab.internet, transport, "-b", "192.0.2.100", f"@{target}", "node-3.cluster.home"
            )
            assert result.status == "NO-ANSWER", result.text
            assert time.monotonic() - started < 10
    assert counters(lab)["server"]["refused_source"] >= 2


def test_malformed_datagrams_are_counted_and_the_server_keeps_answering(lab: Topology) -> None:
    before = counters(lab)["handler"]
    send = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "for junk in (b'', b'x', b'\\x12\\x34' + b'\\xff' * 30, b'\\x12\\x34\\x01\\x00\\x00\\x01' + b'\\x00' * 6 + b'\\x3fabc'):\n"
        "    s.sendto(junk, ('10.0.0.1', 53))\n"
    )
    sh("ip", "netns", "exec", lab.client, PYTHON, "-c", send)
    assert lab.dig(lab.client, "@10.0.0.1", "node-1.cluster.home").data() == ["10.0.0.11"]
    after = counters(lab)
    assert after["handler"]["dropped"] - before["dropped"] >= 3
    assert after["handler"]["formerr"] - before["formerr"] >= 1
    assert after["server"]["internal_errors"] == 0
    assert lab.processes["ours"].poll() is None


def test_external_name_through_the_upstream_then_the_cache_then_servfail(lab: Topology) -> None:
    first = lab.dig(lab.client, "@10.0.0.1", "www.example.test")
    assert first.data() == ["203.0.113.80"]
    fetched_at = time.monotonic()
    lab.stop("upstream")
    try:
        cached = lab.dig(lab.client, "@10.0.0.1", "WWW.example.test")
        assert cached.data() == ["203.0.113.80"]
        assert cached.answers[0].startswith("WWW.example.test.")
        assert cached.ttls()[0] <= 3
        started = time.monotonic()
        down = lab.dig(lab.client, "@10.0.0.1", "other.example.test")
        assert down.status == "SERVFAIL"
        assert time.monotonic() - started < 2.0
        time.sleep(max(0.0, fetched_at + 3.2 - time.monotonic()))  # the TTL (3 s) runs out
        expired = lab.dig(lab.client, "@10.0.0.1", "www.example.test")
        assert expired.status == "SERVFAIL"
    finally:
        start_upstream(lab)
    stats = counters(lab)
    assert stats["cache"]["hits"] >= 1 and stats["forwarder"]["timeouts"] >= 1  # 192.0.2.99 is dead
