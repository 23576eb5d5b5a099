"""A booted lab: boards with their own hostname, root and sshd; the home network and the internet."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hardware.lab import topology as t
from hardware.lab.testing import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.root]

BOARDS = ["pi-1", "pi-2", "pi-3", "pi-4"]


def test_status_json_has_the_contract_keys(lab: LabHandle) -> None:
    out = subprocess.run([sys.executable, "-m", "appliance.cli.main", "lab", "status", "-o", "json"],
                         capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    assert [n["name"] for n in doc["nodes"]] == ["master", *BOARDS, "master-board"]
    for node in doc["nodes"]:
        assert {"name", "role", "namespace", "mac", "address", "state", "ssh"} <= node.keys()
    workers = [n for n in doc["nodes"] if n["role"] == "worker"]
    assert all(n["state"] == "running" and n["ssh"] is True and n["address"] for n in workers)
    assert len({n["address"] for n in workers}) == 4
    assert {"namespace", "master_uplink_address"} <= doc["home"].keys()
    assert doc["internet"]["http"] == str(t.INTERNET_HTTP) and doc["internet"]["dns"] == str(t.INTERNET_DNS)
    assert {"url", "user", "password"} <= doc["web"].keys()


@pytest.mark.parametrize("board", BOARDS)
def test_board_answers_ssh_as_itself(lab: LabHandle, board: str) -> None:
    status, out = lab.ssh_run(board, "hostname; cat /etc/hostname; id -u; cat /proc/1/comm")
    assert status == 0
    hostname, etc_hostname, uid, init = out.split()
    assert (hostname, etc_hostname, uid) == (board, board, "0")
    assert init == "systemd"  # its own PID namespace: PID 1 is the board's init


def test_pi_user_logs_in_with_the_lab_key_and_has_sudo(lab: LabHandle) -> None:
    status, out = lab.ssh_run("pi-2", "id -un; sudo -n id -u", user="pi")
    assert (status, out.split()) == (0, ["pi", "0"])


def test_each_board_has_its_own_root(lab: LabHandle) -> None:
    lab.run("pi-1", "echo only-on-pi-1 > /root/own-root-marker")
    assert lab.read_file("pi-1", "/root/own-root-marker") == "only-on-pi-1\n"
    assert lab.run("pi-2", "test -e /root/own-root-marker", check=False).returncode == 1
    # …and the host's filesystem is not the board's.
    assert lab.run("pi-1", "test -e /work", check=False).returncode == 1


def test_macs_are_raspberry_pi_macs(lab: LabHandle) -> None:
    for board in BOARDS:
        mac = lab.read_file(board, "/sys/class/net/eth0/address").strip()
        assert mac == lab.node(board).mac
        assert mac[:8] in t.PI_OUIS


def test_master_uplink_gets_an_address_from_the_home_router(lab: LabHandle) -> None:
    address = lab.wait_for(lambda: lab.status()["home"]["master_uplink_address"], timeout=15,
                           what="master's wlan0 lease")
    assert address.startswith("192.0.2.")
    route = lab.run("master", "ip -4 route show default").stdout
    assert f"via {t.HOME_ROUTER.ip} dev wlan0" in route


def test_internet_serves_dns_and_http_to_the_master(lab: LabHandle) -> None:
    dig = lab.run("master", f"dig +short +time=2 @{t.INTERNET_DNS} www.example.com").stdout.split()
    assert dig == [str(t.INTERNET_HTTP)]
    nx = lab.run("master", f"dig +time=2 @{t.INTERNET_DNS} no-such.example.org").stdout
    assert "status: NXDOMAIN" in nx
    page = lab.run("master", f"curl -sS -m 5 http://{t.INTERNET_HTTP}/").stdout
    assert page == "hello from the pilab internet\n"


def test_lab_is_sealed(lab: LabHandle) -> None:
    host_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert t.PREFIX not in host_links and "pilab" not in host_links
    # The outermost namespace has no default route: nothing can leave the lab.
    assert lab.run("home", "ip route get 1.1.1.1", check=False).returncode != 0
    assert lab.run("home", "ip route get 10.0.0.11", check=False).returncode != 0


def test_exec_reaches_boards_by_address_and_mac(lab: LabHandle) -> None:
    address = lab.address("pi-3")
    assert address
    assert lab.run(address, "hostname").stdout.strip() == "pi-3"
    assert lab.run(lab.node("pi-4").mac.upper(), "hostname").stdout.strip() == "pi-4"


def test_lab_ssh_uses_the_real_ssh_client(lab: LabHandle) -> None:
    result = subprocess.run([sys.executable, "-m", "appliance.cli.main", "lab", "ssh", "-l", "pi", "pi-1",
                             "--", "hostname; id -un"], capture_output=True, text=True, timeout=30, check=False)
    assert (result.returncode, result.stdout.split()) == (0, ["pi-1", "pi"]), result.stderr
