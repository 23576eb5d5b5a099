"""Who is asking, and may they: authentication and a condensed RBAC, as a kubeadm cluster has it.

Authentication (as kube-apiserver with --client-ca-file and
--enable-bootstrap-token-auth): a client certificate signed by the cluster CA
(user = CN, groups = O), a bootstrap token as Bearer token
(system:bootstrap:<id>), or nobody (system:anonymous).

Authorization is the effect of the roles kubeadm binds, written as rules:
cluster admins (system:masters, kubeadm:cluster-admins) may do anything;
anonymous may read kube-public/cluster-info and the health and version
paths; bootstrap tokens may create and read CSRs, get nodes and read the
kubeadm and kubelet ConfigMaps; nodes (system:nodes) may manage nodes, pods
status, leases and events and read ConfigMaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .. import tokens
from . import errors
from .resources import find
from .store import Store


@dataclass(frozen=True)
class User:
    """An authenticated (or anonymous) caller."""

    name: str
    """User name (`kubernetes-admin`, `system:node:node-1`, `system:anonymous`)."""
    groups: tuple[str, ...] = field(default_factory=tuple)
    """Groups, including system:authenticated / system:unauthenticated."""


ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))
"""The caller without credentials."""
ADMIN_GROUPS = frozenset({"system:masters", "kubeadm:cluster-admins"})
"""Groups bound to cluster-admin in a kubeadm cluster."""
ADMIN_USERS = frozenset({"system:kube-controller-manager", "system:kube-scheduler"})
"""Control-plane components (their own roles, condensed to everything here)."""
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")
"""system:public-info-viewer: open to everyone."""
DISCOVERY_PREFIXES = ("/api", "/apis", "/openapi", "/version", "/healthz", "/livez", "/readyz")
"""system:discovery: open to every authenticated user."""
BOOTSTRAP_CONFIGMAPS = frozenset({"kubeadm-config", "kubelet-config", "kube-proxy"})
"""ConfigMaps in kube-system that joining nodes read (kubeadm:nodes-kubeadm-config)."""


def from_certificate(common_name: str, organizations: list[str]) -> User:
    """The user of a verified client certificate."""
    return User(common_name, (*organizations, "system:authenticated"))


def from_bearer(store: Store, bearer: str, now: datetime) -> User:
    """The user of a bootstrap token; Unauthorized for anything else, as the real server says."""
    try:
        token = tokens.parse_token(bearer)
    except tokens.TokenError:
        raise errors.unauthorized() from None
    secret_resource = find("", "v1", "secrets")
    assert secret_resource is not None
    secret = store.find(secret_resource, "kube-system", tokens.SECRET_PREFIX + token.id)
    if secret is None or secret.get("type") != tokens.SECRET_TYPE:
        raise errors.unauthorized()
    try:
        stored = tokens.from_secret(secret)
    except tokens.TokenError:
        raise errors.unauthorized() from None
    data = tokens.secret_data(secret)
    if stored.token.secret != token.secret or stored.expired(now) \
            or data.get("usage-bootstrap-authentication") != "true":
        raise errors.unauthorized()
    groups = ("system:bootstrappers", *stored.groups, "system:authenticated")
    return User(f"system:bootstrap:{token.id}", groups)


@dataclass(frozen=True)
class Attributes:
    """What a request wants to do (the authorizer's request attributes)."""

    verb: str
    """get, list, watch, create, update, patch, delete, deletecollection."""
    resource: str
    """Plural resource name."""
    group: str
    """API group."""
    namespace: str
    """Namespace ("" at cluster scope)."""
    name: str = ""
    """Object name, when one is named."""
    subresource: str = ""
    """Subresource (status, eviction, approval)."""


def allowed(user: User, request: Attributes) -> bool:
    """True if kubeadm's bindings would let `user` do `request`."""
    groups = set(user.groups)
    if groups & ADMIN_GROUPS or user.name in ADMIN_USERS:
        return True
    target = (request.group, request.resource)
    if user.name == ANONYMOUS.name:
        return (target == ("", "configmaps") and request.namespace == "kube-public"
                and request.name == "cluster-info" and request.verb == "get")
    if "system:bootstrappers" in groups:
        if target == ("certificates.k8s.io", "certificatesigningrequests"):
            return request.verb in ("create", "get", "list", "watch") and not request.subresource
        if target == ("", "nodes"):
            return request.verb == "get"
        if target == ("", "configmaps"):
            return (request.verb == "get" and request.namespace == "kube-system"
                    and request.name in BOOTSTRAP_CONFIGMAPS)
        return False
    if "system:nodes" in groups:
        if target in (("", "nodes"), ("", "pods"), ("", "events"), ("coordination.k8s.io", "leases")):
            return request.subresource != "eviction"
        if target == ("certificates.k8s.io", "certificatesigningrequests"):
            return not request.subresource
        if target in (("", "configmaps"), ("", "services"), ("", "namespaces")):
            return request.verb in ("get", "list", "watch")
        return False
    return False


def path_allowed(user: User, path: str) -> bool:
    """May `user` GET this non-resource path (discovery, health, version)?"""
    if any(path == p or path.startswith(p + "/") for p in PUBLIC_PATHS):
        return True
    if "system:authenticated" in user.groups:
        return any(path == p or path.startswith(p + "/") for p in DISCOVERY_PREFIXES)
    return False


def path_forbidden(user: User, path: str) -> errors.ApiError:
    """403 for a non-resource path, worded as the real server words it."""
    return errors.ApiError(403, "Forbidden", f'forbidden: User "{user.name}" cannot get path "{path}"', {})
