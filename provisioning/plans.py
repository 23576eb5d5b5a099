"""Plans: named, ordered lists of steps; each step is one idempotent operation.

    prepare      hostname, boot flags (+ one reboot if the kernel must change), swap off,
                 modules, sysctls, containerd (SystemdCgroup), CNI plugins, dhcpcd noarp, the agent
    kubernetes   the doctor's verdict, the apt source and key, kubeadm/kubelet/kubectl held
    init         the master: kubeadm config and init, admin.conf to the state dir, its pod CIDR
    join         a worker: kubeadm join (fresh token, CA pin), registered, its pod CIDR
    reset        drain via the API, kubeadm reset -f, CNI leftovers, KUBE-/CNI- rules, delete from the API
    reprovision  reset, prepare, kubernetes, join
    all          prepare, kubernetes, then init (master) or join (worker)

Step indices are what a resumed job counts; a plan's steps never depend on
facts, only on its name and the node's role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from foundation.errors import UsageError
from provisioning.operations import agent, cluster, kubernetes, runtime, system
from provisioning.operations.base import Change, Context


@dataclass(frozen=True)
class Step:
    """One step of a plan."""

    name: str
    """Short stable name (shown in logs and progress)."""
    operation: Callable[[Context], Change]
    """What it compares and changes."""
    needs_cluster: bool = False
    """True when the operation reads the API server's view."""


PREPARE = (
    Step("architecture", system.architecture),
    Step("hostname", system.hostname),
    Step("boot-flags", system.boot_flags),
    Step("reboot", system.reboot),
    Step("swap", system.swap_off),
    Step("kernel-modules", system.kernel_modules),
    Step("sysctls", system.sysctls),
    Step("packages", runtime.base_packages),
    Step("containerd", runtime.containerd),
    Step("cni-plugins", runtime.cni_plugins),
    Step("dhcpcd", system.dhcpcd_noarp),
    Step("agent", agent.agent),
)
KUBERNETES = (
    Step("doctor", kubernetes.doctor),
    Step("apt-source", kubernetes.apt_source),
    Step("kube-packages", kubernetes.kube_packages),
    Step("kubelet", kubernetes.kubelet),
)
INIT = (
    Step("kubeadm-config", cluster.init_config),
    Step("kubeadm-init", cluster.init),
    Step("admin-kubeconfig", cluster.admin_conf),
    Step("registered", cluster.registered, needs_cluster=True),
    Step("pod-cidr", cluster.pod_cidr, needs_cluster=True),
)
JOIN = (
    Step("kubeadm-join", cluster.join, needs_cluster=True),
    Step("registered", cluster.registered, needs_cluster=True),
    Step("pod-cidr", cluster.pod_cidr, needs_cluster=True),
)
RESET = (
    Step("drain", cluster.drain, needs_cluster=True),
    Step("kubeadm-reset", cluster.kubeadm_reset),
    Step("clean-cni", cluster.clean_cni),
    Step("clean-rules", cluster.clean_rules),
    Step("delete-node", cluster.delete_node, needs_cluster=True),
)

PLANS = ("all", "prepare", "kubernetes", "init", "join", "reset", "reprovision")
"""Every plan name, `all` first."""
JOINING_PLANS = frozenset({"all", "init", "join", "reprovision"})
"""Plans that end with the node in the cluster."""


def steps_for(plan: str, role: str) -> tuple[Step, ...]:
    """The steps of `plan` for a node of `role`; UsageError for a plan that does not fit the role."""
    master = role == "master"
    if plan not in PLANS:
        raise UsageError(f"unknown plan {plan!r}; plans: {', '.join(PLANS)}")
    if plan == "all":
        return PREPARE + KUBERNETES + (INIT if master else JOIN)
    if plan == "prepare":
        return PREPARE
    if plan == "kubernetes":
        return KUBERNETES
    if plan == "init":
        if not master:
            raise UsageError("plan init is for the master; a worker joins: --plan join")
        return INIT
    if master:
        raise UsageError(f"plan {plan} is for workers; resetting the master would end the cluster")
    if plan == "join":
        return JOIN
    if plan == "reset":
        return RESET
    return RESET + PREPARE + KUBERNETES + JOIN
