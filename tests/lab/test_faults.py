"""Faults: a power cut keeps the board's disk; a pulled cable cuts it off until plugged back."""

from __future__ import annotations

import pytest

from hardware.lab import nodes as boards
from hardware.lab import plumbing
from tests.support.lab import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.root]


def test_power_cut_kills_everything_and_the_disk_survives(lab: LabHandle) -> None:
    node = lab.node("pi-4")
    lab.run("pi-4", "echo survives > /root/power-test; sync")
    host_key = lab.read_file("pi-4", "/etc/ssh/ssh_host_ed25519_key.pub")
    # A process that would have to be killed too (a clean shutdown would not count).
    lab.run("pi-4", "setsid sleep 1000 >/dev/null 2>&1 < /dev/null &")
    # Kernel state that a real power cut loses: an extra address, an nftables table.
    lab.run("pi-4", "ip addr add 203.0.113.7/32 dev lo && nft add table inet powertest")
    assert boards.init_pid(node) is not None

    lab.power("pi-4", "off")
    assert boards.init_pid(node) is None
    assert plumbing.namespace_pids(node.namespace) == []
    assert lab.status()["nodes"][4]["state"] == "off"
    assert plumbing.ipv4_addresses(node.namespace, "eth0") == []


    lab.power("pi-4", "on")
    assert lab.read_file("pi-4", "/root/power-test") == "survives\n"
    assert lab.read_file("pi-4", "/etc/ssh/ssh_host_ed25519_key.pub") == host_key
    status, out = lab.ssh_run("pi-4", "cat /root/power-test; pgrep -c sleep || true; "
                                      "ip -o addr show dev lo | grep -c 203.0.113.7 || true; nft list tables")
    assert status == 0 and out.split() == ["survives", "0", "0"]


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


def test_a_pulled_cable_stays_pulled_across_a_power_cycle(lab: LabHandle) -> None:
    lab.link("pi-1", "down")
    try:
        lab.power("pi-1", "off")
        lab.power("pi-1", "on", wait=0)
        assert lab.status()["nodes"][1]["link"] == "down"
        mac = lab.node("pi-1").mac
        lab.wait_for(lambda: lab.read_file("pi-1", "/sys/class/net/eth0/address").strip() == mac,
                     timeout=10, what="pi-1 booted with its own MAC")
    finally:
        lab.link("pi-1", "up")
    lab.wait_for(lambda: lab.status()["nodes"][1]["ssh"], timeout=30, what="pi-1 answering SSH again")
