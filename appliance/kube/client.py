"""KubeClient: the Kubernetes REST API over TLS with admin.conf's client certificate (stdlib http.client + ssl).

Everything the master side asks of Kubernetes goes through here: bootstrap
tokens (create with a TTL and description, list without their secret half,
revoke), the join command and the CA pin, nodes (list, podCIDR patch,
cordon, drain by eviction, delete). The server's certificate is verified
against the cluster CA from the kubeconfig; there is no insecure mode.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from appliance.kube import tokens
from appliance.kube.errors import KubeRequestError, KubeUnavailable
from appliance.kube.kubeconfig import KubeConfig, parse_kubeconfig
from appliance.kube.nodes import KubeNode, nodes_from_list
from appliance.kube.tokens import BootstrapToken

ADMIN_CONF = Path("kubernetes") / "admin.conf"
"""Where provisioning copies the master's admin.conf, under STATE_DIR (INTERFACES.md)."""
MERGE_PATCH = "application/strategic-merge-patch+json"
MAX_BODY = 64 * 1024 * 1024
"""Largest answer read (a NodeList of thousands of nodes is a few MB)."""


def _tls_context(config: KubeConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the server and its name
    try:
        context.load_verify_locations(cadata=config.ca_pem.decode("ascii", "replace"))
        # ssl only loads a client certificate from files: a private temporary folder, removed at once.
        with tempfile.TemporaryDirectory(prefix="appliance-kube-") as folder:
            cert, key = Path(folder, "client.crt"), Path(folder, "client.key")
            cert.write_bytes(config.client_cert_pem)
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(config.client_key_pem)
            context.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as error:
        raise KubeUnavailable(f"the admin kubeconfig's certificates cannot be used ({error}); "
                              "copy admin.conf from the master again (appliance provision MASTER)") from None
    return context


class KubeClient:
    """The Kubernetes API of this cluster (see the module docstring)."""

    def __init__(self, config: KubeConfig, *, timeout: float = 10.0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self._context = _tls_context(config)

    @classmethod
    def from_kubeconfig(cls, path: Path) -> KubeClient:
        """A client for the kubeconfig at `path`."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KubeUnavailable(f"{path} does not exist: the master is not initialised yet; "
                                  "run: appliance provision MASTER") from None
        except (OSError, UnicodeDecodeError) as error:
            raise KubeUnavailable(f"{path} cannot be read ({error}); check its permissions (root, 0600)") from None
        return cls(parse_kubeconfig(text, str(path)))

    @classmethod
    def from_state_dir(cls, state_dir: Path) -> KubeClient:
        """A client for STATE_DIR/kubernetes/admin.conf (KubeUnavailable before the master is initialised)."""
        return cls.from_kubeconfig(Path(state_dir) / ADMIN_CONF)

    # -- transport ---------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *,
                content_type: str = "application/json") -> Any:
        """One API call; the decoded JSON answer. KubeUnavailable (no answer) or KubeRequestError (4xx/5xx)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": "pi-cluster-appliance"}
        if data is not None:
            headers["Content-Type"] = content_type
        connection = http.client.HTTPSConnection(self.config.host, self.config.port, context=self._context,
                                                 timeout=self.timeout)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read(MAX_BODY + 1)
        except (OSError, http.client.HTTPException) as error:
            reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or type(error).__name__
            raise KubeUnavailable(f"the API server at {self.config.server} does not answer ({reason}); "
                                  "is the master's control plane running? (appliance provision MASTER)") from None
        finally:
            connection.close()
        try:
            answer = json.loads(raw) if raw and len(raw) <= MAX_BODY else None
        except ValueError:
            answer = None
        if response.status >= 400:
            message = answer.get("message") if isinstance(answer, dict) else None
            text = " ".join(str(message or response.reason).split())[:200]
            raise KubeRequestError(f"{method} {path.split('?')[0]}: {response.status} {text}", response.status)
        return answer

    # -- tokens -------------------------------------------------------------------------------

    def ca_cert_hash(self) -> str:
        """`sha256:<64 hex>` of the cluster CA's SubjectPublicKeyInfo (what joins pin)."""
        return tokens.ca_cert_hash(self.config.ca_pem)

    def create_token(self, *, ttl: float, description: str) -> BootstrapToken:
        """A new bootstrap token (ttl seconds; 0 never expires); the returned object carries the secret."""
        token = tokens.generate_token()
        expires = self.clock() + ttl if ttl else None
        body = tokens.secret_body(token, description=description, expires=expires)
        self.request("POST", "/api/v1/namespaces/kube-system/secrets", body)
        return BootstrapToken(token[:6], description, expires, tuple(sorted(tokens.USAGES)), token)

    def list_tokens(self) -> list[BootstrapToken]:
        """Every bootstrap token the API holds (kubeadm token list), never with its secret."""
        query = urlencode({"fieldSelector": f"type={tokens.TOKEN_TYPE}"})
        answer = self.request("GET", f"/api/v1/namespaces/kube-system/secrets?{query}")
        items = answer.get("items") if isinstance(answer, dict) else None
        found = [tokens.token_from_secret(item) for item in items] if isinstance(items, list) else []
        return sorted((token for token in found if token is not None),
                      key=lambda token: (token.expires is None, token.expires or 0.0, token.id))

    def delete_token(self, token_id: str) -> None:
        """Revoke a token, given its id or the whole token."""
        token_id = token_id.split(".", 1)[0]
        if not tokens.is_valid_token_id(token_id):
            raise KubeRequestError(f"{token_id[:40]!r} is not a token id (6 characters a-z, 0-9)", 400)
        try:
            self.request("DELETE", f"/api/v1/namespaces/kube-system/secrets/{tokens.SECRET_PREFIX}{token_id}")
        except KubeRequestError as error:
            if error.status == 404:
                raise KubeRequestError(f"no bootstrap token {token_id}; see: appliance tokens list", 404) from None
            raise

    def join_command(self, token: str) -> str:
        """The command a worker runs to join (the appliance runs it for approved nodes)."""
        if not tokens.is_valid_token(token):
            raise KubeRequestError("a bootstrap token looks like abcdef.0123456789abcdef", 400)
        return (f"kubeadm join {self.config.host}:{self.config.port} --token {token} "
                f"--discovery-token-ca-cert-hash {self.ca_cert_hash()}")

    # -- nodes --------------------------------------------------------------------------------

    def list_nodes(self) -> list[KubeNode]:
        """Every node the API server knows."""
        return nodes_from_list(self.request("GET", "/api/v1/nodes"))

    def _patch_node(self, node: str, patch: dict[str, Any]) -> None:
        self.request("PATCH", f"/api/v1/nodes/{quote(node, safe='')}", patch, content_type=MERGE_PATCH)

    def patch_pod_cidr(self, node: str, cidr: str) -> None:
        """Set spec.podCIDR (and podCIDRs) of a node, from the registry's allocation."""
        self._patch_node(node, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})

    def cordon(self, node: str) -> None:
        """Mark the node unschedulable."""
        self._patch_node(node, {"spec": {"unschedulable": True}})

    def drain(self, node: str, *, timeout: float) -> None:
        """Evict every pod on the node except DaemonSet and mirror pods, and wait until they are gone."""
        deadline = time.monotonic() + timeout
        while True:
            pods = self._evictable_pods(node)
            if not pods:
                return
            for namespace, name in pods:
                self._evict(namespace, name)
            if time.monotonic() >= deadline:
                raise KubeRequestError(f"draining {node}: {len(pods)} pod(s) still there after {timeout:.0f} s "
                                       f"(e.g. {pods[0][0]}/{pods[0][1]}); a PodDisruptionBudget may hold them", 408)
            self.sleep(2.0)

    def _evictable_pods(self, node: str) -> list[tuple[str, str]]:
        query = urlencode({"fieldSelector": f"spec.nodeName={node}"})
        answer = self.request("GET", f"/api/v1/pods?{query}")
        pods = []
        for item in (answer.get("items") if isinstance(answer, dict) else None) or []:
            meta = item.get("metadata") if isinstance(item, dict) else None
            if not isinstance(meta, dict):
                continue
            owners = meta.get("ownerReferences") or []
            annotations = meta.get("annotations") or {}
            phase = (item.get("status") or {}).get("phase")
            if any(isinstance(o, dict) and o.get("kind") == "DaemonSet" for o in owners) \
                    or "kubernetes.io/config.mirror" in annotations or phase in ("Succeeded", "Failed"):
                continue
            if isinstance(meta.get("namespace"), str) and isinstance(meta.get("name"), str):
                pods.append((meta["namespace"], meta["name"]))
        return pods

    def _evict(self, namespace: str, name: str) -> None:
        body = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": name, "namespace": namespace}}
        try:
            self.request("POST", f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/"
                                 f"{quote(name, safe='')}/eviction", body)
        except KubeRequestError as error:
            if error.status not in (404, 429):  # gone already / a disruption budget says later
                raise

    def delete_node(self, node: str) -> None:
        """Remove the node object (nothing happens if there is none)."""
        try:
            self.request("DELETE", f"/api/v1/nodes/{quote(node, safe='')}")
        except KubeRequestError as error:
            if error.status != 404:
                raise
