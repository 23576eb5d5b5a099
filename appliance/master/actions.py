"""What a person can do to the cluster, carried out by the daemon: the page's buttons and the
JSON API behind `appliance nodes|tokens|provision|kubeconfig` both call these.

Every method takes the caller's registry connection first (the web keeps one
per request on `g`), so the actions hold no connection of their own and can
be shared by the server's threads.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from appliance.kube.kubeconfig import laptop_kubeconfig
from appliance.master.kube_access import KubeNotReady, admin_conf, open_kube
from appliance.master.views import LiveFacts, NodeView, node_views
from foundation import registry
from foundation.config.model import Config
from foundation.errors import ApplianceError, RegistryError, UsageError
from foundation.registry import NodeRole, NodeState
from netd.usage_rows import NodeRow, PodRow, usage_rows

log = logging.getLogger("appliance.master")

PLANS = ("all", "prepare", "kubernetes", "init", "join", "reset", "reprovision")
"""Provisioning plans a person may ask for (INTERFACES.md)."""


class ProvisioningUnavailable(ApplianceError, RuntimeError):
    """The provisioning runner is not running in this daemon."""


class JobSubmitter(Protocol):
    """The part of provisioning's Runner the actions use."""

    def submit(self, node: str, plan: str = "all", *, dry_run: bool = False) -> int:
        """Queue a job; return its id."""


@dataclass(frozen=True)
class TokenView:
    """A join token as the page and `tokens list -o json` show it (never its secret half)."""

    id: str
    """The public half."""
    description: str
    """What the person wrote when making it."""
    expires: float | None
    """Unix time it stops working, None for never."""
    usages: tuple[str, ...]
    """kubeadm usages."""

    def ttl_left(self, now: float) -> float | None:
        """Seconds until it expires (0 once expired), None for never."""
        return None if self.expires is None else max(0.0, self.expires - now)

    def to_json(self) -> dict[str, Any]:
        """The `tokens list -o json` row."""
        return {"id": self.id, "description": self.description, "expires": self.expires,
                "usages": list(self.usages)}


def _token_view(token: Any) -> TokenView:
    return TokenView(id=str(token.id), description=str(token.description),
                     expires=token.expires, usages=tuple(token.usages))


