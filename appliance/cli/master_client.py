"""The CLI's view of the master: the daemon's API when it runs, else the registry opened directly.

`connect(config_path, state_dir)` returns a MasterClient. `DirectClient` (here)
opens the registry in the state directory and runs provisioning jobs in the
foreground of the command; the master daemon's `DaemonClient` (the master/web
work) talks to the running daemon, and `connect()` prefers it when the daemon
runs. Both give the same answers, so every command works either way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from appliance.kube import BootstrapToken, KubeClient, laptop_kubeconfig
from appliance.kube.errors import KubeRequestError, KubeUnavailable
from foundation import registry
from foundation.config import load_config
from foundation.config.model import Config
from foundation.errors import ApplianceError, UsageError
from foundation.registry import NodeRow, NodeState
from provisioning.runner import JobOutcome, JobProgress, Runner

DEFAULT_STATE_DIR = Path("/var/lib/appliance")
DEFAULT_CONFIG = Path("/etc/appliance/cluster.yaml")


def state_dir_default() -> Path:
    """$APPLIANCE_STATE_DIR, else /var/lib/appliance."""
    return Path(os.environ.get("APPLIANCE_STATE_DIR") or DEFAULT_STATE_DIR)


def config_default() -> Path:
    """$APPLIANCE_CONFIG, else /etc/appliance/cluster.yaml."""
    return Path(os.environ.get("APPLIANCE_CONFIG") or DEFAULT_CONFIG)


@dataclass(frozen=True)
class NodeView:
    """One node as `nodes list` shows it (the keys of CLI.md, plus ready when known)."""

    name: str
    """Node name."""
    mac: str | None
    """Hardware address."""
    address: str | None
    """LAN address."""
    model: str | None
    """Raspberry Pi model, if known."""
    state: str
    """discovered, approved, provisioning, joined or failed."""
    pod_cidr: str | None
    """Its pod network slice."""
    last_seen: float
    """Unix time it was last heard from."""
    role: str = "worker"
    """master or worker."""
    ready: bool | None = None
    """Kubernetes says Ready; None when Kubernetes does not know it or cannot be asked."""

    def to_json(self) -> dict[str, Any]:
        """The `nodes list -o json` row."""
        return asdict(self)


class MasterClient(Protocol):
    """What the CLI asks of the master (INTERFACES.md)."""

    def nodes(self) -> list[NodeView]: ...
    def approve(self, node: str) -> NodeView: ...
    def reprovision(self, node: str) -> int: ...
    def forget(self, node: str) -> None: ...
    def tokens(self) -> list[BootstrapToken]: ...
    def create_token(self, *, ttl: float, description: str) -> tuple[BootstrapToken, str]: ...
    def revoke_token(self, token_id: str) -> None: ...
    def provision(self, nodes: list[str], plan: str | None, dry_run: bool) -> list[JobOutcome]: ...
    def kubeconfig(self) -> bytes: ...


def view_of(node: NodeRow, ready: dict[str, bool] | None) -> NodeView:
    """The view of a registry row, with readiness from Kubernetes when known."""
    return NodeView(
        name=node.name, mac=node.mac, address=str(node.address) if node.address else None,
        model=node.model, state=node.state.value, pod_cidr=str(node.pod_cidr) if node.pod_cidr else None,
        last_seen=node.last_seen, role=node.role.value,
        ready=ready.get(node.name) if ready is not None else None,
    )


class DirectClient:
    """The registry in the state directory, provisioning run in this process (no daemon needed)."""

    def __init__(self, config_path: Path | None, state_dir: Path, *,
                 on_progress: Callable[[JobProgress], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config_path = config_path or config_default()
        self.state_dir = Path(state_dir)
        self.on_progress = on_progress
        self.clock = clock
        self._config: Config | None = None
        self._kube: KubeClient | None = None

    # -- helpers -------------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        """cluster.yaml, read on first use (only provisioning and the kubeconfig need it)."""
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def _open(self) -> Any:
        return registry.open_registry(self.state_dir)

    def _find(self, conn: Any, ident: str) -> NodeRow:
        node = registry.find_node(conn, ident)
        if node is None:
            raise UsageError(f"no node named {ident[:64]!r} (nor with that MAC or address); "
                             "see: appliance nodes list")
        return node

    def kube(self) -> KubeClient:
        """The Kubernetes API (KubeUnavailable before the master is initialised); one client per command."""
        if self._kube is None:
            self._kube = KubeClient.from_state_dir(self.state_dir)
        return self._kube

    def runner(self) -> Runner:
        """A runner over this state directory (SSH with the registry's pins)."""
        from provisioning.node_access import ssh_factory

        runner = Runner(self.config, self.state_dir, connect=ssh_factory(self.config, self.state_dir),
                        kube=self.kube, clock=self.clock, on_progress=self.on_progress)
        runner.import_card_keys()  # as the daemon does at start: a card flashed since is known
        return runner

    # -- MasterClient ----------------------------------------------------------------------------

    def nodes(self) -> list[NodeView]:
        """Every node, master first; ready from Kubernetes when its API answers."""
        conn = self._open()
        try:
            rows = registry.list_nodes(conn)
        finally:
            conn.close()
        ready: dict[str, bool] | None
        try:
            ready = {node.name: node.ready for node in self.kube().list_nodes()}
        except ApplianceError:
            ready = None
        return [view_of(row, ready) for row in rows]

    def approve(self, node: str) -> NodeView:
        """Approve a discovered node (nothing happens to a node approved already)."""
        conn = self._open()
        try:
            row = self._find(conn, node)
            if row.state is NodeState.DISCOVERED:
                row = registry.approve_node(conn, row.name, now=self.clock())
            return view_of(row, None)
        finally:
            conn.close()

    def reprovision(self, node: str) -> int:
        """Reset the node and bring it back to joined, now; the job id."""
        (outcome,) = self.provision([node], "reprovision", False)
        return outcome.job_id

    def forget(self, node: str) -> None:
        """Remove the node from the registry (and from Kubernetes, when its API answers)."""
        conn = self._open()
        try:
            row = self._find(conn, node)
            registry.forget_node(conn, row.name, now=self.clock())
        finally:
            conn.close()
        try:
            self.kube().delete_node(row.name)
        except ApplianceError:
            pass  # no cluster yet, or the API is down: there is nothing there to clean

    def tokens(self) -> list[BootstrapToken]:
        """The bootstrap tokens the API server holds (kubeadm token list); while the API does not
        answer, the unexpired ones the appliance minted, from the registry's history."""
        try:
            return self.kube().list_tokens()
        except KubeUnavailable:
            conn = self._open()
            try:
                rows = registry.list_tokens(conn)
            finally:
                conn.close()
            now = self.clock()
            if not rows:
                raise
            return [BootstrapToken(row.id, row.description, row.expires, tuple(sorted(row.usages)))
                    for row in rows if row.expires is None or row.expires > now]

    def create_token(self, *, ttl: float, description: str) -> tuple[BootstrapToken, str]:
        """A new token and the join command that uses it; the registry keeps its history, hashed."""
        client = self.kube()
        token = client.create_token(ttl=ttl, description=description)
        assert token.token is not None
        conn = self._open()
        try:
            registry.store_token(conn, token.token, description=description, expires=token.expires,
                                 now=self.clock(), usages=token.usages)
        finally:
            conn.close()
        return token, client.join_command(token.token)

    def revoke_token(self, token_id: str) -> None:
        """Delete the token from the API server (and its history row)."""
        self.kube().delete_token(token_id)
        conn = self._open()
        try:
            if registry.get_token(conn, token_id.split(".", 1)[0]) is not None:
                registry.revoke_token(conn, token_id.split(".", 1)[0], now=self.clock())
        finally:
            conn.close()

    def provision(self, nodes: list[str], plan: str | None, dry_run: bool) -> list[JobOutcome]:
        """Run `plan` (default all) on each node, in parallel, in this process."""
        if not nodes:
            raise UsageError("name at least one node, e.g. appliance provision node-1")
        runner = self.runner()
        ids = [runner.submit(node, plan or "all", dry_run=dry_run) for node in nodes]
        return runner.run_once(ids)

    def kubeconfig(self) -> bytes:
        """The admin kubeconfig for a laptop on the home network."""
        from provisioning.local import uplink_address

        try:
            admin = (self.state_dir / "kubernetes" / "admin.conf").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KubeUnavailable("the master is not initialised yet (no admin.conf); "
                                  "run: appliance provision MASTER") from None
        host = uplink_address(self.config) or f"{self.config.cluster.name}-master.local"
        return laptop_kubeconfig(admin, f"https://{host}:6443", self.config.cluster.name).encode()

    def accept_key(self, node: str, fingerprint: str | None) -> str:
        """Pin the host key the node presents now (after a re-image); returns its fingerprint."""
        from provisioning.node_access import accept_host_key

        conn = self._open()
        try:
            row = self._find(conn, node)
        finally:
            conn.close()
        return accept_host_key(self.config, self.state_dir, row, fingerprint, now=self.clock())


def connect(config_path: Path | None, state_dir: Path, *,
            on_progress: Callable[[JobProgress], None] | None = None) -> MasterClient:
    """The way to the master: the running daemon's local API when it answers, else the registry directly."""
    from appliance.cli.daemon_client import DaemonClient, daemon_running

    if daemon_running(state_dir):
        return DaemonClient(state_dir, config_path=config_path, on_progress=on_progress)
    return DirectClient(config_path, state_dir, on_progress=on_progress)


__all__ = ["DirectClient", "KubeRequestError", "MasterClient", "NodeView", "connect"]
