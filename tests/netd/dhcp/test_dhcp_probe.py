"""Address probes from the server namespace: ARP on the LAN, ICMP echo for relayed subnets."""

from __future__ import annotations

import json

import pytest

from netd.dhcp.rawlink import arp_probe, arp_sender_ip, icmp_echo, udp_datagram
from tests.netd.dhcp.lan import Lan
from tests.support.paths import PYTHON


@pytest.mark.root
def test_arp_and_icmp_probes_find_squatters_only(lan: Lan) -> None:
    squatter = lan.add_client(1)
    lan.ns_run(squatter, "ip", "addr", "add", "10.0.0.10/24", "dev", "eth0")
    wanted = [("10.0.0.10", True), ("10.0.0.11", True), ("10.0.0.10", False), ("10.0.0.12", False)]
    result = lan.ns_run(lan.server_ns, PYTHON, "-m", "tests.netd.dhcp.probe_runner", json.dumps(wanted))
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
