"""A board's kernel switches follow its /boot/firmware/cmdline.txt and rpi-swap settings across reboots, as a Pi's.

The doctor (run from the payload, as provisioning runs it) and plain reads of /proc and
/sys must agree with what the lab's firmware emulated: memory cgroup off on a stock Pi OS
board, on after `cgroup_enable=memory` is added and the board rebooted; zram swap on by
default, off after rpi-swap's drop-in, `swapoff -a` and a reboot.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from hardware.cmdline import enable_memory_cgroup
from hardware.doctor.report import REMOTE_COMMAND, parse_report
from hardware.lab import nodes as boards
from hardware.lab.firmware import DT_BOOTARGS
from hardware.swap import RPI_SWAP_DROPIN, RPI_SWAP_DROPIN_TEXT
from provisioning.payload import DOCTOR
from tests.support.lab import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.root]

BOARD = "pi-4"
INDEX = 4  # its row in `lab status`
DOCTOR_DIR = "/tmp/appliance-doctor"


def _reboot(lab: LabHandle) -> None:
    old = boards.init_pid(lab.node(BOARD))
    lab.run(BOARD, "reboot", check=False)

    def back() -> bool:
        pid = boards.init_pid(lab.node(BOARD))
        return pid not in (None, old) and lab.run(BOARD, "systemctl is-system-running", check=False
                                                  ).stdout.strip() in ("running", "degraded")

    lab.wait_for(back, timeout=60, what=f"{BOARD} rebooted")


def _doctor(lab: LabHandle) -> dict[str, str]:
    payload = base64.b64encode(DOCTOR.tar()).decode("ascii")
    lab.run(BOARD, f"rm -rf {DOCTOR_DIR} && mkdir -p {DOCTOR_DIR} && base64 -d | tar -xz -C {DOCTOR_DIR}",
            input=payload)
    result = lab.run(BOARD, f"cd {DOCTOR_DIR} && {REMOTE_COMMAND}", check=False, timeout=60)
    return {c.name: c.status for c in parse_report(result.stdout, BOARD)}


@pytest.fixture
def stock_board(lab: LabHandle) -> Iterator[str]:
    """pi-4 with Pi OS's stock cmdline.txt and swap settings, restored afterwards."""
    stock = lab.read_file(BOARD, "/boot/firmware/cmdline.txt")
    assert "cgroup_enable" not in stock, "pi-4 was left provisioned by an earlier test"
    try:
        yield BOARD
    finally:
        lab.run(BOARD, f"rm -f {RPI_SWAP_DROPIN} && cat > /boot/firmware/cmdline.txt", input=stock, check=False)
        _reboot(lab)


def test_memory_cgroup_and_swap_follow_the_boot_files_across_reboots(lab: LabHandle, stock_board: str) -> None:
    # A stock Pi OS board: the device tree's cgroup_disable=memory, then cmdline.txt.
    cmdline_txt = lab.read_file(BOARD, "/boot/firmware/cmdline.txt").strip()
    assert lab.read_file(BOARD, "/proc/cmdline").strip() == f"{DT_BOOTARGS} {cmdline_txt}"
    assert "memory" not in lab.read_file(BOARD, "/sys/fs/cgroup/cgroup.controllers").split()
    assert "memory" in lab.read_file(BOARD, "/proc/cgroups")
    assert [line.split()[3] for line in lab.read_file(BOARD, "/proc/cgroups").splitlines()
            if line.startswith("memory")] == ["0"]
    assert lab.read_file(BOARD, "/proc/swaps").splitlines()[1].startswith("/dev/zram0")
    kernel = lab.status()["nodes"][INDEX]["kernel"]
    assert kernel["memory_cgroup"] is False and kernel["cmdline"].startswith(DT_BOOTARGS)
    checks = _doctor(lab)
    assert (checks["memory-cgroup"], checks["swap"]) == ("fail", "fail")

    # What provisioning does (hardware.cmdline, hardware.swap), then a reboot.
    lab.run(BOARD, "cat > /boot/firmware/cmdline.txt", input=enable_memory_cgroup(cmdline_txt + "\n"))
    lab.run(BOARD, f"cat > {RPI_SWAP_DROPIN}", input=RPI_SWAP_DROPIN_TEXT)
    lab.run(BOARD, "swapoff -a")
    assert lab.read_file(BOARD, "/proc/swaps").count("\n") == 1  # only the header: off at once
    assert "memory" not in lab.read_file(BOARD, "/sys/fs/cgroup/cgroup.controllers").split()  # not yet
    _reboot(lab)

    assert lab.read_file(BOARD, "/proc/cmdline").strip().endswith("cgroup_enable=memory cgroup_memory=1")
    assert "memory" in lab.read_file(BOARD, "/sys/fs/cgroup/cgroup.controllers").split()
    assert [line.split()[3] for line in lab.read_file(BOARD, "/proc/cgroups").splitlines()
            if line.startswith("memory")] == ["1"]
    assert lab.read_file(BOARD, "/proc/swaps").count("\n") == 1  # rpi-swap's drop-in holds
    # systemd and cloud-init in a container read PID 1's arguments: the same line.
    init_args = lab.read_file(BOARD, "/proc/1/cmdline").split("\0")
    assert " ".join(a for a in init_args[1:] if a) == lab.read_file(BOARD, "/proc/cmdline").strip()
    assert lab.status()["nodes"][INDEX]["kernel"]["memory_cgroup"] is True
    checks = _doctor(lab)
    assert (checks["memory-cgroup"], checks["swap"]) == ("ok", "ok")
    assert lab.run(BOARD, "systemctl is-system-running").stdout.strip() == "running"


def test_swapoff_of_something_else_fails_as_the_kernel_would(lab: LabHandle) -> None:
    result = lab.run("pi-1", "swapoff /dev/sda9", check=False)
    assert result.returncode != 0 and "swapoff failed" in result.stderr
    assert lab.read_file("pi-1", "/proc/swaps").splitlines()[1].startswith("/dev/zram0")
