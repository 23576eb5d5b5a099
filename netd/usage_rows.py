"""The nodes view's CPU and memory: the agents' latest reports turned into table rows (pure).

The web page renders these rows and nothing else: `usage_rows(latest, now)`
takes the master's latest report per node (its name, when it came, the usage
it carried) and returns one row per node and one per pod, sorted, with
percentages worked out and stale reports marked.
A node whose agent sends no figures (an older agent) still gets a row, with
its figures None.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from netd.agent.usage_report import UsageReport

STALE_AFTER = 15.0
"""Seconds without a report after which a node's figures are shown as stale (3 report intervals)."""


Latest = tuple[str, float, UsageReport | None]
"""One node's latest report: its name, its time (the clock of `now`), the usage it carried (None: an
older agent)."""


@dataclass(frozen=True)
class NodeRow:
    """One node in the nodes view."""

    node: str
    """Node name."""
    seen_ago: float
    """Seconds since its agent last reported."""
    stale: bool
    """True when that is longer than STALE_AFTER: the figures are old."""
    cpu_millicores: int | None
    """CPU in use, thousandths of a core."""
    memory_used: int | None
    """Memory in use, bytes."""
    memory_total: int | None
    """Memory of the node, bytes."""
    memory_percent: float | None
    """memory_used of memory_total, in percent (one decimal)."""
    pods: int | None
    """Pods found on the node (None: its agent does not measure them)."""
    tasks: int | None
    """Processes and threads on the node."""


@dataclass(frozen=True)
class PodRow:
    """One pod in the nodes view."""

    node: str
    """The node it runs on."""
    uid: str
    """The pod's UID."""
    qos: str
    """Its QoS class."""
    containers: int
    """Its containers."""
    cpu_millicores: int | None
    """CPU in use, thousandths of a core."""
    memory_used: int | None
    """Memory in use, bytes."""
    memory_limit: int | None
    """Its memory limit, bytes (None: unlimited or unknown)."""
    memory_percent: float | None
    """memory_used of memory_limit, in percent (None without a limit)."""
    pids: int | None
    """Tasks in the pod."""


def _percent(part: int | None, whole: int | None) -> float | None:
    if part is None or not whole:
        return None
    return round(100.0 * part / whole, 1)


def usage_rows(
    latest: Iterable[Latest], now: float, stale_after: float = STALE_AFTER
) -> tuple[list[NodeRow], list[PodRow]]:
    """Rows for every node (by name) and every pod (by node, then most CPU first, then UID)."""
    nodes: list[NodeRow] = []
    pods: list[PodRow] = []
    for name, seen, usage in sorted(latest, key=lambda entry: entry[0]):
        ago = max(0.0, now - seen)
        node = usage.node if usage is not None else None
        nodes.append(NodeRow(
            node=name,
            seen_ago=ago,
            stale=ago > stale_after,
            cpu_millicores=node.cpu_millicores if node else None,
            memory_used=node.memory_current if node else None,
            memory_total=node.memory_max if node else None,
            memory_percent=_percent(node.memory_current, node.memory_max) if node else None,
            pods=len(usage.pods) if usage is not None and usage.cgroup_version else None,
            tasks=node.pids if node else None,
        ))
        for pod in usage.pods if usage is not None else ():
            u = pod.usage
            pods.append(PodRow(
                node=name,
                uid=pod.uid,
                qos=pod.qos,
                containers=pod.containers,
                cpu_millicores=u.cpu_millicores,
                memory_used=u.memory_current,
                memory_limit=u.memory_max,
                memory_percent=_percent(u.memory_current, u.memory_max),
                pids=u.pids,
            ))
    pods.sort(key=lambda row: (row.node, -(row.cpu_millicores or 0), row.uid))
    return nodes, pods