@dataclass
class MasterActions:
    """The daemon's actions over the registry, the runner and Kubernetes."""

    config: Config
    """The cluster config."""
    state_dir: Path
    """Where the registry and admin.conf live."""
    facts: LiveFacts = field(default_factory=LiveFacts)
    """Live facts (agents, traffic, Kubernetes nodes) the daemon keeps up to date."""
    runner: JobSubmitter | None = None
    """Provisioning's runner, None when it is not running."""
    uplink_address: Callable[[], str | None] = lambda: None
    """The uplink's current address (for the laptop's kubeconfig)."""
    open_kube: Callable[[Path], Any] = open_kube
    """Opens the Kubernetes adapter (KubeNotReady when there is none)."""
    master_initialised: Callable[[], bool] = lambda: True
    """Whether the master's Kubernetes is up (a worker's job is queued only then: it joins)."""
    clock: Callable[[], float] = time.time
    """Unix time."""

    # ----- nodes -----------------------------------------------------------------
    def nodes(self, conn: sqlite3.Connection) -> list[NodeView]:
        """Every node as shown, master first."""
        return node_views(conn, self.facts, self.config, self.clock())

    def usage(self) -> tuple[list[NodeRow], list[PodRow]]:
        """CPU and memory per node and per pod, from the agents' latest reports."""
        latest = [(name, agent.seen, agent.usage) for name, agent in list(self.facts.agents.items())]
        return usage_rows(latest, self.clock())

    def node(self, conn: sqlite3.Connection, ident: str) -> NodeView:
        """One node by name, MAC or address; RegistryError with the fix when unknown."""
        row = registry.find_node(conn, ident)
        if row is None:
            registry.require_node(conn, ident)  # raises the registry's one-line message
        assert row is not None
        return next(view for view in self.nodes(conn) if view.name == row.name)

    def _name(self, conn: sqlite3.Connection, ident: str) -> str:
        row = registry.find_node(conn, ident)
        return row.name if row is not None else registry.require_node(conn, ident).name

    def approve(self, conn: sqlite3.Connection, ident: str, *, by: str = "admin") -> NodeView:
        """discovered → approved, then queue the job that brings it to joined."""
        name = self._name(conn, ident)
        before = registry.require_node(conn, name)
        registry.approve_node(conn, name, now=self.clock())
        if before.state is NodeState.DISCOVERED:
            log.info("node approved", extra={"event": "node.approved", "node": name, "by": by})
            self.start_join(conn, name)
        return self.node(conn, name)

    def start_join(self, conn: sqlite3.Connection, name: str) -> int | None:
        """Queue the job that brings an approved worker to joined, once the master is initialised
        and nothing else runs for it; the job id, or None when it has to wait."""
        if self.runner is None or registry.active_jobs(conn, name):
            return None
        if not self.master_initialised():
            log.info("approved node waits for the master's Kubernetes",
                     extra={"event": "job.waiting", "node": name})
            return None
        job = self.runner.submit(name, "all")
        log.info("job queued", extra={"event": "job.queued", "node": name, "job": job, "plan": "all"})
        return job

    def _submit(self, name: str, plan: str, dry_run: bool = False) -> int:
        if self.runner is None:
            raise ProvisioningUnavailable("the provisioning runner is not running in this daemon; "
                                          "run `appliance provision` with the daemon stopped")
        if plan not in PLANS:
            raise UsageError(f"unknown plan {plan!r}; choose one of {', '.join(PLANS)}")
        conn = registry.open_registry(self.state_dir)
        try:
            same = [job for job in registry.active_jobs(conn, name) if job.plan == plan and job.dry_run == dry_run]
        finally:
            conn.close()
        if same:  # the daemon already runs what was asked (an approval, the master's init): follow it
            log.info("job already running", extra={"event": "job.followed", "node": name, "job": same[0].id})
            return same[0].id
        job = self.runner.submit(name, plan, dry_run=dry_run)
        log.info("job queued", extra={"event": "job.queued", "node": name, "job": job, "plan": plan})
        return job

    def reprovision(self, conn: sqlite3.Connection, ident: str) -> int:
        """Queue the reprovision plan (drain, reset, clean, provision, rejoin); return the job id."""
        name = self._name(conn, ident)
        node = registry.require_node(conn, name)
        if node.state is NodeState.DISCOVERED:
            raise RegistryError(f"{name} was never approved; approve it first (it is then provisioned)")
        if node.role is NodeRole.MASTER:  # resetting the master would end the cluster: run its plan again
            return self._submit(name, "all")
        return self._submit(name, "reprovision")

    def provision(self, conn: sqlite3.Connection, idents: list[str], plan: str | None,
                  dry_run: bool) -> list[int]:
        """Queue one job per node; return their ids in the order given."""
        names = [self._name(conn, ident) for ident in idents]
        return [self._submit(name, plan or "all", dry_run) for name in names]

    def forget(self, conn: sqlite3.Connection, ident: str) -> None:
        """Delete the node (its name, address and pod slice become free) and its Kubernetes node."""
        name = self._name(conn, ident)
        registry.forget_node(conn, name, now=self.clock())
        log.info("node forgotten", extra={"event": "node.forgotten", "node": name})
        try:
            self.open_kube(self.state_dir).delete_node(name)
        except KubeNotReady:
            pass  # no cluster yet: nothing to delete there
        except ApplianceError as error:
            log.warning("deleting the Kubernetes node failed", extra={"event": "kube.delete_failed",
                                                                      "node": name, "reason": str(error)})

    # ----- tokens ------------------------------------------------------------------
    def tokens(self) -> list[TokenView]:
        """Every bootstrap token Kubernetes knows (KubeNotReady before init)."""
        return [_token_view(token) for token in self.open_kube(self.state_dir).list_tokens()]

    def create_token(self, conn: sqlite3.Connection, *, ttl: float, description: str) -> tuple[TokenView, str, str]:
        """Mint a bootstrap token; return it, its full text and the `kubeadm join …` command."""
        if not 60 <= ttl <= 86400:
            raise UsageError("a token's TTL is from 1 minute to 24 hours; mint a new one when needed")
        if len(description) > 200 or any(ord(char) < 32 for char in description):
            raise UsageError("a token description is one line of at most 200 characters")
        kube = self.open_kube(self.state_dir)
        made = kube.create_token(ttl=ttl, description=description)
        secret = str(made.token)
        command = str(kube.join_command(secret))
        try:  # the registry keeps its hash, so the history shows it; Kubernetes is what joins use
            registry.store_token(conn, secret, description=description, expires=made.expires,
                                 now=self.clock(), usages=tuple(made.usages))
        except RegistryError as error:
            log.warning("token not recorded", extra={"event": "token.unrecorded", "reason": str(error)})
        log.info("token created", extra={"event": "token.created", "token_id": made.id, "ttl": ttl})
        return _token_view(made), secret, command

    def revoke_token(self, conn: sqlite3.Connection, token_id: str) -> None:
        """Delete the token from Kubernetes (and the registry's record of it)."""
        self.open_kube(self.state_dir).delete_token(token_id)
        if registry.get_token(conn, token_id) is not None:
            registry.revoke_token(conn, token_id, now=self.clock())
        log.info("token revoked", extra={"event": "token.revoked", "token_id": token_id})

    # ----- kubeconfig --------------------------------------------------------------------
    def kubeconfig(self, host_hint: str | None = None) -> bytes:
        """The admin kubeconfig for a laptop: the API named by an address the home network reaches.

        `host_hint` is the address the person's browser used to reach the page; it is used
        when it is one of the master's own (LAN or uplink), else the uplink's address.
        """
        path = admin_conf(self.state_dir)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise KubeNotReady(f"{path} does not exist yet: Kubernetes is set up when the master's "
                               "init job succeeds; see the jobs page") from None
        uplink = self.uplink_address()
        own = {str(self.config.network.master_address), uplink}
        host = host_hint if host_hint in own else (uplink or str(self.config.network.master_address))
        return laptop_kubeconfig(text, f"https://{host}:6443", self.config.cluster.name, str(path)).encode()
