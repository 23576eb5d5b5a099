"""The cluster.yaml the lab's master runs with: the user's file, or the lab's default.

The default is the book's network plus what the lab needs: the internet
namespace's resolver as upstream DNS, the lab's SSH key, and a web admin
password made for this run (its hash in the file; the password in the state
record, printed by `lab up` and `lab status`).
"""

from __future__ import annotations

import subprocess
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import yaml

from foundation.errors import ConfigError
from hardware.lab import topology as t
from hardware.lab.kubefake.repo.build import HOST as KUBE_REPOSITORY_HOST
from hardware.lab.state import LabDirs


def lan_settings(config: Path | None) -> tuple[IPv4Network, IPv4Address]:
    """Subnet and master address from a user's cluster.yaml (defaults when absent).

    The file goes through the project's own loader, so a config the master daemon would
    refuse is refused here, before anything is built, with the loader's one-line message.
    """
    if config is None:
        return t.DEFAULT_SUBNET, t.DEFAULT_MASTER
    from foundation.config import load_config

    loaded = load_config(config)
    network = loaded.network
    if network.lan_interface != "eth0" or network.uplink_interface != "wlan0":
        raise ConfigError(f"{config}: the lab's master has eth0 (LAN) and wlan0 (uplink); "
                          "fix: set network.lan_interface: eth0 and network.uplink_interface: wlan0")
    return network.subnet, network.master_address


def password_hash(password: str) -> str:
    """SHA-512 crypt(3) hash (the format cluster.yaml stores), made by openssl."""
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True,
                          text=True, check=True).stdout.strip()


def default_config(plan: t.LabPlan, public_key: str, web_password: str, approve: str = "manual") -> dict[str, Any]:
    """The cluster.yaml the lab's master runs with when the user gives none (`approve`: the
    provisioning.approve policy: manual, raspberry-pi or all)."""
    return {
        "cluster": {"name": "pilab", "domain": "cluster.home"},
        "network": {
            "lan_interface": "eth0",
            "uplink_interface": "wlan0",
            "subnet": str(plan.subnet),
            "master_address": str(plan.master_address.ip),
            # The internet namespace's resolver: explicit rather than `auto`, so the
            # master never falls back to the host's resolv.conf (it shares the host's /etc).
            "upstream_dns": [str(t.INTERNET_DNS)],
        },
        # The Kubernetes fake's packages, served in pkgs.k8s.io's layout by the lab's internet.
        "kubernetes": {"apt_repository": f"http://{KUBE_REPOSITORY_HOST}/core:/stable:/v{{version}}/deb/"},
        "access": {"user": "pi", "ssh_authorized_keys": [public_key]},
        "provisioning": {"approve": approve, "ssh_user": "pi"},
        "web": {"listen": [f"{plan.master_address.ip}:8080", "uplink:8080"],
                "admin_password_hash": password_hash(web_password)},
    }


def write_master_config(dirs: LabDirs, plan: t.LabPlan, user_config: Path | None,
                        public_key: str, web_password: str, approve: str = "manual") -> None:
    """Put the master's cluster.yaml on its card: the user's file, or the lab default."""
    dirs.master.mkdir(parents=True, exist_ok=True)
    if user_config is not None:
        dirs.master_config.write_text(user_config.read_text())
        return
    dirs.master_config.write_text(
        "# Written by `appliance lab up`: the lab master's cluster.yaml.\n"
        + yaml.safe_dump(default_config(plan, public_key, web_password, approve), sort_keys=False)
    )
