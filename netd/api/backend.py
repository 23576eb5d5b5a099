"""What the agent API needs from the master's state, and its implementation over the registry.

Agents authenticate with `Authorization: Bearer <node>.<secret>`; the registry
keeps only a SHA-256 of the secret (agent_credentials table,
foundation.registry.credentials). The latest report of each agent is kept in
memory for the web page; last_seen goes to the registry at most every
TOUCH_EVERY seconds, to spare the SD card.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from foundation import registry
from foundation.records import NodeRecord
from netd.agent.protocol import AgentCredential, Report

TOUCH_EVERY = 30.0
"""Write an agent's last_seen into the registry at most this often (spares the SD card)."""


@dataclass(frozen=True)
class AgentStatus:
    """The latest report of one agent (for the web page)."""

    node: str
    """Node name."""
    seen: float
    """Unix time of the report."""
    report: Report
    """What it said."""


class AgentBackend(Protocol):
    """What the API needs from the master's state."""

    def nodes(self) -> list[NodeRecord]:
        """Every node."""

    def verify(self, credential: AgentCredential) -> bool:
        """Whether the credential is the node's current one."""

    def heard_from(self, node: str, report: Report, now: float) -> None:
        """Record an agent's report."""


class RegistryBackend:
    """AgentBackend over the registry in a state directory (one connection per server thread)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.status: dict[str, AgentStatus] = {}
        """Latest report per node (in memory)."""
        self._local = threading.local()
        self._touched: dict[str, float] = {}

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = registry.open_registry(self.state_dir)
            self._local.conn = conn
        return conn

    def nodes(self) -> list[NodeRecord]:
        return registry.list_node_records(self._conn())

    def verify(self, credential: AgentCredential) -> bool:
        return registry.verify_agent_credential(self._conn(), credential.node, credential.secret)

    def heard_from(self, node: str, report: Report, now: float) -> None:
        self.status[node] = AgentStatus(node, now, report)
        if now - self._touched.get(node, 0.0) >= TOUCH_EVERY:
            registry.touch_node(self._conn(), node, now=now)
            self._touched[node] = now
