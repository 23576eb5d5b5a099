"""The whole doctor, run for real on this machine: it must report what is really there.

Each expectation is read here independently and more simply than the doctor
does (no shared code), so a doctor that invents results fails.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO


def doctor_json(*prefix: str) -> tuple[int, dict[str, dict[str, str]]]:
    done = subprocess.run([*prefix, sys.executable, "-m", "hardware.doctor", "-o", "json"],
                          capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    checks = json.loads(done.stdout)["checks"]
    return done.returncode, {c["name"]: c for c in checks}


def test_reports_this_machine_honestly() -> None:
    code, checks = doctor_json()
    assert code == (1 if any(c["status"] == "fail" for c in checks.values()) else 0)
    assert platform.machine() in checks["arch"]["detail"]

    cpuinfo = Path("/proc/cpuinfo").read_text()
    is_pi = any(line.startswith("Revision") for line in cpuinfo.splitlines())
    if not is_pi:
        assert checks["board"]["status"] == "warn" and "not a Raspberry Pi" in checks["board"]["detail"]
        if shutil.which("vcgencmd") is None and not Path("/sys/devices/platform/soc/soc:firmware/get_throttled").exists():
            assert checks["throttling"]["status"] == "warn"
            assert checks["throttling"]["detail"].startswith("not applicable")

    swap_lines = Path("/proc/swaps").read_text().splitlines()[1:]
    assert (checks["swap"]["status"] == "ok") == (not swap_lines)

    ip_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    assert (checks["net.ipv4.ip_forward"]["status"] == "ok") == (ip_forward == "1")

    mem_kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    assert f"{mem_kb // 1024} MiB" in checks["memory"]["detail"]

    unified = Path("/sys/fs/cgroup/cgroup.controllers")
    if unified.exists():
        memory_on = "memory" in unified.read_text().split()
    else:
        memory_on = any(line.split()[:1] == ["memory"] and line.split()[-1] == "1"
                        for line in Path("/proc/cgroups").read_text().splitlines())
    assert (checks["memory-cgroup"]["status"] == "ok") == memory_on

    if shutil.which("iptables"):
        version = subprocess.run(["iptables", "--version"], capture_output=True, text=True, check=False).stdout
        assert (checks["iptables"]["status"] != "fail") == ("nf_tables" in version)

    running = Path("/run/containerd/containerd.sock").exists()
    assert (checks["container-runtime"]["status"] != "fail") == running
    assert "/:" in checks["disk"]["detail"]


@pytest.mark.root
def test_reports_the_network_namespace_it_runs_in() -> None:
    """In a fresh network namespace ip_forward starts at 0; after setting it, the doctor says ok."""
    assert shutil.which("unshare") is not None, "unshare is missing; fix: scripts/install (util-linux)"
    _, fresh = doctor_json("unshare", "--net")
    assert fresh["net.ipv4.ip_forward"]["status"] == "fail"
    assert "= 0" in fresh["net.ipv4.ip_forward"]["detail"]
    _, forwarding = doctor_json("unshare", "--net", "sh", "-c", 'sysctl -qw net.ipv4.ip_forward=1 && exec "$@"', "sh")
    assert forwarding["net.ipv4.ip_forward"]["status"] == "ok"


def test_missing_commands_are_reported_not_crashed_on() -> None:
    """With an empty PATH no tool can be found: every check still answers, with the reason."""
    done = subprocess.run([sys.executable, "-m", "hardware.doctor", "-o", "json"], capture_output=True, text=True,
                          cwd=REPO, timeout=60, check=False, env={"PATH": "/nonexistent"})
    assert done.returncode in (0, 1), done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert len(checks) == 14
    assert checks["iptables"]["status"] == "fail"
    assert "command not found: iptables" in checks["iptables"]["detail"]
    assert checks["arch"]["status"] == "warn" and "cannot tell" in checks["arch"]["detail"]
    assert done.returncode == 1
