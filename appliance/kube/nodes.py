"""Nodes as the API lists them, read defensively from their JSON (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KubeNode:
    """One Kubernetes node."""

    name: str
    """metadata.name."""
    ready: bool
    """Its Ready condition is True."""
    reason: str
    """The Ready condition's reason (e.g. KubeletReady, NodeStatusUnknown), "" when none."""
    kubelet_version: str
    """status.nodeInfo.kubeletVersion."""
    pod_cidr: str | None
    """spec.podCIDR, None when unset."""
    internal_ip: str | None
    """The InternalIP address, None when unreported."""
    unschedulable: bool = False
    """spec.unschedulable (cordoned)."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = 253) -> str:
    return value[:limit] if isinstance(value, str) else ""


def node_from_json(item: Any) -> KubeNode | None:
    """A KubeNode from one item of a NodeList, None when it has no name."""
    body = _dict(item)
    name = _text(_dict(body.get("metadata")).get("name"))
    if not name:
        return None
    spec, status = _dict(body.get("spec")), _dict(body.get("status"))
    ready, reason = False, ""
    for condition in status.get("conditions") or []:
        condition = _dict(condition)
        if condition.get("type") == "Ready":
            ready, reason = condition.get("status") == "True", _text(condition.get("reason"), 100)
    internal = next((_text(_dict(a).get("address"), 64) for a in status.get("addresses") or []
                     if _dict(a).get("type") == "InternalIP"), None)
    return KubeNode(
        name=name, ready=ready, reason=reason,
        kubelet_version=_text(_dict(status.get("nodeInfo")).get("kubeletVersion"), 64),
        pod_cidr=_text(spec.get("podCIDR"), 64) or None, internal_ip=internal or None,
        unschedulable=spec.get("unschedulable") is True,
    )


def nodes_from_list(document: Any) -> list[KubeNode]:
    """Every well-formed node of a NodeList."""
    items = _dict(document).get("items")
    found = [node_from_json(item) for item in items] if isinstance(items, list) else []
    return [node for node in found if node is not None]
