"""Per-node and per-pod CPU and memory in an agent's report: records and their JSON codec.

An optional part of `Report` (netd.agent.protocol): agents older than it
send none and still parse; a master older than it ignores the key. The
parser treats the body as hostile and raises only ProtocolError, like the
rest of the protocol. Standard library only (the node agent's payload).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from foundation.errors import ApplianceError

MAX_PODS = 250
"""Pods one report may carry (the kubelet's default limit is 110 per node)."""
MAX_COUNTER = (1 << 63) - 1
MAX_MILLICORES = 10_000_000
QOS_CLASSES = ("guaranteed", "burstable", "besteffort")
_POD_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")


class UsageError(ApplianceError, ValueError):
    """The usage part of a report is malformed; the text says which field."""


@dataclass(frozen=True)
class Usage:
    """CPU and memory of a node or a pod, as read at one moment."""

    cpu_usec: int | None
    """CPU time used since it started (all cores), microseconds; None if unknown."""
    cpu_millicores: int | None
    """CPU used over the last interval, in thousandths of a core; None on the first reading."""
    memory_current: int | None
    """Memory in use, bytes (a node: total minus available)."""
    memory_max: int | None
    """Its limit, bytes (a node: its total); None when unlimited or unknown."""
    pids: int | None
    """Tasks (processes and threads)."""


@dataclass(frozen=True)
class PodUsage:
    """One pod's usage."""

    uid: str
    """The pod's UID."""
    qos: str
    """Its QoS class: guaranteed, burstable or besteffort."""
    containers: int
    """Container cgroups found in it."""
    usage: Usage
    """Its figures (the pod's cgroup counts all its containers)."""


@dataclass(frozen=True)
class UsageReport:
    """What a node uses, whole and pod by pod."""

    cgroup_version: int
    """1 or 2; 0 when the node has no cgroup hierarchy we can read (no pod figures)."""
    node: Usage
    """The whole node (from /proc)."""
    pods: tuple[PodUsage, ...]
    """Every pod found in the cgroup tree, by UID."""


_FIELDS = ("cpu_usec", "cpu_millicores", "memory_current", "memory_max", "pids")


def usage_to_dict(usage: Usage) -> dict[str, int | None]:
    """Usage as JSON-ready fields."""
    return {name: getattr(usage, name) for name in _FIELDS}


def report_to_dict(report: UsageReport) -> dict[str, object]:
    """A UsageReport as a JSON-ready object."""
    return {
        "cgroup_version": report.cgroup_version,
        "node": usage_to_dict(report.node),
        "pods": [
            {"uid": p.uid, "qos": p.qos, "containers": p.containers, **usage_to_dict(p.usage)}
            for p in report.pods
        ],
    }


def _count(obj: dict[str, object], key: str, high: int, optional: bool = True) -> int | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise UsageError(f"usage: {key}: expected a whole number from 0 to {high}")
    return value


def _usage(obj: object, where: str) -> Usage:
    if not isinstance(obj, dict):
        raise UsageError(f"usage: {where}: expected an object")
    return Usage(
        cpu_usec=_count(obj, "cpu_usec", MAX_COUNTER),
        cpu_millicores=_count(obj, "cpu_millicores", MAX_MILLICORES),
        memory_current=_count(obj, "memory_current", MAX_COUNTER),
        memory_max=_count(obj, "memory_max", MAX_COUNTER),
        pids=_count(obj, "pids", MAX_COUNTER),
    )


def report_from_dict(obj: object) -> UsageReport:
    """Decode the `usage` object of a report; UsageError for anything else."""
    if not isinstance(obj, dict):
        raise UsageError("usage: expected an object")
    version = _count(obj, "cgroup_version", 2, optional=False)
    raw_pods = obj.get("pods")
    if not isinstance(raw_pods, list) or len(raw_pods) > MAX_PODS:
        raise UsageError(f"usage: pods: expected a list of at most {MAX_PODS}")
    pods = []
    for item in raw_pods:
        if not isinstance(item, dict):
            raise UsageError("usage: pods: every entry must be an object")
        uid, qos = item.get("uid"), item.get("qos")
        if not isinstance(uid, str) or not _POD_UID.fullmatch(uid):
            raise UsageError("usage: pods: uid must be a pod UID")
        if qos not in QOS_CLASSES:
            raise UsageError(f"usage: pods: qos must be one of {', '.join(QOS_CLASSES)}")
        containers = _count(item, "containers", 10_000, optional=False)
        assert containers is not None
        pods.append(PodUsage(uid, str(qos), containers, _usage(item, f"pod {uid}")))
    assert version is not None
    return UsageReport(version, _usage(obj.get("node"), "node"), tuple(pods))
