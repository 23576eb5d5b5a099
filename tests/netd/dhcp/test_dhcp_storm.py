"""Storms: garbage and one client's DISCOVERs are dropped and counted; a storm of new clients
is probed within the probe budget and every client is offered an address."""

from __future__ import annotations

import ast
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netd.dhcp.clients import run_udhcpc_once
from tests.netd.dhcp.lan import PYTHON, Lab

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.root

FLOOD = r"""
import os, random, socket, sys
from tests.netd.dhcp.packets import client_packet, mac
from netd.dhcp import options as opt
random.seed(7)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
valid = client_packet(opt.DISCOVER, mac(1)).to_wire()
for n in range(1500):
    data = bytearray(valid)
    for _ in range(random.randint(1, 20)):
        data[random.randrange(len(data))] = random.randrange(256)
    cut = random.choice([len(data), random.randrange(0, 300)])
    sock.sendto(bytes(data[:cut]) if n % 3 else os.urandom(random.randrange(1, 600)),
                ("10.0.0.1", 67))
for n in range(400):  # one MAC hammering
    sock.sendto(client_packet(opt.DISCOVER, mac(0x77), xid=n).to_wire(), ("10.0.0.1", 67))
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path, "f")
    try:
        yield lab
    finally:
        lab.close()


def test_garbage_and_floods_are_dropped_and_counted(lab: Lab, tmp_path: Path) -> None:
    lab.start_server(lab.write_config("  dhcp_range: [10.0.0.10, 10.0.0.200]\n"))
    flooder = lab.add_client(99)
    lab.ns_run(flooder, "ip", "addr", "add", "10.0.0.99/24", "dev", "eth0")
    lab.ns_run(flooder, PYTHON, "-c", FLOOD, str(Path(__file__).parent), timeout=60)
    client = lab.add_client(1)
    result = run_udhcpc_once(lab, client, tmp_path)
    assert result.returncode == 0 and "obtained" in result.stderr, result.stderr
    assert lab.kill_server(signal.SIGTERM) == 0
    counters = re.search(r"DHCP counters: (\{.*?\})", lab.server_output())
    assert counters is not None, lab.server_output()
    values = ast.literal_eval(counters.group(1))
    assert values["malformed"] > 100
    assert values["rate_limited"] > 100
    assert values.get("errors", 0) == 0
    assert "Traceback" not in lab.server_output()


NEW_CLIENTS = r"""
import socket, sys
from tests.netd.dhcp.packets import client_packet, mac
from netd.dhcp import options as opt
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(int(sys.argv[2])):  # as fast as one socket sends: every one a new client
    sock.sendto(client_packet(opt.DISCOVER, mac(5000 + n), xid=n).to_wire(), ("10.0.0.1", 67))
"""

WIRE_WATCH = r"""
import socket, sys, time
from netd.dhcp.wire import parse
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
sock.bind(("eth0", 0))
with open(sys.argv[2], "w", buffering=1) as out:
    out.write("ready\n")
    while True:
        frame = sock.recv(4096)
        if frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x01" \
                and frame[28:32] == bytes(4):  # ARP request from 0.0.0.0: an RFC 5227 probe
            out.write(f"probe {time.monotonic():.6f} {frame[38:42].hex()}\n")
        elif frame[12:14] == b"\x08\x00" and frame[23] == 17:
            udp = 14 + (frame[14] & 0x0F) * 4
            if frame[udp + 2:udp + 4] == b"\x00\x44":  # to port 68: a reply of the server
                packet = parse(frame[udp + 8:])
                if packet.options.get(53) == b"\x02":
                    out.write(f"offer {packet.chaddr.hex()} {packet.yiaddr.hex()}\n")
"""


def test_a_storm_of_new_clients_is_probed_within_the_budget_and_all_are_offered(
        tmp_path: Path) -> None:
    """The probe budget seen on the wire: 256 at once then 64/s, the rest offered unprobed."""
    clients = 900
    lab = Lab(tmp_path, "b", prefixlen=22)
    try:
        lab.start_server(lab.write_config("  dhcp_range: [10.0.0.10, 10.0.3.250]\nkubernetes:\n"
                                          "  pod_cidr: 100.64.0.0/10\n  node_cidr_mask: 28\n"))
        watcher_ns = lab.add_client(1)
        wire_log = tmp_path / "wire.log"
        lab.spawn(watcher_ns, [PYTHON, "-c", WIRE_WATCH, str(REPO), str(wire_log)],
                  tmp_path / "watch.out")
        deadline = time.monotonic() + 10
        while not (wire_log.exists() and wire_log.read_text().startswith("ready")):
            assert time.monotonic() < deadline, "the wire watcher did not start"
            time.sleep(0.05)
        flooder = lab.add_client(2)
        lab.ns_run(flooder, "ip", "addr", "add", "10.0.0.99/22", "dev", "eth0")
        lab.ns_run(flooder, PYTHON, "-c", NEW_CLIENTS, str(Path(__file__).parent), str(clients),
                   timeout=60)
        deadline = time.monotonic() + 15
        while True:
            lines = wire_log.read_text().splitlines()
            offers = {line.split()[1]: line.split()[2] for line in lines if line.startswith("offer")}
            if len(offers) >= clients or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        probes = [line.split() for line in lines if line.startswith("probe")]
        assert lab.kill_server(signal.SIGTERM) == 0
        engine = re.search(r"engine: (\{.*?\})", lab.server_output())
        assert engine is not None, lab.server_output()
        engine_stats = ast.literal_eval(engine.group(1))
    finally:
        lab.close()
    # every new client got an offer, each a different address, and none got 10.0.0.99: the
    # flooder holds it, and the probe of it (in the burst) was answered
    assert len(offers) == clients
    assert len(set(offers.values())) == clients
    assert "0a000063" not in offers.values()
    assert engine_stats["probe_conflict"] == 1
    # the LAN saw the burst probed address by address, then no more than the rate allows
    times = [float(probe[1]) for probe in probes]
    assert len(probes) >= 256
    assert len(probes) <= 256 + 64 * (max(times) - min(times)) + 2
    assert len({probe[2] for probe in probes}) == len(probes)  # no address probed twice
    # the rest were offered unprobed and counted (the conflict cost its client one more probe)
    assert engine_stats["probe_skipped_load"] + len(probes) == clients + 1
