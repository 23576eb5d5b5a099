"""The cluster.yaml the lab writes for its master is valid for the project's own loader."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from foundation.config import load_config
from foundation.errors import ConfigError
from hardware.lab import topology as t
from hardware.lab.master_config import lan_settings, write_master_config
from hardware.lab.state import LabDirs


def test_lab_master_config_loads_and_names_the_lab(tmp_path: Path) -> None:
    dirs = LabDirs(tmp_path)
    plan = t.make_plan(4)
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHtGdd6Ktak8V3FOj3Ir4lVlx/3wgXwDQNn/uV5+zSKf appliance-lab"
    write_master_config(dirs, plan, None, key, "demo-password")
    config = load_config(dirs.master_config)
    assert config.network.lan_interface == "eth0" and config.network.uplink_interface == "wlan0"
    assert config.network.upstream_dns == (t.INTERNET_DNS,)  # never `auto`: the host's resolv.conf
    assert config.access.ssh_authorized_keys == (key,)
    assert config.web.admin_password_hash and config.web.admin_password_hash.startswith("$6$")
    assert "demo-password" not in dirs.master_config.read_text()
    assert lan_settings(dirs.master_config) == (IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1"))


def test_user_config_with_other_interfaces_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("network:\n  lan_interface: enp1s0\n")
    with pytest.raises(ConfigError, match="lab's master has eth0"):
        lan_settings(path)


def test_user_config_subnet_is_used(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("network:\n  subnet: 172.16.8.0/24\n  master_address: 172.16.8.1\n"
                    "  dhcp_range: [172.16.8.100, 172.16.8.200]\n")
    assert lan_settings(path) == (IPv4Network("172.16.8.0/24"), IPv4Address("172.16.8.1"))
