"""Operations that make and join the cluster, and take a node out of it again.

init (the master): kubeadm config, kubeadm init, the admin kubeconfig copied
to the master's state directory, the master's pod CIDR. join (a worker):
kubeadm join with a fresh short-lived token and the CA pin, the node seen by
the API, its pod CIDR written from the registry. reset: drain via the API,
kubeadm reset -f (the kubelet stops), CNI leftovers and KUBE-/CNI- iptables rules, then
delete the node from the API.
"""

from __future__ import annotations

import hashlib
import shlex

import yaml

from provisioning import paths
from provisioning.facts.packages import upstream_version
from provisioning.kube_api import KubeApi
from provisioning.operations.base import (
    Action,
    Api,
    Change,
    Context,
    FetchAdminConf,
    Join,
    ProvisionError,
    Put,
    Run,
    WaitForNode,
    ok,
)

CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"
INIT_TOKEN_TTL = "15m0s"
"""kubeadm init mints a bootstrap token; ours lives 15 minutes (kubeadm's default is 24 h)."""
DRAIN_TIMEOUT = 120.0


def api_server_sans(ctx: Context) -> list[str]:
    """Every name and address the API server certificate must hold (home network and LAN)."""
    cluster, domain = ctx.config.cluster.name, ctx.config.cluster.domain
    names = [ctx.master_address, *([ctx.uplink_address] if ctx.uplink_address else []),
             f"{cluster}-master.local", f"master.{domain}", f"{cluster}.{domain}", ctx.node,
             *ctx.config.kubernetes.api_server_sans]
    return list(dict.fromkeys(names))


def kubeadm_config(ctx: Context) -> str:
    """`kubeadm init --config` text: kubeadm.k8s.io/v1beta4 (reference/kubeadm.md §3)."""
    package = ctx.facts.packages.installed("kubeadm")
    version = f"v{upstream_version(package.version)}" if package else f"stable-{ctx.config.kubernetes.version}"
    init = {
        "apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "InitConfiguration",
        # No token value: kubeadm generates one, so no secret is ever written in this file.
        "bootstrapTokens": [{"description": "made by kubeadm init for the appliance",
                             "ttl": INIT_TOKEN_TTL, "usages": ["signing", "authentication"],
                             "groups": ["system:bootstrappers:kubeadm:default-node-token"]}],
        "localAPIEndpoint": {"advertiseAddress": ctx.master_address, "bindPort": 6443},
        "nodeRegistration": {"name": ctx.node, "criSocket": CRI_SOCKET},
    }
    cluster = {
        "apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration",
        "clusterName": ctx.config.cluster.name, "kubernetesVersion": version,
        "networking": {"podSubnet": str(ctx.config.kubernetes.pod_cidr),
                       "serviceSubnet": str(ctx.config.kubernetes.service_cidr)},
        "apiServer": {"certSANs": api_server_sans(ctx)},
        # The registry is the only pod CIDR allocator; provisioning writes node.spec.podCIDR.
        "controllerManager": {"extraArgs": [{"name": "allocate-node-cidrs", "value": "false"}]},
    }
    kubelet = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
               "cgroupDriver": "systemd"}
    header = "# Written by the appliance's provisioning for `kubeadm init --config`.\n"
    return header + "---\n".join(yaml.safe_dump(doc, sort_keys=False) for doc in (init, cluster, kubelet))


def init_config(ctx: Context) -> Change:
    """The master's kubeadm config file."""
    text = kubeadm_config(ctx)
    if ctx.facts.state.kubeadm_config_sha256 == hashlib.sha256(text.encode()).hexdigest():
        return ok(f"{paths.KUBEADM_CONFIG} as wanted")
    note = " (the running control plane keeps its settings until the master is reset)" \
        if ctx.facts.state.admin_conf_sha256 else ""
    return Change(f"{paths.KUBEADM_CONFIG} written{note}", (Put(paths.KUBEADM_CONFIG, text.encode(), mode=0o600),))


def init(ctx: Context) -> Change:
    """kubeadm init, once (a half-finished control plane is reset first)."""
    state = ctx.facts.state
    if state.admin_conf_sha256 is not None:
        return ok("control plane initialised (admin.conf present)")
    actions: list[Action] = []
    if state.kube_leftovers:
        actions.append(Run("kubeadm reset -f", timeout=300))
    actions.append(Run(f"kubeadm init --config {shlex.quote(paths.KUBEADM_CONFIG)}", timeout=900))
    return Change("kubeadm init" + (" after resetting a half-finished one" if len(actions) > 1 else ""),
                  tuple(actions))


def admin_conf(ctx: Context) -> Change:
    """The master's STATE_DIR/kubernetes/admin.conf is the node's /etc/kubernetes/admin.conf."""
    remote = ctx.facts.state.admin_conf_sha256
    if remote is None:
        raise ProvisionError(f"{ctx.node}: {paths.ADMIN_CONF} is missing after kubeadm init")
    if remote == ctx.admin_conf_sha256:
        return ok("admin kubeconfig copied to the master's state directory")
    return Change("admin kubeconfig copied to the master's state directory (mode 0600)",
                  (FetchAdminConf(paths.ADMIN_CONF),))


def _require_api(ctx: Context) -> None:
    if not ctx.cluster.reachable:
        raise ProvisionError(f"{ctx.node}: the Kubernetes API at https://{ctx.api_endpoint} cannot be used "
                             f"({ctx.cluster.reason}); provision the master first (appliance provision MASTER)")


