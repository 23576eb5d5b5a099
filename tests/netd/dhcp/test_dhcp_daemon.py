"""`appliance netd run`: service selection, clear errors, clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from foundation.errors import EnvironmentProblem, UsageError
from netd import daemon
from tests.netd.dhcp.clients import run_udhcpc_once
from tests.netd.dhcp.lan import Lan
from tests.support.paths import APPLIANCE


def test_parse_only() -> None:
    assert daemon.parse_only(None) == (["dhcp", "dns", "nat", "routes", "api"], False)
    assert daemon.parse_only("routes, dhcp") == (["dhcp", "routes"], True)
    with pytest.raises(UsageError, match="unknown service ftp"):
        daemon.parse_only("dhcp,ftp")
    with pytest.raises(UsageError, match="choose from"):
        daemon.parse_only(",")


def test_a_selected_service_missing_from_the_build_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(daemon.SERVICE_MODULES, "dns", "netd.no_such_dns_module")
    with pytest.raises(EnvironmentProblem, match="netd service 'dns' is not part of this build"):
        daemon._import_service("dns", explicit=True)
    assert daemon._import_service("dns", explicit=False) is None  # default: skipped


def test_cli_rejects_bad_only_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run([APPLIANCE, "netd", "run", "--config", str(tmp_path / "none.yaml"),
                             "--state-dir", str(tmp_path), "--only", "dhcp,telnet"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --only 'dhcp,telnet': unknown service telnet; choose from dhcp,dns,nat,routes,api"]


def test_cli_reports_a_missing_config(tmp_path: Path) -> None:
    result = subprocess.run([APPLIANCE, "netd", "run", "--config", str(tmp_path / "none.yaml"),
                             "--state-dir", str(tmp_path), "--only", "dhcp"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "none.yaml" in result.stderr
    assert "Traceback" not in result.stderr



@pytest.mark.root
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_stop_keeps_leases(lan: Lan, tmp_path: Path, sig: int) -> None:
    config = lan.write_config("  dhcp_range: [10.0.0.10, 10.0.0.20]\n")
    lan.start_server(config)
    ns = lan.add_client(1)
    assert "lease of 10.0.0.10 obtained" in run_udhcpc_once(lan, ns, tmp_path).stderr
    assert lan.kill_server(sig) == 0
    assert "netd stopped" in lan.server_output()
    lan.start_server(config)
    assert "1 clients" in lan.server_output().splitlines()[-3]
    assert "lease of 10.0.0.10 obtained" in run_udhcpc_once(lan, ns, tmp_path).stderr


@pytest.mark.root
def test_missing_lan_interface_is_one_clear_line(lan: Lan, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("network:\n  lan_interface: nosuch0\n")
    result = lan.ns_run(lan.server_ns, APPLIANCE, "netd", "run", "--config", str(config),
                        "--state-dir", str(tmp_path / "state"), "--only", "dhcp", check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: cannot serve DHCP on 'nosuch0' (UDP port 67): No such device; check "
                      "network.lan_interface in cluster.yaml, run as root, and stop any other DHCP "
                      "server on this interface"]
    assert "Traceback" not in result.stderr
