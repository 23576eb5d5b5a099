"""What provisioning needs of the Kubernetes API, as a protocol (the client is appliance.kube's KubeClient).

Provisioning sits below the faces, so it cannot import the adapter; the face
that builds the Runner hands it a factory returning an object with these
methods. Operations never call it: they read a `ClusterView` snapshot (plain
data) and return `Api` actions that the executor carries out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


class KubeNodeLike(Protocol):
    """The fields of appliance.kube.KubeNode provisioning reads."""

    @property
    def name(self) -> str: ...
    @property
    def ready(self) -> bool: ...
    @property
    def pod_cidr(self) -> str | None: ...


class TokenLike(Protocol):
    """The fields of appliance.kube.BootstrapToken provisioning reads."""

    @property
    def id(self) -> str: ...
    @property
    def token(self) -> str | None: ...


class KubeApi(Protocol):
    """The subset of appliance.kube.KubeClient that provisioning uses."""

    def ca_cert_hash(self) -> str: ...
    def create_token(self, *, ttl: float, description: str) -> TokenLike: ...
    def delete_token(self, token_id: str) -> None: ...
    def list_nodes(self) -> Sequence[KubeNodeLike]: ...
    def patch_pod_cidr(self, node: str, cidr: str) -> None: ...
    def cordon(self, node: str) -> None: ...
    def drain(self, node: str, *, timeout: float) -> None: ...
    def delete_node(self, node: str) -> None: ...


KubeFactory = Callable[[], KubeApi]
"""Makes a client (raises an ApplianceError when the cluster has no admin credentials yet)."""


@dataclass(frozen=True)
class ClusterNode:
    """One node as the API server lists it."""

    name: str
    """Node name."""
    ready: bool
    """Its Ready condition."""
    pod_cidr: str | None
    """spec.podCIDR, None when unset."""


@dataclass(frozen=True)
class ClusterView:
    """A snapshot of the cluster for the operations that compare against it."""

    reachable: bool
    """False when there is no admin kubeconfig yet or the API server does not answer."""
    nodes: dict[str, ClusterNode]
    """Nodes by name (empty when unreachable)."""
    reason: str = ""
    """Why it is unreachable (one line)."""


UNREACHABLE = ClusterView(False, {}, "no Kubernetes API client")
