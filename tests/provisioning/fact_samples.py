"""Facts of a node provisioned to the end (a Pi 4 worker on trixie, joined), built from the house's
sample boot files; tests change one thing at a time with dataclasses.replace."""

from __future__ import annotations

import dataclasses
import hashlib
from ipaddress import IPv4Network
from typing import Any

from foundation.config.model import Config
from hardware.cmdline import enable_memory_cgroup
from hardware.configtxt import prepare_config
from hardware.swap import RPI_SWAP_DROPIN_TEXT, SwapFacts
from provisioning.facts import NodeFacts
from provisioning.facts.kernel import KernelFacts
from provisioning.facts.packages import Package, PackageFacts
from provisioning.facts.services import UnitState
from provisioning.facts.state import Credential, StateFacts
from provisioning.facts.system import SystemFacts
from provisioning.kube_api import ClusterNode, ClusterView
from provisioning.operations import agent, runtime, system
from provisioning.operations.base import Context
from provisioning.operations.kubernetes import sources_text
from provisioning.payload import AGENT, DOCTOR
from tests.support.paths import REPO

DATA = REPO / "tests" / "hardware" / "data"
SECRET_SHA = hashlib.sha256(b"the-agent-secret").hexdigest()
CMDLINE = enable_memory_cgroup((DATA / "cmdline-trixie-lite.txt").read_text())
CONFIG_TXT = prepare_config((DATA / "config-trixie.txt").read_text(), "worker")
KUBE_VERSION = "1.34.2-1.1"
CONTAINERD_VERSION = "1.7.24~ds1-6+b4"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def provisioned(node: str = "node-1", role: str = "worker") -> NodeFacts:
    """What a node looks like after `all` ran on it."""
    packages = {name: Package(name, version, True, name in ("kubelet", "kubeadm", "kubectl"))
                for name, version in (("containerd", CONTAINERD_VERSION), ("containernetworking-plugins", "1.4.0"),
                                      ("kubelet", KUBE_VERSION), ("kubeadm", KUBE_VERSION), ("kubectl", KUBE_VERSION),
                                      ("gpg", "2.4.7"), ("curl", "8.14.1"), ("ca-certificates", "20250419"),
                                      ("iptables", "1.8.11"), ("python3-pyroute2", "0.8.1"),
                                      ("python3-yaml", "6.0.2"))}
    config = Config()
    return NodeFacts(
        system=SystemFacts(
            machine="aarch64", dpkg_arch="arm64",
            os_release={"ID": "debian", "VERSION_CODENAME": "trixie", "PRETTY_NAME": "Debian GNU/Linux 13 (trixie)"},
            hostname=node, etc_hostname=f"{node}\n", etc_hosts=f"127.0.0.1\tlocalhost\n127.0.1.1\t{node}\n",
            boot_files={"/boot/firmware/cmdline.txt": CMDLINE, "/boot/cmdline.txt": None,
                        "/boot/firmware/config.txt": CONFIG_TXT, "/boot/config.txt": None},
            proc_cmdline="reboot=w coherent_pool=1M cgroup_disable=memory " + CMDLINE.strip(),
            memory_cgroup=True, systemd=True),
        kernel=KernelFacts(
            loaded_modules=frozenset({"overlay", "br_netfilter"}), modules_conf=system.MODULES_TEXT,
            sysctls={"net.ipv4.ip_forward": 1, "net.bridge.bridge-nf-call-iptables": 1,
                     "net.bridge.bridge-nf-call-ip6tables": 1},
            sysctl_conf=system.SYSCTL_TEXT,
            swap=SwapFacts(active_swaps=(), rpi_swap=True, rpi_swap_dropin=RPI_SWAP_DROPIN_TEXT,
                           dphys_swapfile=False, dphys_enabled=False)),
        packages=PackageFacts(
            packages=packages,
            k8s_sources=sources_text(config.kubernetes.apt_repository.format(version=config.kubernetes.version)),
            k8s_keyring_sha256="a" * 64),
        units={unit: UnitState(True, True, True)
               for unit in ("containerd.service", "kubelet.service", "appliance-agent.service")},
        state=StateFacts(
            containerd_config_sha256=sha(runtime.containerd_config(CONTAINERD_VERSION)),
            dhcpcd_conf=None, agent_payload_sha256=AGENT.sha256(), doctor_payload_sha256=DOCTOR.sha256(),
            agent_unit_sha256=sha(agent.unit_text(str(config.network.master_address))),
            credential=Credential("600", node, SECRET_SHA),
            kubeadm_config_sha256=None, admin_conf_sha256=None,
            kubelet_conf=True, bootstrap_kubelet_conf=False, ca_crt=True, manifests=(),
            cni_confs=("10-appliance.conflist", "99-loopback.conf"), cni_state=True, cni_bridge=True,
            kube_rules=12, reboot_pending=False,
            cni_plugins=frozenset({"bridge", "host-local", "portmap", "loopback"})),
    )


def change(facts: Any, **changes: Any) -> Any:
    """A copy of a facts record (or a part of one) with some fields changed."""
    return dataclasses.replace(facts, **changes)


def context(facts: NodeFacts | None = None, *, node: str = "node-1", role: str = "worker",
            cluster: ClusterView | None = None, **changes: Any) -> Context:
    """The context of a provisioned, joined worker; override what a test needs."""
    config = Config()
    default_cluster = ClusterView(True, {node: ClusterNode(node, True, "10.244.1.0/24")})
    values: dict[str, Any] = dict(
        node=node, role=role, address="10.0.0.11", pod_cidr=IPv4Network("10.244.1.0/24"), config=config,
        facts=facts or provisioned(node, role), cluster=cluster or default_cluster,
        uplink_address=None, admin_conf_sha256=None, credential_sha256=SECRET_SHA)
    values.update(changes)
    return Context(**values)
