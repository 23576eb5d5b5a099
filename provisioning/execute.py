"""Carrying out the actions operations return, on the node (through its connector) and on the master.

Every command line and its output goes to the job log through the job's
Redactor; a secret (join token, agent credential) is registered with it the
moment it exists, before anything could print it. A failing action raises
ProvisionError (or ConnectError) with one line naming the node and the step.
"""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from foundation import registry
from foundation.errors import ApplianceError
from provisioning import credentials, paths
from provisioning.connector import CommandResult, ConnectError, Connector
from provisioning.jobs import JobLog
from provisioning.kube_api import KubeApi, KubeFactory
from provisioning.operations.base import (
    Action,
    Api,
    FetchAdminConf,
    IssueCredential,
    Join,
    ProvisionError,
    Put,
    Reboot,
    Run,
    Verify,
    WaitForNode,
)
from provisioning.redact import Redactor, one_line

ADMIN_CONF = Path("kubernetes") / "admin.conf"
"""Where, under the master's state directory, the admin kubeconfig is kept (INTERFACES.md)."""
API_ENDPOINT = Path("kubernetes") / "api-endpoint"
"""Under the state directory: the API server URL, one line."""
REBOOT_POLL = 2.0
"""Seconds between attempts to reach a rebooting node."""


def admin_conf_path(state_dir: Path) -> Path:
    """STATE_DIR/kubernetes/admin.conf."""
    return state_dir / ADMIN_CONF


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically with mode 0600 (its folder 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


_TELLING = (re.compile(r"\[ERROR "), re.compile(r"^E: "), re.compile(r"^(error|fatal)", re.IGNORECASE),
            re.compile(r"couldn't|cannot|failed|not found", re.IGNORECASE))
"""What an error line looks like, most telling first: kubeadm's preflight, apt, any error, any failure."""
_BOILERPLATE = re.compile(r"To see the stack trace|If you know what you are doing", re.IGNORECASE)


def telling_line(stderr: str, stdout: str) -> str:
    """The line of a failed command's output that says why (kubeadm prints its reason first and
    boilerplate last; apt's E: lines follow its W: lines), else stderr's last line, else stdout's."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not _BOILERPLATE.search(line)]
    for pattern in _TELLING:
        telling = [line for line in lines if pattern.search(line)]
        if telling:
            return telling[0]
    fallback = lines or [line.strip() for line in stdout.splitlines() if line.strip()] or ["no output"]
    return fallback[-1]


def describe(action: Action) -> str:
    """What the action does, as the log and --dry-run show it (no secrets: the Redactor runs after)."""
    if isinstance(action, Run):
        return f"$ {action.shown or action.command}"
    if isinstance(action, Put):
        what = "secret, " if action.secret else ""
        return f"$ write {action.path} ({what}{len(action.data)} bytes, mode {action.mode:04o}, {action.owner})"
    if isinstance(action, Reboot):
        return "$ reboot (and wait for the node to come back)"
    if isinstance(action, Verify):
        return f"? {action.command}"
    if isinstance(action, Api):
        return f"$ api: {action.description}"
    if isinstance(action, Join):
        return (f"$ kubeadm join {action.endpoint} --token <fresh {action.token_ttl / 60:.0f}-minute token> "
                f"--discovery-token-ca-cert-hash sha256:<cluster CA> --node-name {action.node_name}")
    if isinstance(action, WaitForNode):
        return f"? wait until the API lists {action.node_name}"
    if isinstance(action, FetchAdminConf):
        return f"$ copy {action.remote} to the master's STATE_DIR/{ADMIN_CONF} (mode 0600)"
    return f"$ issue the agent credential and write it to {action.path} (secret, mode 0600)"


@dataclass
class Executor:
    """Runs one job's actions against one node."""

    node: str
    """The node's name."""
    job_id: int
    """The job (named in token descriptions)."""
    connector: Connector
    """The node's connection."""
    log: JobLog
    """Where lines go."""
    redact: Redactor
    """The job's secrets."""
    conn: sqlite3.Connection
    """The registry (credentials, token history)."""
    state_dir: Path
    """The master's state directory."""
    kube: KubeFactory | None
    """Makes an API client."""
    reconnect: Callable[[], None]
    """Drops the node connection (after a reboot a new one is needed)."""
    clock: Callable[[], float] = time.time
    """Unix time (for timestamps)."""
    sleep: Callable[[float], None] = time.sleep
    """Waiting between polls."""
    monotonic: Callable[[], float] = time.monotonic
    """For deadlines (the wall clock may be stepped, e.g. by NTP on a Pi that just booted)."""
    step: str = ""
    """The step running now (for error messages)."""
    commands: list[str] = field(default_factory=list)
    """Every action described, in order (what a dry run prints)."""

    def api(self) -> KubeApi:
        """An API client, or one line saying why there is none."""
        if self.kube is None:
            raise ProvisionError(f"{self.node}: step {self.step} needs the Kubernetes API, "
                                 "but this runner was given no API client")
        return self.kube()

    def run(self, action: Action) -> None:
        """Carry out one action (ProvisionError or ConnectError when it fails)."""
        text = describe(action)
        self.commands.append(self.redact(text))
        self.log.command(text)
        if isinstance(action, Run):
            for secret in action.secrets:
                self.redact.add(secret)
            self._check(action.command, self.connector.run(action.command, sudo=True, timeout=action.timeout))
        elif isinstance(action, Put):
            self.connector.put(action.data, action.path, mode=action.mode, owner=action.owner)
        elif isinstance(action, Verify):
            result = self.connector.run(action.command, sudo=True, timeout=action.timeout)
            problem = action.judge(result)
            if problem is not None:
                raise ProvisionError(one_line(self.redact(problem)))
        elif isinstance(action, Reboot):
            self._reboot(action)
        elif isinstance(action, Api):
            action.call(self.api())
        elif isinstance(action, Join):
            self._join(action)
        elif isinstance(action, WaitForNode):
            self._wait_for_node(action)
        elif isinstance(action, FetchAdminConf):
            self._fetch_admin_conf(action)
        else:
            self._issue_credential(action)

    def _check(self, command: str, result: CommandResult) -> None:
        self.log.output(result.stdout, result.stderr)
        if result.ok:
            return
        why = "timed out" if result.exit_status == -1 else f"exited {result.exit_status}"
        last = telling_line(result.stderr, result.stdout)
        shown = command if len(command) <= 80 else command[:77] + "..."
        raise ProvisionError(one_line(self.redact(f"{self.node}: step {self.step}: `{shown}` {why}: {last}")))

    def _reboot(self, action: Reboot) -> None:
        marker = shlex.quote(paths.REBOOT_MARKER)
        self._check("touch marker", self.connector.run(f"touch {marker}", sudo=True))
        # In the background and detached, so the SSH command returns before the node goes down.
        self.connector.run("nohup sh -c 'sleep 1; systemctl reboot || reboot' >/dev/null 2>&1 </dev/null &",
                           sudo=True, timeout=30)
        self.reconnect()
        deadline = self.monotonic() + action.timeout
        last = "no answer yet"
        while self.monotonic() < deadline:
            self.sleep(REBOOT_POLL)
            try:
                if not self.connector.run(f"test -e {marker}", sudo=True, timeout=10).ok:
                    self.log.info(f"{self.node} is back from its reboot")
                    return
                last = "it has not gone down yet"
            except ConnectError as error:
                last = error.reason
            self.reconnect()
        raise ProvisionError(f"{self.node}: did not come back within {action.timeout:.0f} s of a reboot "
                             f"({one_line(last, 160)}); check its power and console, then run the plan again")

    def _join(self, action: Join) -> None:
        api = self.api()
        minted = api.create_token(ttl=action.token_ttl, description=f"appliance: join {self.node} (job {self.job_id})")
        token = minted.token or ""
        self.redact.add(token)
        try:
            now = self.clock()
            registry.store_token(self.conn, token, description=f"join {self.node} (job {self.job_id})",
                                 expires=now + action.token_ttl, now=now)
            command = (f"kubeadm join {shlex.quote(action.endpoint)} --token {shlex.quote(token)} "
                       f"--discovery-token-ca-cert-hash {shlex.quote(api.ca_cert_hash())} "
                       f"--node-name {shlex.quote(action.node_name)}")
            self._check("kubeadm join", self.connector.run(command, sudo=True, timeout=action.timeout))
        finally:
            try:
                api.delete_token(minted.id)
                self.log.info(f"token {minted.id} deleted")
            except (ApplianceError, OSError) as error:
                self.log.info(f"token {minted.id} could not be deleted ({one_line(str(error), 160)}); "
                              f"it expires by itself in {action.token_ttl / 60:.0f} minutes")

    def _wait_for_node(self, action: WaitForNode) -> None:
        deadline = self.monotonic() + action.timeout
        while True:
            if any(node.name == action.node_name for node in self.api().list_nodes()):
                return
            if self.monotonic() >= deadline:
                raise ProvisionError(f"{self.node}: the API does not list it {action.timeout:.0f} s after the join; "
                                     "check its kubelet: journalctl -u kubelet on the node")
            self.sleep(REBOOT_POLL)

    def _fetch_admin_conf(self, action: FetchAdminConf) -> None:
        data = self.connector.get(action.remote)
        write_private(admin_conf_path(self.state_dir), data)
        # The endpoint the master's side talks to (INTERFACES.md): the advertise address.
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip().startswith("server:"):
                write_private(self.state_dir / API_ENDPOINT, (line.split(":", 1)[1].strip() + "\n").encode())
                break

    def _issue_credential(self, action: IssueCredential) -> None:
        credential = credentials.issue_agent_credential(self.state_dir, self.node, now=self.clock())
        self.redact.add(credential.secret)
        self.connector.put(credential.file_text().encode(), action.path, mode=0o600)
