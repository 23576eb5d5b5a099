"""What kubeadm puts into the API: uploaded config, node marking, tokens, cluster-info, addons.

Each function makes REST calls through a Client and returns the lines
kubeadm prints for that phase.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import yaml

from .. import tokens
from ..client import ApiStatusError, Client
from ..kubeconfig import render_cluster_info
from ..textfmt import rfc3339
from .config import InitConfig
from .errors import KubeadmError
from .phases import dns_ip

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
"""Label and taint key of control-plane nodes."""
EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
"""Second label kubeadm puts on control-plane nodes."""


def create_or_update(client: Client, path: str, obj: dict[str, Any]) -> None:
    """POST, or PUT over an existing object (kubeadm's CreateOrUpdate)."""
    try:
        client.create(path, obj)
    except ApiStatusError as error:
        if error.reason != "AlreadyExists":
            raise
        name = obj["metadata"]["name"]
        current = client.get(f"{path}/{name}")
        obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]  # type: ignore[index]
        client.put(f"{path}/{name}", obj)


def upload_config(client: Client, config: InitConfig, kubelet: dict[str, Any], version: str) -> list[str]:
    """kubeadm-config and kubelet-config ConfigMaps in kube-system."""
    cluster = dict(config.cluster_document) or {"apiVersion": "kubeadm.k8s.io/v1beta4",
                                                 "kind": "ClusterConfiguration"}
    cluster["apiVersion"] = "kubeadm.k8s.io/v1beta4"
    cluster.setdefault("kubernetesVersion", version)
    cluster.setdefault("certificatesDir", config.certificates_dir)
    cluster.setdefault("clusterName", config.cluster_name)
    cluster.setdefault("networking", {"dnsDomain": config.dns_domain, "serviceSubnet": config.service_subnet})
    create_or_update(client, "/api/v1/namespaces/kube-system/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {"ClusterConfiguration": yaml.safe_dump(cluster, sort_keys=True)}})
    create_or_update(client, "/api/v1/namespaces/kube-system/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubelet-config", "namespace": "kube-system"},
        "data": {"kubelet": yaml.safe_dump(kubelet, sort_keys=True)}})
    return ['[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" Namespace',
            "[kubelet] Creating a ConfigMap \"kubelet-config\" in namespace kube-system with the configuration for "
            "the kubelets in the cluster", "[upload-certs] Skipping phase. Please see --upload-certs"]


