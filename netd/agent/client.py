"""The agent's HTTP client for the master's agent API (urllib only: Debian's python3 suffices)."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit

from foundation.errors import ApplianceError, UsageError
from netd.agent.protocol import (
    API_PREFIX,
    MAX_BODY,
    AgentConfig,
    AgentCredential,
    ProtocolError,
    Report,
    parse_config,
    report_to_json,
)


class MasterUnreachable(ApplianceError, ConnectionError):
    """The master did not answer (down, network cut, timeout, 5xx); try again later."""


class CredentialRejected(ApplianceError, PermissionError):
    """The master refused the credential (401): it was revoked or re-issued."""


class NotReady(ApplianceError, RuntimeError):
    """The master knows no pod CIDR or address for this node yet (404/409)."""


def check_master_url(url: str) -> str:
    """`url` without a trailing slash; UsageError if it is not http(s)://host[:port]."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--master {url!r}: expected http://HOST:PORT (the master's agent API)")
    return url.rstrip("/")


class MasterClient:
    """Talks to one master with one credential."""

    def __init__(self, master_url: str, credential: AgentCredential, timeout: float = 5.0) -> None:
        self.master_url = check_master_url(master_url)
        self.credential = credential
        self.timeout = timeout

    def report(self, report: Report) -> AgentConfig:
        """Send a liveness report; returns the node's current config."""
        return parse_config(self._request("POST", "/report", report_to_json(report)))

    def fetch_config(self) -> AgentConfig:
        """The node's current config."""
        return parse_config(self._request("GET", "/config", None))

    def _request(self, method: str, path: str, body: bytes | None) -> bytes:
        request = urllib.request.Request(
            self.master_url + API_PREFIX + path,
            data=body,
            method=method,
            headers={
                "Authorization": f"Bearer {self.credential.bearer}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - URL checked
                data = response.read(MAX_BODY + 1)
        except urllib.error.HTTPError as error:
            detail = _error_text(error)
            error.close()
            if error.code == 401:
                raise CredentialRejected(
                    f"master {self.master_url} refused the credential of {self.credential.node} ({detail}) "
                    "— reprovision the node to issue a new one"
                ) from None
            if error.code in (404, 409):
                raise NotReady(f"master {self.master_url}: {detail}") from None
            if error.code >= 500:
                raise MasterUnreachable(f"master {self.master_url} failed: HTTP {error.code} {detail}") from None
            raise ProtocolError(f"master {self.master_url} answered HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise MasterUnreachable(f"master {self.master_url} unreachable: {reason}") from None
        if len(data) > MAX_BODY:
            raise ProtocolError(f"master {self.master_url}: answer larger than {MAX_BODY} bytes")
        return data


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        return " ".join(error.read(300).decode("utf-8", "replace").split())
    except OSError:
        return str(error.reason)
