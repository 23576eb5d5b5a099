"""`lab up` refusals and errors, and `lab down` leaving nothing behind (also after a SIGKILLed up)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hardware.lab import plumbing
from hardware.lab import topology as t
from hardware.lab.testing import LabHandle, LabManager, wait_for

pytestmark = [pytest.mark.lab, pytest.mark.root]

APPLIANCE = [sys.executable, "-m", "appliance.cli.main"]
LAB_MARKERS = ("pilab", "appliance-lab", "hardware.lab", "coherent_pool=1M")
"""Lab processes' command lines: its names and dirs, and the boards' systemd (whose arguments are
the emulated Pi kernel command line)."""


def appliance(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user is not None else []
    return subprocess.run([*prefix, *APPLIANCE, *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd="/")


@dataclass(frozen=True)
class Snapshot:
    """What the machine looks like from the host: namespaces, links, mounts, processes."""

    netns: str
    links: str
    mounts: str
    processes: dict[int, str]

    @staticmethod
    def take() -> Snapshot:
        def run(*argv: str) -> str:
            return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

        # Link lines without counters that change on their own (state is kept).
        links = "\n".join(sorted(line.split(" link/")[0] for line in run("ip", "-o", "link").splitlines()))
        processes = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # already dead; only waiting for the host's init to reap it
                processes[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
        return Snapshot(run("ip", "netns", "list"), links, Path("/proc/mounts").read_text(), processes)


def _lab_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(marker in line for marker in LAB_MARKERS)
            or line.startswith(t.PREFIX) or f"/{t.PREFIX}" in line]


def assert_nothing_left(before: Snapshot, after: Snapshot) -> None:
    """Nothing of the lab remains, and nothing new of it appeared on the host.

    Other test runs may make and remove their own namespaces meanwhile (helpers share this
    machine), so namespaces and mounts are compared as "no lab line after, none new at all of
    ours"; host links must be identical (nobody may touch the host's interfaces).
    """
    assert _lab_lines(before.netns) == [] and _lab_lines(after.netns) == []
    assert after.links == before.links
    assert _lab_lines(after.mounts) == _lab_lines(before.mounts) == []
    new_mounts = set(after.mounts.splitlines()) - set(before.mounts.splitlines())
    assert not [m for m in new_mounts if "overlay" in m or "/var/lib/appliance-lab" in m], new_mounts
    new = {pid: cmd for pid, cmd in after.processes.items() if pid not in before.processes}
    # Other work may start processes meanwhile; none may be the lab's. Every lab process
    # carries a marker: the lab dir, a pilab name, a board's systemd (a board's other
    # processes die with its init: the kernel kills a PID namespace with its PID 1), and
    # the boards' cgroups are gone.
    assert not [(pid, cmd) for pid, cmd in new.items() if any(m in cmd for m in LAB_MARKERS)]
    from hardware.lab import cgroups

    assert not cgroups.lab_dir().exists()


def test_second_up_is_refused(lab: LabHandle) -> None:
    result = appliance("lab", "up", "--nodes", "2")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "a lab is already running (4 nodes" in result.stderr and "fix: appliance lab down" in result.stderr


def test_unknown_node_is_one_line_and_exit_2(lab: LabHandle) -> None:
    result = appliance("lab", "exec", "pi-99", "--", "true")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no lab member called 'pi-99'") and result.stderr.count("\n") == 1


def test_not_root_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from appliance.cli.main import cli

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for args in (["lab", "up"], ["lab", "down"], ["lab", "status"], ["lab", "power", "pi-1", "off"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1
        assert result.output.strip() == (
            "error: appliance lab needs root (network namespaces, mounts); fix: run it with sudo")


def test_not_root_is_refused_for_a_real_unprivileged_user() -> None:
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                            "-c", "import appliance"], capture_output=True, check=False, cwd="/")
    if probe.returncode != 0:
        pytest.skip("nobody cannot read this checkout's venv (e.g. under /root); the test above covers it")
    result = appliance("lab", "up", user=65534)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: appliance lab needs root (network namespaces, mounts); fix: run it with sudo")


def test_down_leaves_nothing_behind(lab_manager: LabManager) -> None:
    lab_manager.suspend()
    before = Snapshot.take()
    handle = lab_manager.ensure_up()
    # Leave the lab in a messy state: a board off, a cable out, a process of our own in a board.
    handle.power("pi-2", "off")
    handle.link("pi-3", "down")
    handle.run("pi-1", "setsid sh -c 'sleep 1000; :' pilab-orphan >/dev/null 2>&1 < /dev/null &")
    during = Snapshot.take()
    assert _lab_lines(during.netns)
    assert any("pilab-orphan" in cmd for cmd in during.processes.values())  # the scan below sees it

    started = time.monotonic()
    result = appliance("lab", "down")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
    assert_nothing_left(before, Snapshot.take())

    again = appliance("lab", "down")
    assert (again.returncode, again.stderr.strip()) == (0, "no lab was running")
    status = json.loads(appliance("lab", "status", "-o", "json").stdout)
    assert status["running"] is False and status["nodes"] == []


def test_down_after_a_sigkilled_up(lab_manager: LabManager) -> None:
    lab_manager.suspend()
    before = Snapshot.take()
    up = subprocess.Popen([*APPLIANCE, "lab", "up", "--nodes", "3", "--addressing", "static"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
    try:
        # Kill it once it has made namespaces and started powering boards on.
        wait_for(lambda: (plumbing.NETNS_DIR / (t.PREFIX + "pi-1")).exists() or up.poll() is not None,
                 timeout=30, interval=0.01, what="lab up making its namespaces")
        up.send_signal(signal.SIGKILL)
    finally:
        up.wait()
    assert _lab_lines(Snapshot.take().netns)  # something was left to clean
    result = appliance("lab", "down")
    assert result.returncode == 0, result.stderr
    assert_nothing_left(before, Snapshot.take())


def test_a_stale_record_after_a_reboot_does_not_block_up(lab_manager: LabManager) -> None:
    from hardware.lab import lifecycle as lab_ops
    from hardware.lab.state import save_record

    lab_manager.suspend()
    record = lab_ops.up(lab_manager.dirs, nodes=1, addressing="static", say=lambda m: None)
    lab_manager.suspend()
    save_record(lab_manager.dirs, record)  # what a reboot leaves: the record, no namespaces
    status = json.loads(appliance("lab", "status", "-o", "json").stdout)
    assert status["running"] is False and status["stale_record"] is True
    try:
        again = lab_ops.up(lab_manager.dirs, nodes=1, addressing="static", say=lambda m: None)
        assert again.started_at > record.started_at
    finally:
        lab_manager.suspend()
