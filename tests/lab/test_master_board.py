"""The master board: the master Pi's own root with systemd and sshd, beside the daemon in the master's namespace."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hardware.lab import board_files, plumbing, services
from hardware.lab import nodes as boards
from hardware.lab import topology as t
from tests.support.lab import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.root]

APPLIANCE = [sys.executable, "-m", "appliance.cli.main"]


def _daemon_pid(lab: LabHandle) -> object:
    return services.daemon_status(lab.dirs.run).get("pid")


def test_the_master_answers_ssh_on_its_lan_address_as_root_and_pi(lab: LabHandle) -> None:
    master = str(lab.plan.master_address.ip)
    assert lab.address(t.MASTER_BOARD) == master
    for user in ("root", "pi"):
        status, out = lab.ssh_run(t.MASTER_BOARD, "hostname; id -un; ip -4 -o addr show eth0", user=user)
        hostname, name, *address = out.split()
        assert (status, hostname, name) == (0, board_files.MASTER_HOSTNAME, user)
        assert f"{master}/{lab.plan.subnet.prefixlen}" in address  # the daemon's address, seen from the board
    result = subprocess.run([*APPLIANCE, "lab", "ssh", "master", "--", "cat /proc/1/comm"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, "systemd"), result.stderr


def test_master_and_master_board_are_two_views_of_one_pi(lab: LabHandle) -> None:
    board_root = lab.run(t.MASTER_BOARD, "test -e /work; echo $?").stdout.strip()
    host_root = lab.run("master", "command -v appliance").stdout.strip()
    assert board_root == "1" and host_root  # the board has its own root; `master` is the host's files
    same_net = {lab.run(name, "readlink /proc/self/ns/net").stdout.strip() for name in ("master", t.MASTER_BOARD)}
    assert len(same_net) == 1
    status = json.loads(subprocess.run([*APPLIANCE, "lab", "status", "-o", "json"], capture_output=True,
                                       text=True, check=True).stdout)
    rows = {n["name"]: n for n in status["nodes"]}
    assert rows[t.MASTER_BOARD]["role"] == "master" and rows[t.MASTER_BOARD]["ssh"] is True
    assert rows["master"]["ssh"] is True
    assert rows[t.MASTER_BOARD]["kernel"]["memory_cgroup"] is False
    assert status["kubernetes"]["simulated"] is True and "simulated" in status["kubernetes"]["note"]


def test_the_master_boards_network_manager_leaves_the_daemons_links_alone(lab: LabHandle) -> None:
    devices = dict(line.split(":") for line in lab.run(t.MASTER_BOARD, "nmcli -t -f DEVICE,STATE device")
                   .stdout.split())
    assert devices["eth0"] == devices["wlan0"] == "unmanaged"
    assert lab.run(t.MASTER_BOARD, "systemctl is-active pilab-dhcp.service", check=False).stdout.strip() \
        == "inactive"


def test_power_cycling_the_master_board_leaves_the_daemon_serving(lab: LabHandle) -> None:
    daemon = lab.wait_for(lambda: _daemon_pid(lab), timeout=15, what="master daemon")
    eth0 = plumbing.ipv4_addresses(t.MASTER_NS, "eth0")
    lab.power(t.MASTER_BOARD, "off")
    try:
        assert boards.init_pid(lab.plan.master_board) is None
        assert not plumbing.tcp_listening(t.MASTER_NS, 22)
        assert _daemon_pid(lab) == daemon and plumbing.ipv4_addresses(t.MASTER_NS, "eth0") == eth0
        if lab.plan.addressing == "dhcp":
            assert plumbing.udp_port_bound(t.MASTER_NS, 67)
    finally:
        lab.power(t.MASTER_BOARD, "on")
    assert _daemon_pid(lab) == daemon and plumbing.ipv4_addresses(t.MASTER_NS, "eth0") == eth0
    # The daemon still answers for the boards: DNS through the master's address.
    pi1 = lab.address("pi-1")
    assert pi1 is not None
    answer = lab.run("master", f"dig +short +time=2 @{lab.plan.master_address.ip} -x {pi1}").stdout
    if lab.plan.addressing == "dhcp":
        assert answer.strip().endswith(".")


def test_a_reboot_inside_the_master_board_keeps_the_masters_namespace(lab: LabHandle) -> None:
    daemon = lab.wait_for(lambda: _daemon_pid(lab), timeout=15, what="master daemon")
    old = boards.init_pid(lab.plan.master_board)
    links = plumbing.run(["ip", "-n", t.MASTER_NS, "-o", "link", "show"])
    lab.run(t.MASTER_BOARD, "systemctl reboot", check=False)
    lab.wait_for(lambda: boards.init_pid(lab.plan.master_board) not in (None, old)
                 and plumbing.tcp_listening(t.MASTER_NS, 22), timeout=60, what="master board rebooted")
    assert plumbing.run(["ip", "-n", t.MASTER_NS, "-o", "link", "show"]).count("\n") == links.count("\n")
    assert _daemon_pid(lab) == daemon
