"""Lease events reach the daemon's bus (granted, renewed, released) from real exchanges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dhcpt_clients import Udhcpc, run_udhcpc_once, wait_for
from dhcpt_lab import PYTHON, Lab, client_mac

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
    lab.spawn(lab.server_ns, [PYTHON, str(Path(__file__).with_name("dhcpt_events.py")), str(config),
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
    lab.spawn(lab.server_ns, [PYTHON, str(Path(__file__).with_name("dhcpt_events.py")), str(config),
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
