"""The Node object a kubelet registers and keeps fresh: labels, addresses, capacity, conditions.

Pure: facts about the machine in, JSON out. Ready follows what the real
kubelet sees from its runtime: the network is ready once a CNI
configuration exists in /etc/cni/net.d (NotReady with the real message
before that).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..textfmt import rfc3339

NETWORK_NOT_READY = ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                     "message:Network plugin returns error: cni plugin not initialized")
"""The Ready=False message of a node without CNI configuration."""


@dataclass
class MachineFacts:
    """What the kubelet reports about its machine."""

    name: str
    """Node name."""
    hostname: str
    """Hostname."""
    address: str
    """InternalIP."""
    arch: str
    """GOARCH (amd64, arm64)."""
    kernel: str
    """Kernel release."""
    os_image: str
    """PRETTY_NAME of /etc/os-release."""
    cpus: int
    """CPU count."""
    memory_kib: int
    """MemTotal in KiB."""
    machine_id: str
    """/etc/machine-id."""
    kubelet_version: str
    """The kubelet's version."""
    runtime_version: str
    """containerd://<version> of the installed containerd, or unknown."""
    network_ready: bool
    """A CNI configuration exists."""


def conditions(facts: MachineFacts, now: datetime, since: datetime) -> list[dict[str, str]]:
    """The node's conditions with heartbeat `now` (transition times `since`)."""
    beat, start = rfc3339(now), rfc3339(since)
    result = [
        {"type": name, "status": "False", "lastHeartbeatTime": beat, "lastTransitionTime": start,
         "reason": reason, "message": message}
        for name, reason, message in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))
    ]
    if facts.network_ready:
        ready = {"status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
    else:
        ready = {"status": "False", "reason": "KubeletNotReady", "message": NETWORK_NOT_READY}
    result.append({"type": "Ready", **ready, "lastHeartbeatTime": beat, "lastTransitionTime": start})
    return result


def status(facts: MachineFacts, now: datetime, since: datetime) -> dict[str, object]:
    """status of the Node."""
    capacity = {"cpu": str(facts.cpus), "ephemeral-storage": "30787492Ki", "hugepages-2Mi": "0",
                "memory": f"{facts.memory_kib}Ki", "pods": "110"}
    return {
        "capacity": capacity, "allocatable": dict(capacity),
        "conditions": conditions(facts, now, since),
        "addresses": [{"type": "InternalIP", "address": facts.address},
                      {"type": "Hostname", "address": facts.hostname}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": facts.machine_id, "systemUUID": facts.machine_id, "bootID": "",
                     "kernelVersion": facts.kernel, "osImage": facts.os_image,
                     "containerRuntimeVersion": facts.runtime_version, "kubeletVersion": facts.kubelet_version,
                     "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": facts.arch},
    }


def node_object(facts: MachineFacts, now: datetime, since: datetime, extra_labels: dict[str, str]) -> dict[str, object]:
    """The Node the kubelet registers."""
    labels = {"beta.kubernetes.io/arch": facts.arch, "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": facts.arch, "kubernetes.io/hostname": facts.hostname,
              "kubernetes.io/os": "linux", **extra_labels}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": facts.name, "labels": labels,
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {}, "status": status(facts, now, since)}


def mirror_pod(name: str, node: str, manifest: dict[str, Any], node_uid: str, address: str,
               now: datetime) -> dict[str, object]:
    """The mirror pod of a static pod (what `kubectl get pods -n kube-system` shows for it)."""
    found = manifest.get("metadata")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    spec = dict(manifest.get("spec") or {})  # type: ignore[call-overload]
    spec["nodeName"] = node
    containers = spec.get("containers") or []
    stamp = rfc3339(now)
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{name}-{node}", "namespace": "kube-system",
                     "labels": dict(meta.get("labels") or {}),  # type: ignore[union-attr]
                     "annotations": {"kubernetes.io/config.mirror": "simulated", "kubernetes.io/config.source": "file",
                                     "kubernetes.io/config.seen": stamp},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid,
                                          "controller": True}]},
        "spec": spec,
        "status": {"phase": "Running", "hostIP": address, "podIP": address, "startTime": stamp,
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp}],
                   "containerStatuses": [{"name": str(c.get("name")), "ready": True, "restartCount": 0,
                                          "image": str(c.get("image")), "started": True,
                                          "state": {"running": {"startedAt": stamp}}}
                                         for c in containers if isinstance(c, dict)]},
    }
