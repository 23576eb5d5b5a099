"""`DaemonClient`: the CLI's view of the running master daemon, over its local JSON API.

`appliance nodes|tokens|provision|kubeconfig` use it when the daemon runs
(`daemon_running(state_dir)`): requests go over the Unix socket
STATE_DIR/master.sock with the bearer token in STATE_DIR/web/local_token,
both readable by root only, so nothing crosses the network and no password
is needed. The provisioning side's `DirectClient` opens the registry itself
when no daemon runs; `connect()` picks between the two (INTERFACES.md).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from appliance.master.actions import TokenView
from appliance.master.local_token import SOCKET_FILE, read_local_token
from appliance.master.views import NodeView
from foundation.errors import ApplianceError, EnvironmentProblem, UsageError

TIMEOUT = 30.0
"""Seconds one request may take."""
FINISHED = ("succeeded", "failed", "interrupted")


class DaemonError(ApplianceError, RuntimeError):
    """The daemon refused or failed a request; the text is its one line."""


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("master", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def daemon_running(state_dir: Path) -> bool:
    """Whether a master daemon answers on STATE_DIR's local socket (and its token is readable)."""
    if read_local_token(state_dir) is None or not (state_dir / SOCKET_FILE).exists():
        return False
    try:
        DaemonClient(state_dir, timeout=2.0).health()
    except (OSError, ApplianceError):
        return False
    return True


class DaemonClient:
    """The MasterClient of INTERFACES.md, spoken to the running daemon."""

    def __init__(self, state_dir: Path, *, timeout: float = TIMEOUT) -> None:
        token = read_local_token(state_dir)
        if token is None:
            raise EnvironmentProblem(f"cannot read the daemon's local token in {state_dir}/web; run as root "
                                     "on the master (or pass --state-dir)")
        self._state_dir = state_dir
        self._token = token
        self._timeout = timeout

    def _call(self, method: str, path: str, body: object | None = None) -> Any:
        connection = _UnixConnection(self._state_dir / SOCKET_FILE, self._timeout)
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, f"/api/v1{path}", body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except OSError as error:
            raise EnvironmentProblem(f"the master daemon does not answer on {self._state_dir / SOCKET_FILE} "
                                     f"({error}); check `systemctl status appliance-master`") from None
        finally:
            connection.close()
        if response.status >= 400:
            try:
                message = str(json.loads(data)["error"])
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {response.status}"
            raise (UsageError if response.status == 400 else DaemonError)(message)
        if response.getheader("Content-Type", "").startswith("application/json"):
            return json.loads(data)
        return data

    def health(self) -> bool:
        """The daemon answers."""
        return bool(self._call("GET", "/health")["ok"])

    def nodes(self) -> list[NodeView]:
        """Every node (the `nodes list -o json` rows)."""
        return [NodeView(**{**row, "agent_errors": tuple(row.get("agent_errors", ()))})
                for row in self._call("GET", "/nodes")["nodes"]]

    def approve(self, node: str) -> NodeView:
        """Approve a node; its provisioning job is queued by the daemon."""
        row = self._call("POST", f"/nodes/{quote(node, safe='')}/approve")["node"]
        return NodeView(**{**row, "agent_errors": tuple(row.get("agent_errors", ()))})

    def reprovision(self, node: str) -> int:
        """Queue the reprovision plan; the job id."""
        return int(self._call("POST", f"/nodes/{quote(node, safe='')}/reprovision")["job"])

    def forget(self, node: str) -> None:
        """Forget a node."""
        self._call("DELETE", f"/nodes/{quote(node, safe='')}")

    def tokens(self) -> list[TokenView]:
        """Every join token (never the secret half)."""
        return [TokenView(id=t["id"], description=t["description"], expires=t["expires"], usages=tuple(t["usages"]))
                for t in self._call("GET", "/tokens")["tokens"]]

    def create_token(self, *, ttl: float, description: str) -> tuple[TokenView, str]:
        """Mint a token; the token and its full `kubeadm join …` command."""
        made = self._call("POST", "/tokens", {"ttl": ttl, "description": description})
        t = made["token"]
        return TokenView(id=t["id"], description=t["description"], expires=t["expires"],
                         usages=tuple(t["usages"])), str(made["join_command"])

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token."""
        self._call("DELETE", f"/tokens/{quote(token_id, safe='')}")

    def provision(self, nodes: list[str], plan: str | None, dry_run: bool,
                  poll: float = 0.5) -> list[dict[str, Any]]:
        """Queue one job per node and wait for them; each job's final JSON (state, changed, error)."""
        ids = [int(job) for job in self._call("POST", "/provision",
                                               {"nodes": nodes, "plan": plan, "dry_run": dry_run})["jobs"]]
        finished: dict[int, dict[str, Any]] = {}
        seen: dict[int, int] = dict.fromkeys(ids, 0)
        while len(finished) < len(ids):
            for job_id in ids:
                if job_id in finished:
                    continue
                job = self._call("GET", f"/jobs/{job_id}?after={seen[job_id]}")
                if job["lines"]:
                    seen[job_id] = job["lines"][-1]["seq"]
                if job["state"] in FINISHED:
                    finished[job_id] = job
            if len(finished) < len(ids):
                time.sleep(poll)
        return [finished[job_id] for job_id in ids]

    def kubeconfig(self) -> bytes:
        """The admin kubeconfig for a laptop (the API named by the uplink's address)."""
        data = self._call("GET", "/kubeconfig")
        return data if isinstance(data, bytes) else json.dumps(data).encode()
