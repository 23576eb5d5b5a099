"""What the page, the JSON API and `appliance nodes list` show of a node, built from the registry
and what the daemon knows live (agent reports, traffic counters, Kubernetes' node list)."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from appliance.master.policy import is_offline
from foundation import registry
from foundation.config.model import Config
from foundation.registry import LeaseState, NodeRole, NodeRow, NodeState
from hardware.models import MalformedMac, mac_vendor
from netd.agent.usage_report import UsageReport


@dataclass(frozen=True)
class KubeNodeFacts:
    """What Kubernetes says of one node (from the adapter's list_nodes)."""

    ready: bool
    """The node's Ready condition is True."""
    reason: str
    """The Ready condition's reason (as the kubelet wrote it: node-controlled text)."""
    kubelet_version: str
    """The kubelet's version (node-controlled text)."""


@dataclass(frozen=True)
class AgentFacts:
    """The latest report of a node's agent."""

    seen: float
    """Unix time of the report."""
    errors: tuple[str, ...]
    """Problems it reported (node-controlled text)."""
    version: str
    """Its version string (node-controlled text)."""
    usage: UsageReport | None = None
    """The CPU and memory it measured, whole and pod by pod (None: an agent that does not measure)."""


@dataclass
class LiveFacts:
    """What the daemon knows beyond the registry, refreshed as it runs."""

    agents: dict[str, AgentFacts] = field(default_factory=dict)
    """Latest agent report per node name."""
    kube: dict[str, KubeNodeFacts] | None = None
    """Kubernetes' nodes by name, None while the API cannot be asked."""
    traffic_out: dict[IPv4Address, int] = field(default_factory=dict)
    """Bytes forwarded to the uplink per source address (node and pod addresses)."""
    traffic_in: dict[IPv4Address, int] = field(default_factory=dict)
    """Bytes forwarded from the uplink per destination address."""
    kube_error: str | None = None
    """Why Kubernetes cannot be asked right now (one line), None when it answered."""


@dataclass(frozen=True)
class NodeView:
    """One node as the page and `nodes list -o json` show it."""

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
    """Unix time it was last heard from (DHCP, agent)."""
    role: str
    """master or worker."""
    hostname: str | None
    """The hostname it announced by DHCP (a valid DNS label, else not kept)."""
    ready: bool | None
    """Kubernetes says Ready; None when Kubernetes does not know it or cannot be asked."""
    offline: bool
    """Nothing heard from it for web.offline_after (see policy.is_offline)."""
    bytes_out: int
    """Bytes it and its pods sent through the master to the uplink."""
    bytes_in: int
    """Bytes the uplink sent back to it and its pods."""
    vendor: str | None = None
    """The board maker its MAC prefix names (a Raspberry Pi company), None for other makers."""
    agent_errors: tuple[str, ...] = ()
    """Problems its agent reported last."""
    kube_reason: str | None = None
    """Why Kubernetes says it is (not) Ready."""

    def to_json(self) -> dict[str, Any]:
        """The `nodes list -o json` row (the keys of ../shared/CLI.md, and more)."""
        row = asdict(self)
        row["agent_errors"] = list(self.agent_errors)
        return row


def _traffic(counts: dict[IPv4Address, int], address: IPv4Address | None, pods: IPv4Network | None) -> int:
    total = counts.get(address, 0) if address is not None else 0
    if pods is not None:
        total += sum(count for each, count in counts.items() if each in pods)
    return total


def node_view(node: NodeRow, *, lease_active: bool, has_agent: bool, facts: LiveFacts,
              config: Config, now: float) -> NodeView:
    """The view of one registry row."""
    agent = facts.agents.get(node.name)
    heard = max(node.last_seen, agent.seen if agent else 0.0)
    kube = facts.kube.get(node.name) if facts.kube is not None else None
    master = node.role is NodeRole.MASTER
    return NodeView(
        name=node.name, mac=node.mac, address=str(node.address) if node.address else None,
        model=node.model, state=node.state.value, pod_cidr=str(node.pod_cidr) if node.pod_cidr else None,
        last_seen=heard, role=node.role.value, hostname=node.hostname,
        ready=kube.ready if kube is not None else None,
        offline=False if master else is_offline(
            has_agent=has_agent or agent is not None, lease_active=lease_active, last_heard=heard,
            now=now, offline_after=config.web.offline_after),
        bytes_out=0 if master else _traffic(facts.traffic_out, node.address, node.pod_cidr),
        bytes_in=0 if master else _traffic(facts.traffic_in, node.address, node.pod_cidr),
        agent_errors=agent.errors if agent else (), kube_reason=kube.reason if kube else None,
        vendor=_vendor(node.mac),
    )  # fmt: skip


def _vendor(mac: str | None) -> str | None:
    if mac is None:
        return None
    try:
        return mac_vendor(mac)
    except MalformedMac:
        return None


def active_lease_nodes(conn: sqlite3.Connection, now: float) -> set[str]:
    """Names of nodes holding a lease that has not ended."""
    return {lease.node for lease in registry.list_leases(conn, active_only=True)
            if lease.state is LeaseState.ACTIVE and lease.expires > now}


def agent_nodes(conn: sqlite3.Connection) -> set[str]:
    """Names of nodes that were issued an agent credential."""
    return {row[0] for row in conn.execute("SELECT node FROM agent_credentials")}


def node_views(conn: sqlite3.Connection, facts: LiveFacts, config: Config, now: float) -> list[NodeView]:
    """Every node, master first."""
    leased = active_lease_nodes(conn, now)
    agents = agent_nodes(conn)
    return [node_view(node, lease_active=node.name in leased, has_agent=node.name in agents,
                      facts=facts, config=config, now=now)
            for node in registry.list_nodes(conn)]


def summary(views: list[NodeView]) -> dict[str, int]:
    """Counts for the overview: workers, ready, offline, waiting for approval, failed."""
    workers = [view for view in views if view.role == "worker"]
    return {
        "workers": len(workers),
        "ready": sum(1 for view in workers if view.ready),
        "offline": sum(1 for view in workers if view.offline),
        "discovered": sum(1 for view in workers if view.state == NodeState.DISCOVERED.value),
        "failed": sum(1 for view in workers if view.state == NodeState.FAILED.value),
    }
