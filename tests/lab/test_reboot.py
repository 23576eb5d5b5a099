"""`reboot` inside a board reboots it (same disk, fresh network state, DHCP again); poweroff powers it off."""

from __future__ import annotations

import pytest

from hardware.lab import nodes as boards
from hardware.lab import plumbing
from tests.support.lab import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.root]


def _booted(lab: LabHandle, board: str, old_init: int | None) -> bool:
    pid = boards.init_pid(lab.node(board))
    if pid is None or pid == old_init:
        return False
    state = lab.run(board, "systemctl is-system-running", check=False).stdout.strip()
    return state in ("running", "degraded")


@pytest.mark.parametrize("command", ["reboot", "systemctl reboot"])
def test_reboot_keeps_the_disk_and_host_key_and_renews_the_network(lab: LabHandle, command: str) -> None:
    board = "pi-2"
    node = lab.node(board)
    old_init = boards.init_pid(node)
    host_key = lab.read_file(board, "/etc/ssh/ssh_host_ed25519_key.pub")
    boot_id = lab.read_file(board, "/proc/sys/kernel/random/boot_id")  # the host's: one kernel
    lab.run(board, "echo kept > /root/reboot-marker; sync")
    # Kernel state a reboot loses: an extra address, an nftables table, a process.
    lab.run(board, "ip addr add 203.0.113.9/32 dev lo && nft add table inet reboottest")
    lab.run(board, "setsid sleep 1000 >/dev/null 2>&1 < /dev/null &")

    lab.run(board, command, check=False)
    lab.wait_for(lambda: _booted(lab, board, old_init), timeout=60, what=f"{board} back after {command}")
    lab.wait_for(lambda: lab.status()["nodes"][2]["ssh"], timeout=30, what=f"{board} answering SSH")

    assert lab.read_file(board, "/root/reboot-marker") == "kept\n"
    assert lab.read_file(board, "/etc/ssh/ssh_host_ed25519_key.pub") == host_key
    assert lab.read_file(board, "/proc/sys/kernel/random/boot_id") == boot_id
    status, out = lab.ssh_run(board, "ip -o addr show dev lo | grep -c 203.0.113.9 || true; "
                                     "nft list tables; pgrep -c -x sleep || true")
    assert status == 0 and out.split() == ["0", "0"]
    if lab.plan.addressing == "dhcp":
        # The address came from a DHCP exchange in this boot (the journal of this boot only).
        log = lab.run(board, "journalctl -b -o cat -u pilab-dhcp.service").stdout
        client = node.dhcp_client
        evidence = {"udhcpc": "obtained", "dhcpcd": "leased", "dhclient": "bound to"}[client]
        assert evidence in log, log
    console = (lab.dirs.run / "logs" / f"{board}.console").read_text()
    assert f"pilab: {board}: reboot" in console


def test_poweroff_inside_powers_the_board_off_until_power_on(lab: LabHandle) -> None:
    board = "pi-4"
    node = lab.node(board)
    lab.run(board, "systemctl poweroff", check=False)
    lab.wait_for(lambda: not boards.powered(node, boards.board_paths(lab.dirs.base, lab.dirs.run, board)),
                 timeout=30, what=f"{board} off")
    assert lab.status()["nodes"][4]["state"] == "off"
    assert plumbing.ipv4_addresses(node.namespace, "eth0") == []  # a blank network namespace
    lab.power(board, "on")
    assert lab.status()["nodes"][4]["ssh"] is True


def test_power_cut_is_still_instant(lab: LabHandle) -> None:
    import time

    board = "pi-3"
    started = time.monotonic()
    lab.power(board, "off")
    assert time.monotonic() - started < 3
    assert boards.init_pid(lab.node(board)) is None
    assert plumbing.namespace_pids(lab.node(board).namespace) == []
    lab.power(board, "on")
