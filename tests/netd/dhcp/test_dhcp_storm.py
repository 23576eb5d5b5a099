"""Storms: garbage and one client's DISCOVERs are dropped and counted; a storm of new clients
is probed within the probe budget and every client is offered an address."""

from __future__ import annotations

import ast
import random
import re
import signal
import socket
from pathlib import Path

import pytest

from hardware.lab import plumbing
from netd.dhcp import options as opt
from tests.netd.dhcp.clients import run_udhcpc_once
from tests.netd.dhcp.lan import Lan
from tests.netd.dhcp.packets import client_packet, mac
from tests.support.netns import NetnsKit
from tests.support.paths import PYTHON
from tests.support.wait import wait_for, wait_for_line

pytestmark = pytest.mark.root


def send_from(ns: str, datagrams: list[bytes]) -> None:
    """Send each datagram to the server's port 67, from a socket inside namespace `ns`."""
    with plumbing.socket_in(ns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, ("10.0.0.1", 67))


def garbage_and_one_hammering_mac() -> list[bytes]:
    """1500 mangled, cut or random datagrams, then 400 DISCOVERs of one MAC (seeded: the same
    storm every run)."""
    rng = random.Random(7)
    valid = client_packet(opt.DISCOVER, mac(1)).to_wire()
    datagrams = []
    for n in range(1500):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cut = rng.choice([len(data), rng.randrange(0, 300)])
        datagrams.append(bytes(data[:cut]) if n % 3 else rng.randbytes(rng.randrange(1, 600)))
    datagrams += [client_packet(opt.DISCOVER, mac(0x77), xid=n).to_wire() for n in range(400)]
    return datagrams


def test_garbage_and_floods_are_dropped_and_counted(lan: Lan, tmp_path: Path) -> None:
    lan.start_server(lan.write_config("  dhcp_range: [10.0.0.10, 10.0.0.200]\n"))
    flooder = lan.add_client(99)
    lan.ns_run(flooder, "ip", "addr", "add", "10.0.0.99/24", "dev", "eth0")
    send_from(flooder, garbage_and_one_hammering_mac())
    client = lan.add_client(1)
    result = run_udhcpc_once(lan, client, tmp_path)
    assert result.returncode == 0 and "obtained" in result.stderr, result.stderr
    assert lan.kill_server(signal.SIGTERM) == 0
    counters = re.search(r"DHCP counters: (\{.*?\})", lan.server_output())
    assert counters is not None, lan.server_output()
    values = ast.literal_eval(counters.group(1))
    assert values["malformed"] > 100
    assert values["rate_limited"] > 100
    assert values.get("errors", 0) == 0
    assert "Traceback" not in lan.server_output()


@pytest.fixture
def big_lan(net: NetnsKit, tmp_path: Path) -> Lan:
    """A /22: room for 900 clients."""
    return Lan(net, tmp_path, prefixlen=22)


def test_a_storm_of_new_clients_is_probed_within_the_budget_and_all_are_offered(
        big_lan: Lan, tmp_path: Path) -> None:
    """The probe budget seen on the wire: 256 at once then 64/s, the rest offered unprobed."""
    lan, clients = big_lan, 900
    lan.start_server(lan.write_config("  dhcp_range: [10.0.0.10, 10.0.3.250]\nkubernetes:\n"
                                      "  pod_cidr: 100.64.0.0/10\n  node_cidr_mask: 28\n"))
    watcher_ns = lan.add_client(1)
    wire_log = tmp_path / "wire.log"
    lan.spawn(watcher_ns, [PYTHON, "-m", "tests.netd.dhcp.wire_watch", str(wire_log)], tmp_path / "watch.out")
    wait_for_line(wire_log, "^ready", 10)
    flooder = lan.add_client(2)
    lan.ns_run(flooder, "ip", "addr", "add", "10.0.0.99/22", "dev", "eth0")
    # As fast as one socket sends: every one a new client.
    send_from(flooder, [client_packet(opt.DISCOVER, mac(5000 + n), xid=n).to_wire() for n in range(clients)])

    def offers() -> dict[str, str]:
        lines = [line.split() for line in wire_log.read_text().splitlines()]
        return {fields[1]: fields[2] for fields in lines if fields[0] == "offer"}

    def all_offered() -> dict[str, str] | None:
        found = offers()
        return found if len(found) >= clients else None

    offered = wait_for(all_offered, 15, what=f"offers to all {clients} clients")
    probes = [line.split() for line in wire_log.read_text().splitlines() if line.startswith("probe")]
    assert lan.kill_server(signal.SIGTERM) == 0
    engine = re.search(r"engine: (\{.*?\})", lan.server_output())
    assert engine is not None, lan.server_output()
    engine_stats = ast.literal_eval(engine.group(1))
    # every new client got an offer, each a different address, and none got 10.0.0.99: the
    # flooder holds it, and the probe of it (in the burst) was answered
    assert len(offered) == clients
    assert len(set(offered.values())) == clients
    assert "0a000063" not in offered.values()
    assert engine_stats["probe_conflict"] == 1
    # the LAN saw the burst probed address by address, then no more than the rate allows
    times = [float(probe[1]) for probe in probes]
    assert len(probes) >= 256
    assert len(probes) <= 256 + 64 * (max(times) - min(times)) + 2
    assert len({probe[2] for probe in probes}) == len(probes)  # no address probed twice
    # the rest were offered unprobed and counted (the conflict cost its client one more probe)
    assert engine_stats["probe_skipped_load"] + len(probes) == clients + 1
