"""Address probes from the server namespace: ARP on the LAN, ICMP echo for relayed subnets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from netd.dhcp.rawlink import arp_probe, arp_sender_ip, icmp_echo, udp_datagram
from tests.netd.dhcp.lan import PYTHON, Lab

PROBE = r"""
import asyncio, json, sys
from ipaddress import IPv4Address
from netd.dhcp.rawlink import Prober

async def main():
    results = {}
    done = asyncio.Event()
    wanted = json.loads(sys.argv[1])
    def report(batch):
        for token, in_use in batch:
            results[token] = in_use
        if len(results) == len(wanted):
            done.set()
    prober = Prober("br0", 0.3, report)
    for token, (address, on_link) in enumerate(wanted, start=1):
        prober.probe(token, IPv4Address(address), on_link)
    await asyncio.wait_for(done.wait(), 5)
    prober.close()
    print(json.dumps([results[t] for t in range(1, len(wanted) + 1)]))

asyncio.run(main())
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path, "p")
    try:
        yield lab
    finally:
        lab.close()


@pytest.mark.root
def test_arp_and_icmp_probes_find_squatters_only(lab: Lab) -> None:
    squatter = lab.add_client(1)
    lab.ns_run(squatter, "ip", "addr", "add", "10.0.0.10/24", "dev", "eth0")
    wanted = [("10.0.0.10", True), ("10.0.0.11", True), ("10.0.0.10", False), ("10.0.0.12", False)]
    result = lab.ns_run(lab.server_ns, PYTHON, "-c", PROBE, json.dumps(wanted))
    assert json.loads(result.stdout) == [True, False, True, False]


def test_frame_builders() -> None:
    datagram = udp_datagram(b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x0a", 67, 68, b"x" * 300)
    assert len(datagram) == 20 + 8 + 300
    from native.checksum import inet_checksum_py
    assert inet_checksum_py(datagram[:20]) == 0  # a valid IPv4 header checksum
    assert datagram[9] == 17 and datagram[20:24] == b"\x00\x43\x00\x44"
    probe = arp_probe(b"\x02" * 6, b"\x0a\x00\x00\x0a")
    assert len(probe) == 28 and arp_sender_ip(probe) is None  # sender 0.0.0.0 (RFC 5227)
    reply = probe[:14] + b"\x0a\x00\x00\x0a" + probe[18:]
    assert arp_sender_ip(reply) == b"\x0a\x00\x00\x0a"
    assert arp_sender_ip(b"\x00" * 10) is None
    assert inet_checksum_py(icmp_echo(1, 2)) == 0
