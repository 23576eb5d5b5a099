"""The lab's master: the project's daemon under supervision, `exec master`, the web port forward."""

from __future__ import annotations

import os
import re
import signal
import sys
import urllib.request
from pathlib import Path

import pytest

from hardware.lab import lifecycle as lab_ops
from hardware.lab import plumbing
from hardware.lab import topology as t
from tests.support.lab import LabHandle, LabManager
from tests.support.wait import log_text

pytestmark = [pytest.mark.lab, pytest.mark.root]


def _daemon(lab: LabHandle) -> dict[str, object]:
    return lab.status()["nodes"][0]["daemon"]


def _running_daemon(lab: LabHandle, other_than: object = None) -> dict[str, object] | None:
    daemon = _daemon(lab)
    running = daemon.get("running") and daemon.get("pid") not in (None, other_than)
    return daemon if running else None


def test_daemon_runs_and_is_restarted_after_sigkill(lab: LabHandle) -> None:
    daemon = lab.wait_for(lambda: _running_daemon(lab), timeout=15, what="master daemon running")
    pid = daemon["pid"]
    assert isinstance(pid, int)
    assert pid in plumbing.namespace_pids(t.MASTER_NS)  # it runs inside the master's namespace
    os.kill(pid, signal.SIGKILL)
    restarted = lab.wait_for(lambda: _running_daemon(lab, other_than=pid), timeout=20,
                             what="daemon restarted by the supervisor")
    assert int(str(restarted["restarts"])) >= 1
    if lab.plan.addressing == "dhcp":
        lab.wait_for(lambda: plumbing.udp_port_bound(t.MASTER_NS, 67), timeout=15, what="DHCP port back")


def test_exec_master_has_the_project_and_the_lab_config(lab: LabHandle) -> None:
    out = lab.run("master", 'command -v appliance; echo "$APPLIANCE_CONFIG"; ip -o link show eth0').stdout
    where, config, link = out.splitlines()
    assert where == os.path.join(os.path.dirname(sys.executable), "appliance")
    assert config == str(lab.dirs.master_config) and os.path.exists(config)
    assert lab.plan.master_mac in link


def test_web_port_forward_reaches_the_master_page_from_the_host(lab: LabHandle) -> None:
    web = lab.status()["web"]
    url = web["url"]
    assert url.startswith("http://127.0.0.1:")
    lab.wait_for(lambda: _listening(lab, 8080), timeout=20, what="the master's page")
    assert lab.status()["web"]["answering"] is True  # status tells whether a page is behind the forward
    with urllib.request.urlopen(url, timeout=5) as response:  # / redirects to the login
        page = response.read().decode()
    assert response.url.endswith("/login?next=/") and "Log in" in page
    assert "Kubernetes is simulated" in page


def _listening(lab: LabHandle, port: int) -> bool:
    return lab.run("master", f"ss -Htln 'sport = :{port}'").stdout.strip() != ""


def test_static_addressing_gives_fixed_addresses_and_no_dhcp(lab_manager: LabManager) -> None:
    lab_manager.suspend()
    try:
        lab_ops.up(lab_manager.dirs, nodes=2, addressing="static", fresh=True, say=lambda m: None)
        handle = LabHandle(lab_manager.dirs)
        assert [handle.address("pi-1"), handle.address("pi-2")] == ["10.0.0.11", "10.0.0.12"]
        assert handle.run("pi-2", "ip -4 route show default").stdout.startswith("default via 10.0.0.1 ")
        # The daemon has started every service it runs (it says so once they all serve) ...
        log = Path(str(_daemon(handle)["log"]))
        started = handle.wait_for(lambda: re.search(r"netd ready: (\S+)", log_text(log)), timeout=20,
                                  what="the master daemon ready")
        assert "dhcp" not in started.group(1).split(",")
        assert not plumbing.udp_port_bound(t.MASTER_NS, 67)  # ... and without its DHCP server
    finally:
        lab_manager.suspend()
