"""Faults: a power cut keeps the board's disk; a pulled cable cuts it off until plugged back."""

from __future__ import annotations

import pytest

from hardware.lab import nodes as boards
from hardware.lab import plumbing
from hardware.lab.testing import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.root]


def test_power_cut_kills_everything_and_the_disk_survives(lab: LabHandle) -> None:
    node = lab.node("pi-4")
    lab.run("pi-4", "echo survives > /root/power-test; sync")
    host_key = lab.read_file("pi-4", "/etc/ssh/ssh_host_ed25519_key.pub")
    # A process that would have to be killed too (a clean shutdown would not count).
    lab.run("pi-4", "setsid sleep 1000 >/dev/null 2>&1 < /dev/null &")
    assert boards.init_pid(node) is not None

    lab.power("pi-4", "off")
    assert boards.init_pid(node) is None
    assert plumbing.namespace_pids(node.namespace) == []
    assert lab.status()["nodes"][4]["state"] == "off"

    lab.power("pi-4", "on")
    assert lab.read_file("pi-4", "/root/power-test") == "survives\n"
    assert lab.read_file("pi-4", "/etc/ssh/ssh_host_ed25519_key.pub") == host_key
    status, out = lab.ssh_run("pi-4", "cat /root/power-test; pgrep -c sleep || true")
    assert status == 0 and out.split() == ["survives", "0"]


def test_pulled_cable_cuts_the_board_off_until_plugged_back(lab: LabHandle) -> None:
    address = lab.address("pi-3")
    ping = f"ping -c 1 -W 1 {address}"
    assert lab.run("master", ping, check=False).returncode == 0
    lab.link("pi-3", "down")
    try:
        assert lab.run("master", ping, check=False).returncode != 0
        assert lab.read_file("pi-3", "/sys/class/net/eth0/carrier").strip() == "0"
        assert lab.status()["nodes"][3]["link"] == "down"
    finally:
        lab.link("pi-3", "up")
    lab.wait_for(lambda: lab.run("master", ping, check=False).returncode == 0, timeout=10,
                 what="pi-3 reachable after plugging the cable back")
    assert lab.read_file("pi-3", "/sys/class/net/eth0/carrier").strip() == "1"


def test_power_on_twice_is_refused_with_a_fix(lab: LabHandle) -> None:
    with pytest.raises(Exception, match="already powered on; fix: appliance lab power pi-1 off"):
        lab.power("pi-1", "on")
