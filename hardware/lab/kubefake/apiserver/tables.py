"""Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for.

Columns and cells follow kube-apiserver's printers (pkg/printers/internalversion)
for the kinds kubectl users look at here; other kinds get the default
Name / Created At table, as a real server gives for custom resources.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from ..textfmt import human_duration, parse_rfc3339

Cells = list[object]
Column = tuple[str, str, int]  # name, type, priority

NAME_DOC = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
AGE_DOC = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"


def _get(obj: object, *path: str) -> object:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def age(obj: dict[str, object], now: datetime) -> str:
    """translateTimestampSince: HumanDuration since creation, `<unknown>` when unset."""
    stamp = _get(obj, "metadata", "creationTimestamp")
    if not isinstance(stamp, str):
        return "<unknown>"
    try:
        return human_duration(now - parse_rfc3339(stamp))
    except ValueError:
        return "<unknown>"


def _list(value: object) -> list[dict[str, object]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def node_status(node: dict[str, object]) -> str:
    """`Ready`, `NotReady`, `Unknown`, plus `,SchedulingDisabled` when cordoned."""
    status = []
    for condition in _list(_get(node, "status", "conditions")):
        if condition.get("type") == "Ready":
            status.append("Ready" if condition.get("status") == "True" else "NotReady")
    if not status:
        status.append("Unknown")
    if _get(node, "spec", "unschedulable") is True:
        status.append("SchedulingDisabled")
    return ",".join(status)


def node_roles(node: dict[str, object]) -> str:
    """Roles from node-role.kubernetes.io/<role> and kubernetes.io/role labels."""
    labels = _get(node, "metadata", "labels")
    roles: set[str] = set()
    if isinstance(labels, dict):
        for key, value in labels.items():
            if key.startswith("node-role.kubernetes.io/") and key[len("node-role.kubernetes.io/"):]:
                roles.add(key[len("node-role.kubernetes.io/"):])
            elif key == "kubernetes.io/role" and value:
                roles.add(str(value))
    return ",".join(sorted(roles)) or "<none>"


def _address(node: dict[str, object], kind: str) -> str:
    found = [str(a.get("address")) for a in _list(_get(node, "status", "addresses")) if a.get("type") == kind]
    return found[0] if found else "<none>"


def _info(node: dict[str, object], key: str) -> str:
    value = _get(node, "status", "nodeInfo", key)
    return str(value) if value else "<unknown>"


def _node(node: dict[str, object], now: datetime) -> Cells:
    return [_get(node, "metadata", "name"), node_status(node), node_roles(node), age(node, now),
            _info(node, "kubeletVersion"), _address(node, "InternalIP"), _address(node, "ExternalIP"),
            _info(node, "osImage"), _info(node, "kernelVersion"), _info(node, "containerRuntimeVersion")]


def _pod(pod: dict[str, object], now: datetime) -> Cells:
    containers = _list(_get(pod, "spec", "containers"))
    statuses = _list(_get(pod, "status", "containerStatuses"))
    ready = sum(1 for s in statuses if s.get("ready") is True)
    restarts = sum(count for s in statuses if isinstance(count := s.get("restartCount", 0), int))
    reason = _get(pod, "status", "reason") or _get(pod, "status", "phase") or "Unknown"
    if _get(pod, "metadata", "deletionTimestamp"):
        reason = "Terminating"
    gates = _list(_get(pod, "spec", "readinessGates"))
    return [_get(pod, "metadata", "name"), f"{ready}/{len(containers)}", reason, str(restarts), age(pod, now),
            _get(pod, "status", "podIP") or "<none>", _get(pod, "spec", "nodeName") or "<none>",
            _get(pod, "status", "nominatedNodeName") or "<none>", f"0/{len(gates)}" if gates else "<none>"]


def _data_count(obj: dict[str, object]) -> int:
    return sum(len(v) for key in ("data", "binaryData") if isinstance(v := obj.get(key), dict))


def _secret(secret: dict[str, object], now: datetime) -> Cells:
    return [_get(secret, "metadata", "name"), secret.get("type") or "Opaque", _data_count(secret), age(secret, now)]


def _configmap(cm: dict[str, object], now: datetime) -> Cells:
    return [_get(cm, "metadata", "name"), _data_count(cm), age(cm, now)]


def _namespace(ns: dict[str, object], now: datetime) -> Cells:
    return [_get(ns, "metadata", "name"), _get(ns, "status", "phase") or "Active", age(ns, now)]


def _service(svc: dict[str, object], now: datetime) -> Cells:
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in _list(_get(svc, "spec", "ports")))
    selector = _get(svc, "spec", "selector")
    selector_text = ",".join(f"{k}={v}" for k, v in sorted(selector.items())) if isinstance(selector, dict) else ""
    return [_get(svc, "metadata", "name"), _get(svc, "spec", "type") or "ClusterIP",
            _get(svc, "spec", "clusterIP") or "<none>", "<none>", ports or "<none>", age(svc, now),
            selector_text or "<none>"]


def _csr(csr: dict[str, object], now: datetime) -> Cells:
    conditions = [str(c.get("type")) for c in _list(_get(csr, "status", "conditions")) if c.get("status") != "False"]
    if _get(csr, "status", "certificate"):
        conditions.append("Issued")
    seconds = _get(csr, "spec", "expirationSeconds")
    requested = human_duration(timedelta(seconds=seconds)) if isinstance(seconds, int) else "<none>"
    return [_get(csr, "metadata", "name"), age(csr, now), _get(csr, "spec", "signerName") or "",
            _get(csr, "spec", "username") or "", requested, ",".join(conditions) or "Pending"]


def _default(obj: dict[str, object], now: datetime) -> Cells:
    return [_get(obj, "metadata", "name"), _get(obj, "metadata", "creationTimestamp")]


PRINTERS: dict[str, tuple[list[Column], Callable[[dict[str, object], datetime], Cells]]] = {
    "nodes": ([("Name", "string", 0), ("Status", "string", 0), ("Roles", "string", 0), ("Age", "string", 0),
               ("Version", "string", 0), ("Internal-IP", "string", 1), ("External-IP", "string", 1),
               ("OS-Image", "string", 1), ("Kernel-Version", "string", 1), ("Container-Runtime", "string", 1)],
              _node),
    "pods": ([("Name", "string", 0), ("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "string", 0),
              ("Age", "string", 0), ("IP", "string", 1), ("Node", "string", 1), ("Nominated Node", "string", 1),
              ("Readiness Gates", "string", 1)], _pod),
    "secrets": ([("Name", "string", 0), ("Type", "string", 0), ("Data", "integer", 0), ("Age", "string", 0)],
                _secret),
    "configmaps": ([("Name", "string", 0), ("Data", "integer", 0), ("Age", "string", 0)], _configmap),
    "namespaces": ([("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)], _namespace),
    "services": ([("Name", "string", 0), ("Type", "string", 0), ("Cluster-IP", "string", 0),
                  ("External-IP", "string", 0), ("Port(s)", "string", 0), ("Age", "string", 0),
                  ("Selector", "string", 1)], _service),
    "certificatesigningrequests": ([("Name", "string", 0), ("Age", "string", 0), ("SignerName", "string", 0),
                                    ("Requestor", "string", 0), ("RequestedDuration", "string", 0),
                                    ("Condition", "string", 0)], _csr),
}
DEFAULT: tuple[list[Column], Callable[[dict[str, object], datetime], Cells]] = (
    [("Name", "string", 0), ("Created At", "date", 0)], _default)


def _row_object(obj: dict[str, object], include: str) -> dict[str, object] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(resource: str, items: list[dict[str, object]], now: datetime, revision: str,
          include: str = "Metadata") -> dict[str, object]:
    """A Table of `items` (one row each) for `resource`."""
    columns, printer = PRINTERS.get(resource, DEFAULT)
    definitions = []
    for name, kind, priority in columns:
        doc = NAME_DOC if name == "Name" else AGE_DOC if name in ("Age", "Created At") else ""
        definition: dict[str, object] = {"name": name, "type": kind, "format": "name" if name == "Name" else "",
                                         "description": doc, "priority": priority}
        definitions.append(definition)
    rows = []
    for obj in items:
        row: dict[str, object] = {"cells": printer(obj, now)}
        included = _row_object(obj, include)
        if included is not None:
            row["object"] = included
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": revision},
            "columnDefinitions": definitions, "rows": rows}