def wait_for_node(client: Client, name: str, timeout: float) -> dict[str, Any]:
    """Poll until the kubelet has registered the Node."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.get(f"/api/v1/nodes/{name}")
        except (ApiStatusError, OSError):
            if time.monotonic() > deadline:
                raise KubeadmError(f'timed out waiting for the condition: node "{name}" was not registered',
                                   phase="mark-control-plane") from None
            time.sleep(0.5)


def mark_control_plane(client: Client, config: InitConfig, timeout: float) -> list[str]:
    """Label and taint this node as a control plane."""
    name = config.node.name
    wait_for_node(client, name, timeout)
    taints = config.node.taints
    if taints is None:
        taints = [{"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"}]
    client.patch(f"/api/v1/nodes/{name}", {"metadata": {"labels": {CONTROL_PLANE_LABEL: "", EXCLUDE_LB_LABEL: ""}},
                                           "spec": {"taints": taints or None}}, "strategic")
    taint_text = " ".join(f"{t['key']}:{t['effect']}" for t in taints)
    return [f"[mark-control-plane] Marking the node {name} as control-plane by adding the labels: "
            f"[{CONTROL_PLANE_LABEL} {EXCLUDE_LB_LABEL}]",
            f"[mark-control-plane] Marking the node {name} as control-plane by adding the taints [{taint_text}]"]


def token_from_options(raw: dict[str, Any], now: datetime) -> tokens.BootstrapToken:
    """A BootstrapToken from an InitConfiguration bootstrapTokens entry (or flags), with defaults."""
    text = str(raw.get("token") or tokens.generate_token())
    token = tokens.parse_token(text)
    ttl = parse_duration(str(raw.get("ttl", "24h0m0s")))
    usages = [str(u) for u in raw.get("usages") or tokens.DEFAULT_USAGES]
    groups = [str(g) for g in raw.get("groups") or tokens.DEFAULT_GROUPS]
    tokens.validate_usages(usages)
    tokens.validate_groups(groups)
    expires = None if ttl == timedelta(0) else now + ttl
    if raw.get("expires"):
        expires = datetime.fromisoformat(str(raw["expires"]).replace("Z", "+00:00"))
    return tokens.BootstrapToken(token, str(raw.get("description", "")), expires, usages, groups)


def parse_duration(text: str) -> timedelta:
    """Go's time.ParseDuration for h/m/s/ms (what --ttl takes); ValueError with Go's wording."""
    import re
    if text in ("0", ""):
        return timedelta(0)
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f'time: invalid duration "{text}"')
    seconds = 0.0
    for number, unit in parts:
        seconds += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return timedelta(seconds=seconds)


def create_token(client: Client, token: tokens.BootstrapToken) -> None:
    """Store a token's Secret (update it if it exists, as kubeadm's UpdateOrCreateTokens)."""
    secret = tokens.to_secret(token)
    try:
        client.create("/api/v1/namespaces/kube-system/secrets", secret)
    except ApiStatusError as error:
        if error.reason != "AlreadyExists":
            raise KubeadmError(f"failed to create or update bootstrap token with name "
                               f"{secret['metadata']['name']}: {error}") from None  # type: ignore[index]
        current = client.get(f"/api/v1/namespaces/kube-system/secrets/{tokens.SECRET_PREFIX}{token.token.id}")
        secret["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]  # type: ignore[index]
        client.put(f"/api/v1/namespaces/kube-system/secrets/{tokens.SECRET_PREFIX}{token.token.id}", secret)


def bootstrap_tokens(client: Client, config: InitConfig, server: str, ca_pem: bytes,
                     made: list[tokens.BootstrapToken]) -> list[str]:
    """Tokens, the cluster-info ConfigMap, and kubeadm's lines for the RBAC it configures."""
    lines = [f"[bootstrap-token] Using token: {made[0].token}",
             "[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles"]
    for token in made:
        create_token(client, token)
    lines += ["[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes",
              "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for "
              "nodes to get long term certificate credentials",
              "[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve "
              "CSRs from a Node Bootstrap Token",
              "[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client "
              "certificates in the cluster",
              '[bootstrap-token] Creating the "cluster-info" ConfigMap in the "kube-public" namespace']
    create_or_update(client, "/api/v1/namespaces/kube-public/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": {"kubeconfig": render_cluster_info(server, ca_pem)}})
    return lines


def addons(client: Client, config: InitConfig, version: str) -> list[str]:
    """CoreDNS (Deployment + kube-dns Service) and kube-proxy (ConfigMap + DaemonSet)."""
    labels = {"k8s-app": "kube-dns"}
    create_or_update(client, "/apis/apps/v1/namespaces/kube-system/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                     {"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.12.1"}]}}}})
    create_or_update(client, "/api/v1/namespaces/kube-system/services", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
                     "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                                "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": dns_ip(config.service_subnet), "type": "ClusterIP", "selector": labels,
                 "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                           {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                           {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}})
    proxy_labels = {"k8s-app": "kube-proxy"}
    create_or_update(client, "/api/v1/namespaces/kube-system/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-proxy", "namespace": "kube-system",
                                                              "labels": {"app": "kube-proxy"}},
        "data": {"config.conf": yaml.safe_dump({"apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                                                "kind": "KubeProxyConfiguration",
                                                "clusterCIDR": config.pod_subnet, "mode": ""})}})
    create_or_update(client, "/apis/apps/v1/namespaces/kube-system/daemonsets", {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": proxy_labels},
        "spec": {"selector": {"matchLabels": proxy_labels},
                 "template": {"metadata": {"labels": proxy_labels}, "spec": {
                     "containers": [{"name": "kube-proxy", "image": f"registry.k8s.io/kube-proxy:{version}",
                                     "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                                                 "--hostname-override=$(NODE_NAME)"]}],
                     "hostNetwork": True, "priorityClassName": "system-node-critical",
                     "tolerations": [{"operator": "Exists"}]}}}})
    return ["[addons] Applied essential addon: CoreDNS", "[addons] Applied essential addon: kube-proxy"]


def expiry_text(token: tokens.BootstrapToken) -> str:
    """RFC 3339 expiry or empty."""
    return rfc3339(token.expires) if token.expires else ""
