"""Reading the admin kubeconfig kubeadm wrote, and making the one a laptop uses (pure; no I/O).

Only what the adapter needs is read: the current context's server URL, the
cluster CA and the client certificate and key (all embedded as *-data, as
kubeadm writes them). Anything else, or anything malformed, is one
KubeUnavailable line naming the file.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from appliance.kube.errors import KubeUnavailable

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (a kubeconfig is ~6 kB of base64: a tenth of the time)."""


@dataclass(frozen=True)
class KubeConfig:
    """The parts of a kubeconfig the adapter uses."""

    server: str
    """The API server URL, https://HOST:PORT."""
    host: str
    """HOST of the server URL."""
    port: int
    """PORT of the server URL (443 when none is given)."""
    ca_pem: bytes
    """The cluster CA certificate(s), PEM."""
    client_cert_pem: bytes
    """The client certificate, PEM."""
    client_key_pem: bytes
    """The client key, PEM (a secret)."""


def _named(items: Any, name: Any, key: str, where: str) -> dict[str, Any]:
    if not isinstance(items, list) or not items:
        raise KubeUnavailable(f"{where}: no {key}s in the kubeconfig; copy admin.conf from the master again")
    for item in items:
        if isinstance(item, dict) and (name is None or item.get("name") == name):
            body = item.get(key)
            if isinstance(body, dict):
                return body
    raise KubeUnavailable(f"{where}: the kubeconfig names {key} {str(name)[:60]!r} but does not define it")


def _data(body: dict[str, Any], key: str, where: str) -> bytes:
    value = body.get(key)
    if not isinstance(value, str):
        raise KubeUnavailable(f"{where}: the kubeconfig lacks {key} (only embedded credentials are supported)")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KubeUnavailable(f"{where}: {key} is not base64") from None


def parse_kubeconfig(text: str, where: str) -> KubeConfig:
    """The current context's server and credentials; KubeUnavailable (one line) when malformed."""
    try:
        document = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise KubeUnavailable(f"{where}:{line} is not YAML; copy admin.conf from the master again") from None
    if not isinstance(document, dict):
        raise KubeUnavailable(f"{where}: is not a kubeconfig (no mapping at the top)")
    current = document.get("current-context")
    context = _named(document.get("contexts"), current, "context", where)
    cluster = _named(document.get("clusters"), context.get("cluster"), "cluster", where)
    user = _named(document.get("users"), context.get("user"), "user", where)
    server = cluster.get("server")
    if not isinstance(server, str):
        raise KubeUnavailable(f"{where}: the cluster has no server URL")
    parts = urlsplit(server)
    if parts.scheme != "https" or not parts.hostname:
        raise KubeUnavailable(f"{where}: the cluster's server {str(server)[:80]!r} is not an https:// URL")
    try:
        port = parts.port or 443
    except ValueError:
        raise KubeUnavailable(f"{where}: the server URL {server[:80]!r} has a bad port") from None
    return KubeConfig(
        server=server, host=parts.hostname, port=port,
        ca_pem=_data(cluster, "certificate-authority-data", where),
        client_cert_pem=_data(user, "client-certificate-data", where),
        client_key_pem=_data(user, "client-key-data", where),
    )


def laptop_kubeconfig(admin_text: str, server: str, cluster_name: str, where: str = "admin.conf") -> str:
    """admin.conf with every cluster's server set to `server` and the names made the cluster's own
    (so it can be merged into a laptop's ~/.kube/config next to other clusters)."""
    parse_kubeconfig(admin_text, where)  # refuse a broken file before rewriting it
    document = yaml.safe_load(admin_text)
    user_name = f"{cluster_name}-admin"
    for item in document.get("clusters") or []:
        if isinstance(item, dict) and isinstance(item.get("cluster"), dict):
            item["cluster"]["server"] = server
            item["name"] = cluster_name
    for item in document.get("users") or []:
        if isinstance(item, dict):
            item["name"] = user_name
    context_name = f"{user_name}@{cluster_name}"
    for item in document.get("contexts") or []:
        if isinstance(item, dict) and isinstance(item.get("context"), dict):
            item["context"]["cluster"] = cluster_name
            item["context"]["user"] = user_name
            item["name"] = context_name
    document["current-context"] = context_name
    return str(yaml.safe_dump(document, sort_keys=False))
