"""Kubeconfig files: written as kubeadm writes them (clientcmd), read as clients read them."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class KubeconfigError(ValueError):
    """A kubeconfig is missing what a client needs."""


@dataclass
class Kubeconfig:
    """What a client takes from a kubeconfig: its current context resolved."""

    server: str
    """API server URL, https://host:port."""
    ca_pem: bytes
    """The cluster's CA certificate(s), PEM."""
    cluster_name: str = "kubernetes"
    """Name of the cluster entry."""
    user: str = ""
    """Name of the user entry."""
    client_cert_pem: bytes | None = None
    """Client certificate (PEM), if the user has one."""
    client_key_pem: bytes | None = None
    """Client key (PEM), if the user has one."""
    token: str | None = None
    """Bearer token, if the user has one."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def render(config: Kubeconfig, *, cert_files: tuple[str, str] | None = None) -> str:
    """YAML of a kubeconfig with one cluster, user and context (clientcmd.Write's key order).

    `cert_files` points the user at (certificate, key) files instead of embedding
    them, as the kubelet's kubelet.conf does after its first rotation.
    """
    user: dict[str, str] = {}
    if cert_files is not None:
        user = {"client-certificate": cert_files[0], "client-key": cert_files[1]}
    elif config.client_cert_pem is not None and config.client_key_pem is not None:
        user = {"client-certificate-data": _b64(config.client_cert_pem),
                "client-key-data": _b64(config.client_key_pem)}
    if config.token:
        user["token"] = config.token
    context = f"{config.user}@{config.cluster_name}"
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": _b64(config.ca_pem), "server": config.server},
                      "name": config.cluster_name}],
        "contexts": [{"context": {"cluster": config.cluster_name, "user": config.user}, "name": context}],
        "current-context": context,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": config.user, "user": user}],
    }
    return yaml.safe_dump(document, default_flow_style=False, sort_keys=False)


def render_cluster_info(server: str, ca_pem: bytes) -> str:
    """The kubeconfig kept in `kube-public/cluster-info`: one nameless cluster, nothing else."""
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": _b64(ca_pem), "server": server}, "name": ""}],
        "contexts": None,
        "current-context": "",
        "kind": "Config",
        "preferences": {},
        "users": None,
    }
    return yaml.safe_dump(document, default_flow_style=False, sort_keys=False)


def _data_or_file(entry: dict[str, object], key: str, base: Path) -> bytes | None:
    data = entry.get(f"{key}-data")
    if isinstance(data, str) and data:
        return base64.b64decode(data)
    path = entry.get(key)
    if isinstance(path, str) and path:
        file = Path(path) if Path(path).is_absolute() else base / path
        return file.read_bytes()
    return None


def _named(items: object, name: str, what: str) -> dict[str, object]:
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get("name") == name:
                inner = item.get(what)
                if isinstance(inner, dict):
                    return inner
    raise KubeconfigError(f"{what} {name!r} not found")


def parse(text: str, base: Path = Path("/")) -> Kubeconfig:
    """The current context of a kubeconfig; file references resolve against `base`."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise KubeconfigError(f"not YAML: {error}") from None
    if not isinstance(document, dict):
        raise KubeconfigError("not a kubeconfig (no mapping)")
    current = document.get("current-context") or ""
    if current:
        context = _named(document.get("contexts"), str(current), "context")
        cluster_name, user_name = str(context.get("cluster", "")), str(context.get("user", ""))
    else:
        clusters = document.get("clusters") or []
        if not isinstance(clusters, list) or not clusters or not isinstance(clusters[0], dict):
            raise KubeconfigError("no cluster in kubeconfig")
        cluster_name, user_name = str(clusters[0].get("name", "")), ""
    cluster = _named(document.get("clusters"), cluster_name, "cluster")
    server = cluster.get("server")
    ca = _data_or_file(cluster, "certificate-authority", base)
    if not isinstance(server, str) or not server or ca is None:
        raise KubeconfigError(f"cluster {cluster_name!r} has no server or CA")
    config = Kubeconfig(server=server, ca_pem=ca, cluster_name=cluster_name, user=user_name)
    if user_name:
        user = _named(document.get("users"), user_name, "user")
        config.client_cert_pem = _data_or_file(user, "client-certificate", base)
        config.client_key_pem = _data_or_file(user, "client-key", base)
        token = user.get("token")
        config.token = token if isinstance(token, str) and token else None
    return config


def load(path: Path) -> Kubeconfig:
    """Read and parse a kubeconfig file."""
    return parse(path.read_text(), path.parent)
