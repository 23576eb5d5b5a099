"""Lease events reach the daemon's bus (granted, renewed, released) from real exchanges; and
a flood that hits an engine bug is counted and logged ten times, not once per packet."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netd.dhcp.clients import Udhcpc, run_udhcpc_once, wait_for
from tests.netd.dhcp.lan import PYTHON, Lab, client_mac

pytestmark = pytest.mark.root


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path, "e")
    try:
        yield lab
    finally:
        lab.close()


def test_lease_events_on_the_bus(lab: Lab, tmp_path: Path) -> None:
    config = lab.write_config("  dhcp_range: [10.0.0.10, 10.0.0.20]\n  lease_time: 30\n")
    events = tmp_path / "events.jsonl"
    lab.spawn(lab.server_ns, [PYTHON, "-m", "tests.netd.dhcp.service_runner", str(config),
                              str(lab.state_dir), str(events)], tmp_path / "events.err")
    wait_for(events, "^ready", 20)
    client = Udhcpc(lab, lab.add_client(1), tmp_path, "-x", "hostname:pi-one")
    address = client.bound()
    client.renew()
    client.release()
    wait_for(events, '"released"', 10)
    seen = [json.loads(line) for line in events.read_text().splitlines()[1:]]
    assert [e["change"] for e in seen] == ["granted", "renewed", "released"]
    assert {e["address"] for e in seen} == {address}
    assert {e["mac"] for e in seen} == {client_mac(1)}
    assert seen[0]["name"] == "node-1" and seen[0]["hostname"] == "pi-one"
    assert seen[0]["expires"] > 0 and seen[2]["expires"] == 0


def test_expired_leases_are_reclaimed_and_published(lab: Lab, tmp_path: Path) -> None:
    config = lab.write_config("  dhcp_range: [10.0.0.10, 10.0.0.10]\n  lease_time: 10\n")
    events = tmp_path / "events.jsonl"
    lab.spawn(lab.server_ns, [PYTHON, "-m", "tests.netd.dhcp.service_runner", str(config),
                              str(lab.state_dir), str(events)], tmp_path / "events.err")
    wait_for(events, "^ready", 20)
    first = run_udhcpc_once(lab, lab.add_client(1), tmp_path)  # -q: leaves without releasing
    assert "lease of 10.0.0.10 obtained" in first.stderr, first.stderr
    second = lab.add_client(2)
    assert "obtained" not in run_udhcpc_once(lab, second, tmp_path, "-t", "2").stderr  # pool full
    wait_for(events, '"expired"', 20)
    assert "lease of 10.0.0.10 obtained" in run_udhcpc_once(lab, second, tmp_path).stderr
    changes = [json.loads(line)["change"] for line in events.read_text().splitlines()[1:]]
    assert changes == ["granted", "expired", "granted"]


def test_compaction_while_serving_keeps_every_lease(lab: Lab, tmp_path: Path) -> None:
    """Journal compaction runs (in a worker thread) while clients keep coming; after a
    kill -9 and a restart every lease is still its client's."""
    config = lab.write_config("  dhcp_range: [10.0.0.10, 10.0.0.200]\n")
    events = tmp_path / "events.jsonl"
    runner = [PYTHON, "-m", "tests.netd.dhcp.service_runner", str(config),
              str(lab.state_dir), str(events), "4"]
    server = lab.spawn(lab.server_ns, runner, tmp_path / "events.err")
    wait_for(events, "^ready", 20)
    got = {}
    for n in range(1, 9):
        result = run_udhcpc_once(lab, lab.add_client(n), tmp_path)
        got[n] = result.stderr.split("lease of ")[1].split()[0]
        if n % 3 == 0:
            time.sleep(1.2)  # let a tick see the journal and compact
    assert "lease journal compaction" in (tmp_path / "events.err").read_text()
    snapshot = (lab.state_dir / "dhcp" / "leases.snapshot").read_bytes()
    assert int(snapshot.split(b"\n")[0][5:]) >= 2  # start-up compaction + at least one while serving
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=10)
    lab.start_server(config)
    assert "8 clients" in lab.server_output()
    for n, address in got.items():
        again = run_udhcpc_once(lab, f"{lab.prefix}-c{n}", tmp_path, "-r", address)
        assert f"lease of {address} obtained" in again.stderr, again.stderr


BUGGY_FLOOD = r"""
import socket, sys
from tests.netd.dhcp.packets import client_packet, mac
from netd.dhcp import options as opt
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(100):  # chaddr 02:00:00:99:..: the runner's injected bug fires on each
    sock.sendto(client_packet(opt.DISCOVER, mac(0x990000 + n), xid=n).to_wire(), ("10.0.0.1", 67))
"""


def test_a_flood_that_hits_an_engine_bug_is_counted_and_logged_ten_times(
        lab: Lab, tmp_path: Path) -> None:
    """The server's one catch-all: it keeps serving, counts every failure, and a flood costs
    ten tracebacks, not one per packet (the bug is injected by the runner)."""
    config = lab.write_config("  dhcp_range: [10.0.0.10, 10.0.0.20]\n")
    events = tmp_path / "events.jsonl"
    log = tmp_path / "events.err"
    runner = lab.spawn(lab.server_ns, [PYTHON, "-m", "tests.netd.dhcp.service_runner",
                                       str(config), str(lab.state_dir), str(events)], log,
                       env={"DHCPT_ENGINE_BUG": "1"})
    wait_for(events, "^ready", 20)
    flooder = lab.add_client(99)
    lab.ns_run(flooder, "ip", "addr", "add", "10.0.0.99/24", "dev", "eth0")
    lab.ns_run(flooder, PYTHON, "-c", BUGGY_FLOOD, str(Path(__file__).parent), timeout=60)
    result = run_udhcpc_once(lab, lab.add_client(1), tmp_path)  # still serving
    assert "obtained" in result.stderr, result.stderr
    os.killpg(runner.pid, signal.SIGTERM)
    assert runner.wait(timeout=15) == 0
    output = log.read_text()
    counters = re.search(r"DHCP counters: (\{.*?\})", output)
    assert counters is not None, output
    assert ast.literal_eval(counters.group(1))["errors"] == 100
    assert output.count("DHCP engine failed on") == 10
    assert output.count("RuntimeError: injected bug") == 10  # each with its traceback
