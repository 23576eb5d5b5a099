"""`appliance doctor` run for real inside a lab board: it must describe that board, not the host.

The board's root is a plain Debian root (python3, python3-yaml, iptables)
without the appliance installed, so the test copies the doctor's modules into
the board's /tmp (`provisioning.payload.DOCTOR`) and runs
`python3 -m hardware.doctor -o json` there, the way provisioning runs it over
SSH. Every expectation is read on the board with ordinary commands,
independently of the doctor.
"""

from __future__ import annotations

import base64

import pytest

from hardware.doctor.report import REMOTE_COMMAND, parse_report
from provisioning.payload import DOCTOR
from tests.support.lab import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.root]

BOARD = "pi-3"
WHERE = "/tmp/appliance-doctor"


def _board(lab: LabHandle, command: str) -> str:
    return lab.run(BOARD, command).stdout


def test_doctor_reports_the_board_honestly(lab: LabHandle) -> None:
    payload = base64.b64encode(DOCTOR.tar()).decode("ascii")
    lab.run(BOARD, f"rm -rf {WHERE} && mkdir -p {WHERE} && base64 -d | tar -xz -C {WHERE}", input=payload)
    try:
        result = lab.run(BOARD, f"cd {WHERE} && {REMOTE_COMMAND}", check=False, timeout=60)
    finally:
        lab.run(BOARD, f"rm -rf {WHERE}", check=False)
    assert result.returncode in (0, 1), result.stderr
    checks = {c.name: {"status": c.status, "detail": c.detail} for c in parse_report(result.stdout, BOARD)}
    assert result.returncode == (1 if any(c["status"] == "fail" for c in checks.values()) else 0)

    # Architecture: what the board's own uname and dpkg say.
    machine = _board(lab, "uname -m").strip()
    dpkg_arch = _board(lab, "dpkg --print-architecture").strip()
    assert checks["arch"]["detail"].startswith(f"kernel {machine}, userland {dpkg_arch}")

    # A lab board is a namespace on a PC, not a Raspberry Pi: say so, do not invent one.
    is_pi = "Revision" in _board(lab, "grep -c '^Revision' /proc/cpuinfo || true").replace("0", "")
    if not is_pi:
        assert checks["board"]["status"] == "warn"
        assert checks["board"]["detail"].startswith("not a Raspberry Pi")
        assert checks["throttling"]["detail"].startswith("not applicable: not a Raspberry Pi")

    # Sysctls are per network namespace: the board's own value, not the host's.
    forward = _board(lab, "cat /proc/sys/net/ipv4/ip_forward").strip()
    assert (checks["net.ipv4.ip_forward"]["status"] == "ok") == (forward == "1")

    # Swap, container runtime and iptables as the board has them.
    swaps = _board(lab, "tail -n +2 /proc/swaps").strip()
    assert (checks["swap"]["status"] == "ok") == (swaps == "")
    has_socket = lab.run(BOARD, "test -S /run/containerd/containerd.sock", check=False).returncode == 0
    assert (checks["container-runtime"]["status"] != "fail") == has_socket
    iptables = lab.run(BOARD, "iptables --version", check=False).stdout
    assert (checks["iptables"]["status"] != "fail") == ("nf_tables" in iptables)

    # Disk: the board's root file system (its overlay), as df sees it there.
    assert "/:" in checks["disk"]["detail"]
