"""Boards boot systemd like Raspberry Pi OS: units, sshd as ssh.service, NetworkManager, guards for the host."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hardware.lab import topology as t
from tests.support.lab import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.root]

BOARDS = ["pi-1", "pi-2", "pi-3", "pi-4", t.MASTER_BOARD]
RUNNING_UNITS = ("systemd-journald.service", "dbus.service", "systemd-logind.service",
                 "NetworkManager.service", "ssh.service")

CAP_SYS_MODULE, CAP_SYS_ADMIN, CAP_SYS_TIME = 16, 21, 25


def _system_state(lab: LabHandle, board: str) -> str | None:
    state = lab.run(board, "systemctl is-system-running", check=False).stdout.strip()
    return state if state in ("running", "degraded") else None


@pytest.mark.parametrize("board", BOARDS)
def test_board_boots_systemd_to_running_with_no_failed_unit(lab: LabHandle, board: str) -> None:
    state = lab.wait_for(lambda: _system_state(lab, board), timeout=30, what=f"{board} booted")
    failed = lab.run(board, "systemctl list-units --failed --plain --no-legend").stdout.strip()
    assert (state, failed) == ("running", "")
    assert lab.read_file(board, "/proc/1/comm").strip() == "systemd"
    active = lab.run(board, ["systemctl", "is-active", *RUNNING_UNITS]).stdout.split()
    assert active == ["active"] * len(RUNNING_UNITS)
    assert lab.run(board, "systemctl is-enabled ssh.service").stdout.strip() == "enabled"
    # The lab's own units come from /run (the "firmware"), not from the board's disk.
    fragment = lab.run(board, "systemctl show -P FragmentPath pilab-board.service").stdout.strip()
    assert fragment == "/run/systemd/system/pilab-board.service"
    assert lab.run(board, "ls /etc/systemd/system | grep -c pilab || true").stdout.strip() == "0"


def test_units_that_cannot_work_in_a_namespace_are_masked_at_runtime(lab: LabHandle) -> None:
    units = ["console-getty.service", "systemd-remount-fs.service", "sys-kernel-debug.mount",
             "sshd-keygen.service"]  # the last: the lab makes the host key on lab disks
    states = lab.run("pi-1", ["systemctl", "is-enabled", *units], check=False).stdout.split()
    assert states == ["masked-runtime"] * len(units)
    assert lab.run("pi-1", "test -L /etc/systemd/system/console-getty.service", check=False).returncode == 1


def test_sshd_runs_as_debians_unit_with_the_boards_own_key(lab: LabHandle) -> None:
    status, out = lab.ssh_run("pi-2", "systemctl show -P MainPID ssh.service; pgrep -o -x sshd")
    main_pid, sshd = out.split()
    assert status == 0 and main_pid == sshd
    key = lab.read_file("pi-2", "/etc/ssh/ssh_host_ed25519_key.pub")
    assert key != lab.read_file("pi-3", "/etc/ssh/ssh_host_ed25519_key.pub")


def test_networkmanager_leaves_eth0_to_the_labs_addressing(lab: LabHandle) -> None:
    devices = lab.run("pi-1", "nmcli -t -f DEVICE,STATE device").stdout.split()
    assert "eth0:unmanaged" in devices
    resolv = lab.read_file("pi-1", "/etc/resolv.conf")
    assert "NetworkManager" not in resolv and "nameserver" in resolv
    client = lab.node("pi-1").dhcp_client
    if lab.plan.addressing == "dhcp":
        assert lab.run("pi-1", "systemctl is-active pilab-dhcp.service").stdout.strip() == "active"
        assert client in lab.run("pi-1", "systemctl show -P ExecMainPID pilab-dhcp.service | xargs ps -o comm= -p"
                                 ).stdout


def test_a_board_cannot_change_the_hosts_kernel(lab: LabHandle) -> None:
    swappiness = Path("/proc/sys/vm/swappiness").read_text()
    clock = time.time()
    # Kernel-wide sysctls are read-only; the board's own network sysctls are not.
    assert lab.run("pi-3", "echo 7 > /proc/sys/vm/swappiness", check=False).returncode != 0
    if Path("/proc/sysrq-trigger").exists():
        assert lab.run("pi-3", "echo h > /proc/sysrq-trigger", check=False).returncode != 0
    lab.run("pi-3", "echo 1 > /proc/sys/net/ipv4/ip_forward")
    assert lab.run("pi-3", "cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    assert Path("/proc/sys/vm/swappiness").read_text() == swappiness
    # No setting the clock, no loading modules: the capabilities are gone from the bounding set of
    # the board's processes and of what `lab exec` runs there. (Checked by reading the sets, never
    # by trying: with the capability, the host's clock would move.)
    for status in (lab.read_file("pi-3", "/proc/1/status"), lab.run("pi-3", "cat /proc/self/status").stdout):
        bounding = int(next(line.split()[1] for line in status.splitlines() if line.startswith("CapBnd:")), 16)
        assert not bounding & (1 << CAP_SYS_TIME) and not bounding & (1 << CAP_SYS_MODULE)
        assert bounding & (1 << CAP_SYS_ADMIN)
    assert abs(time.time() - clock) < 60
    # Its /sys is read-only and it sees its own cgroup as the root of the hierarchy.
    assert lab.run("pi-3", "touch /sys/kernel/pilab-test", check=False).returncode != 0
    assert "0::/init.scope" in lab.run("pi-3", "cat /proc/1/cgroup").stdout.splitlines()
    assert "debugfs" not in lab.read_file("pi-3", "/proc/1/mounts")


def test_each_board_has_its_own_machine_id_and_ipc(lab: LabHandle) -> None:
    ids = {lab.read_file(board, "/etc/machine-id").strip() for board in BOARDS}
    assert len(ids) == len(BOARDS) and all(len(i) == 32 for i in ids)
    ipc = {lab.run(board, "readlink /proc/1/ns/ipc").stdout.strip() for board in BOARDS}
    assert len(ipc) == len(BOARDS)
