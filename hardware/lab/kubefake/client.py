"""A small REST client for the fake's own tools (kubeadm, kubelet), from a kubeconfig.

TLS is verified against the kubeconfig's CA; the client certificate or bearer
token of the kubeconfig's user authenticates. `insecure=True` is only for
discovery's one anonymous fetch of cluster-info, as the real kubeadm does it.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .kubeconfig import Kubeconfig


class ApiStatusError(Exception):
    """The server answered with an error Status."""

    def __init__(self, code: int, status: dict[str, Any]) -> None:
        self.code = code
        self.status = status
        self.reason = str(status.get("reason", ""))
        super().__init__(str(status.get("message", f"HTTP {code}")))


def ssl_context(config: Kubeconfig | None, *, insecure: bool = False) -> ssl.SSLContext:
    """A client TLS context: verify the CA (unless insecure), present the client certificate if any."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if insecure or config is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(cadata=config.ca_pem.decode())
    if config is not None and config.client_cert_pem and config.client_key_pem:
        # ssl wants files; a private temporary file lives only while it is loaded.
        with tempfile.NamedTemporaryFile("wb", delete=False) as handle:
            os.chmod(handle.name, 0o600)
            handle.write(config.client_cert_pem + b"\n" + config.client_key_pem)
        try:
            context.load_cert_chain(handle.name)
        finally:
            os.unlink(handle.name)
    return context


@dataclass
class Client:
    """REST calls against one API server."""

    server: str
    """https://host:port."""
    context: ssl.SSLContext
    """TLS settings."""
    token: str | None = None
    """Bearer token, if any."""
    timeout: float = 10.0
    """Seconds per request."""

    @classmethod
    def from_kubeconfig(cls, config: Kubeconfig, *, insecure: bool = False, timeout: float = 10.0) -> Client:
        """A client for a kubeconfig's current context."""
        return cls(config.server, ssl_context(config, insecure=insecure), config.token, timeout)

    def request(self, method: str, path: str, body: object = None,
                content_type: str = "application/json") -> dict[str, Any]:
        """Send one request; the decoded JSON answer, or ApiStatusError; OSError if unreachable."""
        url = urlsplit(self.server)
        connection = http.client.HTTPSConnection(url.hostname or "", url.port or 443, timeout=self.timeout,
                                                 context=self.context)
        headers = {"Accept": "application/json", "User-Agent": "kubeadm/simulated"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        try:
            decoded = json.loads(payload) if payload else {}
        except ValueError:
            decoded = {"message": payload.decode(errors="replace")}
        if response.status >= 400:
            raise ApiStatusError(response.status, decoded if isinstance(decoded, dict) else {})
        return decoded if isinstance(decoded, dict) else {"value": decoded}

    def get(self, path: str) -> dict[str, Any]:
        """GET."""
        return self.request("GET", path)

    def create(self, path: str, body: object) -> dict[str, Any]:
        """POST."""
        return self.request("POST", path, body)

    def put(self, path: str, body: object) -> dict[str, Any]:
        """PUT."""
        return self.request("PUT", path, body)

    def patch(self, path: str, body: object, kind: str = "merge") -> dict[str, Any]:
        """PATCH: kind `merge`, `strategic` or `json`."""
        media = {"merge": "application/merge-patch+json", "strategic": "application/strategic-merge-patch+json",
                 "json": "application/json-patch+json"}[kind]
        return self.request("PATCH", path, body, media)

    def delete(self, path: str) -> dict[str, Any]:
        """DELETE."""
        return self.request("DELETE", path)
