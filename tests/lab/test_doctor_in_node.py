"""`appliance doctor` run for real inside a lab board: it must describe that board, not the host.

The board's root is a plain Debian root (python3, python3-yaml, iptables) without
the appliance installed, so the test copies the doctor's modules into the
board's /tmp and runs `python3 -m hardware.doctor -o json` there, the way
provisioning runs it over SSH. Every expectation is read on the board with
ordinary commands, independently of the doctor.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import pytest

from hardware.lab.testing import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.root]

REPO = Path(__file__).resolve().parents[2]
DOCTOR_MODULES = [
    "appliance/__init__.py", "appliance/errors.py",
    "hardware/__init__.py", "hardware/models.py", "hardware/support.py", "hardware/cmdline.py",
    "hardware/swap.py",
    *sorted(str(p.relative_to(REPO)) for p in (REPO / "hardware" / "doctor").glob("*.py")),
]
BOARD = "pi-3"
WHERE = "/tmp/appliance-doctor"


def _payload() -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in DOCTOR_MODULES:
            archive.add(REPO / name, arcname=name)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _board(lab: LabHandle, command: str) -> str:
    return lab.run(BOARD, command).stdout


def test_doctor_reports_the_board_honestly(lab: LabHandle) -> None:
    lab.run(BOARD, f"rm -rf {WHERE} && mkdir -p {WHERE} && base64 -d | tar -xz -C {WHERE}", input=_payload())
    try:
        result = lab.run(BOARD, f"cd {WHERE} && python3 -m hardware.doctor -o json", check=False, timeout=60)
    finally:
        lab.run(BOARD, f"rm -rf {WHERE}", check=False)
    assert result.returncode in (0, 1), result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
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
