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
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from appliance.cli.master_client import NodeView
from appliance.kube import BootstrapToken
from appliance.master.local_token import SOCKET_FILE, read_local_token
from foundation.config.model import Config
from foundation.errors import ApplianceError, EnvironmentProblem, UsageError
from provisioning.runner import JobOutcome, JobProgress

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

    def __init__(self, state_dir: Path, *, timeout: float = TIMEOUT, config_path: Path | None = None,
                 on_progress: Callable[[JobProgress], None] | None = None) -> None:
        token = read_local_token(state_dir)
        if token is None:
            raise EnvironmentProblem(f"cannot read the daemon's local token in {state_dir}/web; run as root "
                                     "on the master (or pass --state-dir)")
        self._state_dir = state_dir
        self._token = token
        self._timeout = timeout
        self._on_progress = on_progress
        self._config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        """cluster.yaml (the commands read defaults such as kubernetes.token_ttl from it)."""
        if self._config is None:
            from appliance.cli.master_client import config_default
            from foundation.config import load_config

            self._config = load_config(self._config_path or config_default())
        return self._config

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
        return [_node_view(row) for row in self._call("GET", "/nodes")["nodes"]]

    def approve(self, node: str) -> NodeView:
        """Approve a node; its provisioning job is queued by the daemon."""
        return _node_view(self._call("POST", f"/nodes/{quote(node, safe='')}/approve")["node"])

    def reprovision(self, node: str) -> int:
        """Queue the reprovision plan; the job id."""
        return int(self._call("POST", f"/nodes/{quote(node, safe='')}/reprovision")["job"])

    def forget(self, node: str) -> None:
        """Forget a node."""
        self._call("DELETE", f"/nodes/{quote(node, safe='')}")

    def tokens(self) -> list[BootstrapToken]:
        """Every join token (never the secret half)."""
        return [_token(row) for row in self._call("GET", "/tokens")["tokens"]]

    def create_token(self, *, ttl: float, description: str) -> tuple[BootstrapToken, str]:
        """Mint a token; the token (with its whole text) and its full `kubeadm join …` command."""
        made = self._call("POST", "/tokens", {"ttl": ttl, "description": description})
        return _token(made["token"], str(made["secret"])), str(made["join_command"])

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token."""
        self._call("DELETE", f"/tokens/{quote(token_id, safe='')}")

    def provision(self, nodes: list[str], plan: str | None, dry_run: bool,
                  poll: float = 0.5) -> list[JobOutcome]:
        """Have the daemon run one job per node, follow them to their end, and say how each ended.

        A dry run changes nothing on a node, so it runs here, in the command (DirectClient), which
        hands back the exact list of what it would do; the daemon's jobs are not disturbed."""
        if not nodes:
            raise UsageError("name at least one node, e.g. appliance provision node-1")
        if dry_run:
            from appliance.cli.master_client import DirectClient

            direct = DirectClient(self._config_path, self._state_dir, on_progress=self._on_progress)
            return direct.provision(nodes, plan, dry_run)
        ids = [int(job) for job in self._call("POST", "/provision",
                                               {"nodes": nodes, "plan": plan, "dry_run": dry_run})["jobs"]]
        finished: dict[int, dict[str, Any]] = {}
        lines: dict[int, list[str]] = {job_id: [] for job_id in ids}
        seen: dict[int, int] = dict.fromkeys(ids, 0)
        while len(finished) < len(ids):
            for job_id in ids:
                if job_id in finished:
                    continue
                job = self._call("GET", f"/jobs/{job_id}?after={seen[job_id]}")
                if job["lines"]:
                    seen[job_id] = job["lines"][-1]["seq"]
                    lines[job_id] += [line["line"] for line in job["lines"]]
                if self._on_progress is not None and job["state"] != "queued":
                    self._on_progress(JobProgress(
                        job_id=job_id, node=job["node"], plan=job["plan"], step=int(job.get("step") or 0),
                        steps=int(job.get("steps") or 0), step_name=str(job.get("step_name") or ""),
                        changed=int(job.get("changed") or 0), state=job["state"]))
                if job["state"] in FINISHED:
                    finished[job_id] = job
            if len(finished) < len(ids):
                time.sleep(poll)
        return [_outcome(finished[job_id], lines[job_id]) for job_id in ids]

    def kubeconfig(self) -> bytes:
        """The admin kubeconfig for a laptop (the API named by the uplink's address)."""
        data = self._call("GET", "/kubeconfig")
        return data if isinstance(data, bytes) else json.dumps(data).encode()


def _node_view(row: dict[str, Any]) -> NodeView:
    return NodeView(name=row["name"], mac=row["mac"], address=row["address"], model=row["model"],
                    state=row["state"], pod_cidr=row["pod_cidr"], last_seen=row["last_seen"],
                    role=row.get("role", "worker"), ready=row.get("ready"))


def _token(row: dict[str, Any], secret: str | None = None) -> BootstrapToken:
    return BootstrapToken(id=row["id"], description=row["description"], expires=row["expires"],
                          usages=tuple(row["usages"]), token=secret)


def _outcome(job: dict[str, Any], lines: list[str]) -> JobOutcome:
    """How a job ended, from the daemon's JSON (its commands are the `$ ` lines of its log)."""
    return JobOutcome(job_id=int(job["id"]), node=job["node"], plan=job["plan"], state=job["state"],
                      changed=int(job.get("changed") or 0), steps=int(job.get("steps") or 0),
                      error=job.get("error"), resumed_from=job.get("resumed_from"),
                      dry_run=bool(job.get("dry_run")),
                      commands=tuple(line[2:] for line in lines if line.startswith("$ ")))
