"""The resources the simulated API server serves, and its discovery documents.

Only what the appliance and the kubectl commands it relies on use: the core
group (nodes, pods, secrets, configmaps, namespaces, services, events),
apps (read by `kubectl drain` for DaemonSet pods), coordination (node
leases), certificates (the kubelet's TLS bootstrap) and policy (evictions).
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
"""Verbs of a plain read/write resource."""


@dataclass(frozen=True)
class Resource:
    """One served resource (a row of an APIResourceList)."""

    name: str
    """Plural resource name (`nodes`)."""
    kind: str
    """Kind (`Node`)."""
    group: str
    """API group ("" for core)."""
    version: str
    """API version (`v1`)."""
    namespaced: bool
    """True if objects live in a namespace."""
    short_names: tuple[str, ...] = ()
    """kubectl short names (`no`)."""
    singular: str = ""
    """Singular name (`node`)."""
    subresources: tuple[str, ...] = ()
    """Subresources served (`status`, `eviction`)."""

    @property
    def api_version(self) -> str:
        """`v1` or `group/v1`."""
        return f"{self.group}/{self.version}" if self.group else self.version


RESOURCES: tuple[Resource, ...] = (
    Resource("namespaces", "Namespace", "", "v1", False, ("ns",), "namespace", ("status",)),
    Resource("nodes", "Node", "", "v1", False, ("no",), "node", ("status",)),
    Resource("pods", "Pod", "", "v1", True, ("po",), "pod", ("status", "eviction")),
    Resource("secrets", "Secret", "", "v1", True, (), "secret"),
    Resource("configmaps", "ConfigMap", "", "v1", True, ("cm",), "configmap"),
    Resource("services", "Service", "", "v1", True, ("svc",), "service", ("status",)),
    Resource("events", "Event", "", "v1", True, ("ev",), "event"),
    Resource("serviceaccounts", "ServiceAccount", "", "v1", True, ("sa",), "serviceaccount"),
    Resource("daemonsets", "DaemonSet", "apps", "v1", True, ("ds",), "daemonset", ("status",)),
    Resource("deployments", "Deployment", "apps", "v1", True, ("deploy",), "deployment", ("status",)),
    Resource("replicasets", "ReplicaSet", "apps", "v1", True, ("rs",), "replicaset", ("status",)),
    Resource("leases", "Lease", "coordination.k8s.io", "v1", True, (), "lease"),
    Resource("certificatesigningrequests", "CertificateSigningRequest", "certificates.k8s.io", "v1", False,
             ("csr",), "certificatesigningrequest", ("approval", "status")),
    Resource("poddisruptionbudgets", "PodDisruptionBudget", "policy", "v1", True, ("pdb",),
             "poddisruptionbudget", ("status",)),
)
"""Everything served."""

GROUPS: tuple[str, ...] = ("apps", "coordination.k8s.io", "certificates.k8s.io", "policy")
"""Named groups, in /apis order."""


def find(group: str, version: str, name: str) -> Resource | None:
    """The resource at /api(s)/group/version/name, or None."""
    for resource in RESOURCES:
        if (resource.group, resource.version, resource.name) == (group, version, name):
            return resource
    return None


def by_kind(kind: str) -> Resource | None:
    """The resource of a kind."""
    return next((r for r in RESOURCES if r.kind == kind), None)


def _resource_entries(resource: Resource) -> list[dict[str, object]]:
    entry: dict[str, object] = {"name": resource.name, "singularName": resource.singular,
                                "namespaced": resource.namespaced, "kind": resource.kind,
                                "verbs": ALL_VERBS}
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    entries = [entry]
    for sub in resource.subresources:
        if sub == "eviction":
            entries.append({"name": f"{resource.name}/eviction", "singularName": "", "namespaced": True,
                            "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]})
        elif sub == "approval" or sub == "status":
            entries.append({"name": f"{resource.name}/{sub}", "singularName": "",
                            "namespaced": resource.namespaced, "kind": resource.kind,
                            "verbs": ["get", "patch", "update"]})
    return entries


def resource_list(group: str, version: str) -> dict[str, object] | None:
    """APIResourceList of /api/v1 or /apis/group/version; None if not served."""
    served = [r for r in RESOURCES if r.group == group and r.version == version]
    if not served:
        return None
    group_version = f"{group}/{version}" if group else version
    entries = [e for r in served for e in _resource_entries(r)]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}


def api_versions(address: str) -> dict[str, object]:
    """The /api document."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def group_list() -> dict[str, object]:
    """The /apis document."""
    groups = []
    for group in GROUPS:
        version = {"groupVersion": f"{group}/v1", "version": "v1"}
        groups.append({"name": group, "versions": [version], "preferredVersion": version})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group_document(group: str) -> dict[str, object] | None:
    """The /apis/group document, or None."""
    if group not in GROUPS:
        return None
    version = {"groupVersion": f"{group}/v1", "version": "v1"}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [version],
            "preferredVersion": version}
