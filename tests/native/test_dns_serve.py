"""The C batch server (recvmmsg/sendmmsg) and its twin on real UDP sockets: the same results.

80 datagrams per client (hits from both tables, misses, junk) read in
batches of at most 64: the same counters, the same misses with their
sources, the same replies at each client. In a network namespace, a source
outside the allowed networks and loopback is dropped and counted.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys

import pytest

from tests.native.dns_serve_driver import exchange, hits_only, traffic
from tests.support.paths import REPO


def test_c_and_twin_serve_loopback_alike() -> None:
    c, twin = exchange("c", ["127.0.0.1"]), exchange("twin", ["127.0.0.1"])
    assert c == twin
    batches = c["batches"]
    assert isinstance(batches, list)
    assert [(b["received"], b["drained"]) for b in batches] == [(64, False), (16, True)]
    assert sum(b["zone"] for b in batches) == 20 and sum(b["forwarded"] for b in batches) == 20
    assert sum(len(b["misses"]) for b in batches) == 40
    assert all(port_ok for b in batches for _, _, port_ok in b["misses"])
    replies = c["replies"]
    assert isinstance(replies, dict) and len(replies["127.0.0.1"]) == 40
    assert len(traffic()) == 80


def test_one_call_reads_batch_after_batch_while_all_are_hits() -> None:
    c, twin = (exchange(which, ["127.0.0.1"], datagrams=hits_only()) for which in ("c", "twin"))
    assert c == twin
    batches, replies = c["batches"], c["replies"]
    assert isinstance(batches, list) and isinstance(replies, dict)
    assert [(b["received"], b["drained"], b["zone"]) for b in batches] == [(130, True, 130)]
    assert len(replies["127.0.0.1"]) == 130


@pytest.mark.root
def test_sources_outside_the_allowed_networks_are_dropped_and_counted() -> None:
    assert shutil.which("ip"), "iproute2 is needed (scripts/install)"
    ns = f"nt-dns-{secrets.token_hex(2)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for command in (["link", "set", "lo", "up"], ["addr", "add", "10.0.0.3/32", "dev", "lo"],
                        ["addr", "add", "192.0.2.7/32", "dev", "lo"]):
            subprocess.run(["ip", "-n", ns, *command], check=True)
        result = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.native.dns_serve_driver"],
            capture_output=True, text=True, timeout=120, check=True, cwd=REPO,
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    runs = {}
    for line in result.stdout.splitlines():
        runs.update(json.loads(line))
    assert runs["c"] == runs["twin"]
    batches = runs["c"]["batches"]
    assert sum(b["received"] for b in batches) == 240
    assert sum(b["refused"] for b in batches) == 80  # every datagram of 192.0.2.7
    assert runs["c"]["replies"]["192.0.2.7"] == []
    assert len(runs["c"]["replies"]["10.0.0.3"]) == len(runs["c"]["replies"]["127.0.0.1"]) == 40
    sources = {source for b in batches for _, source, _ in b["misses"]}
    assert sources == {"127.0.0.1", "10.0.0.3"}