def join(ctx: Context) -> Change:
    """kubeadm join with a fresh 15-minute token and the CA pin (never the unsafe skip flag)."""
    state = ctx.facts.state
    _require_api(ctx)
    if state.kubelet_conf and ctx.node in ctx.cluster.nodes:
        return ok(f"joined: the API lists {ctx.node}")
    actions: list[Action] = []
    if state.kube_leftovers:
        actions.append(Run("kubeadm reset -f", timeout=300))
    actions.append(Join(ctx.api_endpoint, ctx.node))
    why = "left over from an earlier join, reset first" if len(actions) > 1 else "not in the cluster"
    return Change(f"kubeadm join {ctx.api_endpoint} ({why})", tuple(actions))


def registered(ctx: Context) -> Change:
    """The API server lists the node (its kubelet registered)."""
    _require_api(ctx)
    if ctx.node in ctx.cluster.nodes:
        return ok(f"the API lists {ctx.node}")
    return Change(f"waiting for {ctx.node} to register", (WaitForNode(ctx.node),))


def pod_cidr(ctx: Context) -> Change:
    """node.spec.podCIDR is the node's slice from the registry (written once: Kubernetes keeps it)."""
    _require_api(ctx)
    if ctx.pod_cidr is None:
        raise ProvisionError(f"{ctx.node}: the registry has no pod CIDR for it; is the pod network full? "
                             "(appliance nodes list)")
    wanted = str(ctx.pod_cidr)
    seen = ctx.cluster.nodes.get(ctx.node)
    if seen is None:
        raise ProvisionError(f"{ctx.node}: the API does not list it, so its pod CIDR cannot be set")
    if seen.pod_cidr == wanted:
        return ok(f"spec.podCIDR {wanted}")
    if seen.pod_cidr is not None:
        raise ProvisionError(f"{ctx.node}: Kubernetes gave it pod CIDR {seen.pod_cidr} but the registry says "
                             f"{wanted}; spec.podCIDR cannot change: reprovision it (appliance nodes reprovision {ctx.node})")
    node = ctx.node

    def patch(api: KubeApi) -> None:
        api.patch_pod_cidr(node, wanted)

    return Change(f"spec.podCIDR set to {wanted} (from the registry)", (Api(f"patch {node} spec.podCIDR={wanted}", patch),))


def drain(ctx: Context) -> Change:
    """Cordon and drain the node (nothing when the API does not list it)."""
    if not ctx.cluster.reachable:
        return ok(f"the API cannot be used ({ctx.cluster.reason}): nothing to drain")
    if ctx.node not in ctx.cluster.nodes:
        return ok(f"the API does not list {ctx.node}")
    node = ctx.node

    def cordon_and_drain(api: KubeApi) -> None:
        api.cordon(node)
        api.drain(node, timeout=DRAIN_TIMEOUT)

    return Change(f"{node} cordoned and drained", (Api(f"cordon and drain {node}", cordon_and_drain),))


def delete_node(ctx: Context) -> Change:
    """Delete the node from the API, after kubeadm reset stopped its kubelet (a running kubelet
    registers a deleted node again at once)."""
    if not ctx.cluster.reachable:
        return ok(f"the API cannot be used ({ctx.cluster.reason}): nothing to delete")
    if ctx.node not in ctx.cluster.nodes:
        return ok(f"the API does not list {ctx.node}")
    node = ctx.node

    def delete(api: KubeApi) -> None:
        api.delete_node(node)

    return Change(f"{node} deleted from the API", (Api(f"delete node {node}", delete),))


def kubeadm_reset(ctx: Context) -> Change:
    """kubeadm reset -f when kubeadm left anything (kubeconfigs, certificates, manifests)."""
    state = ctx.facts.state
    if not state.kube_leftovers:
        return ok("nothing of kubeadm on the node")
    if ctx.facts.packages.installed("kubeadm") is None:
        files = " ".join(shlex.quote(p) for p in (paths.KUBELET_CONF, paths.BOOTSTRAP_KUBELET_CONF))
        return Change("kubeadm is gone: its files removed by hand",
                      (Run(f"systemctl stop kubelet 2>/dev/null; rm -rf {files} /etc/kubernetes/pki "
                           f"{shlex.quote(paths.MANIFESTS_DIR)} /var/lib/kubelet/*"),))
    return Change("kubeadm reset -f", (Run("kubeadm reset -f", timeout=300),))


def clean_cni(ctx: Context) -> Change:
    """CNI leftovers of the old membership: other CNI configs, host-local's allocations, the cni0 bridge."""
    state = ctx.facts.state
    foreign = [name for name in state.cni_confs if name not in (paths.AGENT_CONFLIST, paths.AGENT_LOOPBACK)]
    commands = [f"rm -f {' '.join(shlex.quote(paths.CNI_CONF_DIR + '/' + name) for name in foreign)}"] if foreign else []
    if state.cni_state:
        commands.append(f"rm -rf {paths.CNI_STATE_DIR}")
    if state.cni_bridge:
        commands.append("ip link delete cni0")
    if not commands:
        return ok("no CNI leftovers (the agent's own config stays)")
    return Change("CNI leftovers removed: " + ", ".join(
        [*foreign, *(["host-local state"] if state.cni_state else []), *(["cni0"] if state.cni_bridge else [])]),
        (Run(" && ".join(commands)),))


def clean_rules(ctx: Context) -> Change:
    """iptables rules of kube-proxy and the CNI plugins (KUBE-*, CNI-*), which kubeadm reset leaves."""
    count = ctx.facts.state.kube_rules
    if count == 0:
        return ok("no KUBE- or CNI- iptables rules")
    script = ("for t in iptables ip6tables; do command -v $t-save >/dev/null || continue; "
              "$t-save | grep -v -E '(KUBE-|CNI-)' | $t-restore; done")
    return Change(f"{count} KUBE-/CNI- iptables lines removed", (Run(script),))
