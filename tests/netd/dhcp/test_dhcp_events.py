"""Lease events reach the daemon's bus (granted, renewed, released) from real exchanges; and
a flood that hits an engine bug is counted and logged ten times, not once per packet."""

from __future__ import annotations

import ast
import json
import re
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from hardware.lab import plumbing
from netd.dhcp import options as opt
from tests.netd.dhcp.clients import Udhcpc, run_udhcpc_once
from tests.netd.dhcp.lan import Lan, client_mac
from tests.netd.dhcp.packets import client_packet, mac
from tests.support.wait import log_text, wait_for, wait_for_line

pytestmark = pytest.mark.root


def events_of(path: Path) -> list[dict[str, Any]]:
    """The lease events the service runner wrote so far."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lease_events_on_the_bus(lan: Lan, tmp_path: Path) -> None:
    config = lan.write_config("  dhcp_range: [10.0.0.10, 10.0.0.20]\n  lease_time: 30\n")
    events = tmp_path / "events.jsonl"
    lan.start_service(config, tmp_path / "events.err", "--events", str(events))
    client = Udhcpc(lan, lan.add_client(1), tmp_path, "-x", "hostname:pi-one")
    address = client.bound()
    client.renew()
    client.release()
    wait_for_line(events, '"released"', 10)
    seen = events_of(events)
    assert [e["change"] for e in seen] == ["granted", "renewed", "released"]
    assert {e["address"] for e in seen} == {address}
    assert {e["mac"] for e in seen} == {client_mac(1)}
    assert seen[0]["name"] == "node-1" and seen[0]["hostname"] == "pi-one"
    assert seen[0]["expires"] > 0 and seen[2]["expires"] == 0


def test_expired_leases_are_reclaimed_and_published(lan: Lan, tmp_path: Path) -> None:
    config = lan.write_config("  dhcp_range: [10.0.0.10, 10.0.0.10]\n  lease_time: 10\n")
    events = tmp_path / "events.jsonl"
    lan.start_service(config, tmp_path / "events.err", "--events", str(events))
    first = run_udhcpc_once(lan, lan.add_client(1), tmp_path)  # -q: leaves without releasing
    assert "lease of 10.0.0.10 obtained" in first.stderr, first.stderr
    second = lan.add_client(2)
    assert "obtained" not in run_udhcpc_once(lan, second, tmp_path, "-t", "2").stderr  # pool full
    wait_for_line(events, '"expired"', 20)
    assert "lease of 10.0.0.10 obtained" in run_udhcpc_once(lan, second, tmp_path).stderr
    changes = [event["change"] for event in events_of(events)]
    assert changes == ["granted", "expired", "granted"]


COMPACT_AFTER = 4


def test_compaction_while_serving_keeps_every_lease(lan: Lan, tmp_path: Path) -> None:
    """Journal compaction runs (in a worker thread) while clients keep coming; after a
    kill -9 and a restart every lease is still its client's."""
    config = lan.write_config("  dhcp_range: [10.0.0.10, 10.0.0.200]\n")
    log = tmp_path / "events.err"
    server = lan.start_service(config, log, "--compact-after", str(COMPACT_AFTER))
    at_start = log_text(log).count("lease journal compaction")  # the start-up one
    got = {}
    for n in range(1, 9):
        result = run_udhcpc_once(lan, lan.add_client(n), tmp_path)
        got[n] = result.stderr.split("lease of ")[1].split()[0]
        if n == COMPACT_AFTER:
            # COMPACT_AFTER leases since the start-up snapshot make the journal due: the next
            # tick compacts it. Wait for that, then the other clients come.
            wait_for(lambda: log_text(log).count("lease journal compaction") > at_start, 10,
                     what="a compaction while serving")
    snapshot = (lan.state_dir / "dhcp" / "leases.snapshot").read_bytes()
    assert int(snapshot.split(b"\n")[0][5:]) >= 2  # start-up compaction + at least one while serving
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    lan.start_server(config)
    assert "8 clients" in lan.server_output()
    for n, address in got.items():
        again = run_udhcpc_once(lan, lan.clients[n], tmp_path, "-r", address)
        assert f"lease of {address} obtained" in again.stderr, again.stderr


def test_a_flood_that_hits_an_engine_bug_is_counted_and_logged_ten_times(
        lan: Lan, tmp_path: Path) -> None:
    """The server's one catch-all: it keeps serving, counts every failure, and a flood costs
    ten tracebacks, not one per packet (the bug is injected by the runner)."""
    config = lan.write_config("  dhcp_range: [10.0.0.10, 10.0.0.20]\n")
    log = tmp_path / "events.err"
    runner = lan.start_service(config, log, "--engine-bug")
    flooder = lan.add_client(99)
    lan.ns_run(flooder, "ip", "addr", "add", "10.0.0.99/24", "dev", "eth0")
    with plumbing.socket_in(flooder, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n in range(100):  # chaddr 02:00:00:99:..: the runner's injected bug fires on each
            sock.sendto(client_packet(opt.DISCOVER, mac(0x990000 + n), xid=n).to_wire(), ("10.0.0.1", 67))
    result = run_udhcpc_once(lan, lan.add_client(1), tmp_path)  # still serving
    assert "obtained" in result.stderr, result.stderr
    assert runner.stop(signal.SIGTERM) == 0
    output = log.read_text()
    counters = re.search(r"DHCP counters: (\{.*?\})", output)
    assert counters is not None, output
    assert ast.literal_eval(counters.group(1))["errors"] == 100
    assert output.count("DHCP engine failed on") == 10
    assert output.count("RuntimeError: injected bug") == 10  # each with its traceback
