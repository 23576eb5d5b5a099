"""The REST core of the simulated API server: one request in, one response out, no sockets.

`Api.handle(Request, now)` routes the real paths (/api/v1/..., /apis/G/V/...,
namespaced or not, subresources status/eviction/approval), checks who may do
it, applies it to the store, runs the controllers after a write, and answers
with the real JSON: objects, lists, Tables for `kubectl get`, Status objects
for every error. Anything malformed is a 4xx Status, never an exception.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from ..release import Release
from . import auth, errors, patch, resources, tables
from .controllers import Controllers
from .resources import Resource
from .selectors import field_selector, label_selector
from .store import Object, Store, meta

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                   "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                   "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
MAX_BODY = 3 * 1024 * 1024
"""Largest request body accepted (the real server's limit is 3 MiB)."""


@dataclass
class Request:
    """One HTTP request, already authenticated."""

    method: str
    """GET, POST, PUT, PATCH, DELETE."""
    path: str
    """URL path, without the query."""
    query: str = ""
    """Raw query string."""
    user: auth.User = auth.ANONYMOUS
    """Who sent it."""
    body: bytes = b""
    """Request body."""
    content_type: str = ""
    """Content-Type header."""
    accept: str = ""
    """Accept header."""


@dataclass
class Response:
    """One HTTP response."""

    status: int
    """HTTP status code."""
    body: bytes
    """Response body."""
    content_type: str = "application/json"
    """Content-Type header."""
    watch: tuple[Resource, str | None, dict[str, str]] | None = None
    """Set for a watch: the server streams events for (resource, namespace, query)."""


def json_response(status: int, value: object) -> Response:
    """A JSON response."""
    return Response(status, json.dumps(value).encode())


def error_response(error: errors.ApiError) -> Response:
    """A Status response."""
    return json_response(error.code, error.status())


@dataclass
class Target:
    """What a resource path names."""

    resource: Resource
    """The resource."""
    namespace: str
    """Namespace ("" at cluster scope, or for a list across namespaces)."""
    name: str = ""
    """Object name (empty for the collection)."""
    subresource: str = ""
    """Subresource."""
    all_namespaces: bool = False
    """True for a namespaced resource listed at cluster scope."""


def parse_path(path: str) -> Target | None:
    """The resource a path names, or None if it names none."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        resource = resources.find(group, version, rest[2])
        if resource is not None and resource.namespaced and len(rest) <= 5:
            return Target(resource, rest[1], rest[3] if len(rest) > 3 else "", rest[4] if len(rest) > 4 else "")
    resource = resources.find(group, version, rest[0])
    if resource is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else ""
    if resource.namespaced and name:
        return None
    return Target(resource, "", name, rest[2] if len(rest) > 2 else "", all_namespaces=resource.namespaced)


def _query(text: str) -> dict[str, str]:
    try:
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    except ValueError:
        return {}


def _verb(method: str, target: Target, query: dict[str, str]) -> str:
    if method == "GET":
        if target.name:
            return "get"
        return "watch" if query.get("watch") in ("true", "1") else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    raise errors.method_not_allowed()


def _strip(obj: Object) -> Object:
    item = copy.deepcopy(obj)
    item.pop("apiVersion", None)
    item.pop("kind", None)
    return item


@dataclass
class Api:
    """The API server's request handling over one store."""

    store: Store
    """The objects."""
    release: Release
    """Which version to report."""
    address: str = "10.0.0.1:6443"
    """Advertised host:port (for /api's serverAddressByClientCIDRs)."""
    controllers: Controllers = field(init=False)
    """Controllers run after writes."""
    ca_pair: Any = None
    """The CA KeyPair, for CSR signing (None: unsigned)."""

    def __post_init__(self) -> None:
        self.controllers = Controllers(self.store, self.ca_pair)

    def seed(self, now: datetime, service_ip: str = "10.96.0.1", port: int = 6443) -> None:
        """What a new API server creates itself: the system namespaces and the `kubernetes` Service."""
        namespaces = resources.find("", "v1", "namespaces")
        services = resources.find("", "v1", "services")
        assert namespaces is not None and services is not None
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if self.store.find(namespaces, "", name) is None:
                namespace: Object = {"metadata": {"name": name}}
                self._defaults(namespaces, namespace)
                self.store.create(namespaces, namespace, now)
        if self.store.find(services, "default", "kubernetes") is None:
            self.store.create(services, {
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": service_ip,
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}}, now)

    def handle(self, request: Request, now: datetime) -> Response:
        """Answer one request; never raises."""
        try:
            return self._handle(request, now)
        except errors.ApiError as error:
            return error_response(error)

    def _handle(self, request: Request, now: datetime) -> Response:
        path = request.path.rstrip("/") or "/"
        query = _query(request.query)
        target = parse_path(path)
        if target is None:
            return self._non_resource(request, path)
        verb = _verb(request.method, target, query)
        attributes = auth.Attributes(verb, target.resource.name, target.resource.group, target.namespace,
                                     target.name, target.subresource)
        if not auth.allowed(request.user, attributes):
            raise errors.forbidden(request.user.name, verb, target.resource.name, target.resource.group,
                                   target.namespace, target.name, target.subresource)
        if target.subresource and target.subresource not in target.resource.subresources:
            raise errors.no_such_path()
        if verb == "watch":
            return Response(200, b"", watch=(target.resource, None if target.all_namespaces else target.namespace,
                                             query))
        response = getattr(self, "_" + verb)(request, target, query, now)
        if verb not in ("get", "list"):
            self.controllers.run(now)
        return response

    # Non-resource paths: discovery, version, health.

    def _non_resource(self, request: Request, path: str) -> Response:
        if not auth.path_allowed(request.user, path):
            raise auth.path_forbidden(request.user, path)
        if request.method != "GET":
            raise errors.method_not_allowed()
        if path in ("/healthz", "/livez", "/readyz") or re.fullmatch(r"/(healthz|livez|readyz)/[a-z0-9-]+", path):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return json_response(200, self.release.info())
        if path == "/api":
            return json_response(200, resources.api_versions(self.address))
        if path == "/apis":
            return json_response(200, resources.group_list())
        parts = path.split("/")[1:]
        if parts[0] == "api" and len(parts) == 2:
            document = resources.resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            document = resources.group_document(parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            document = resources.resource_list(parts[1], parts[2])
        else:
            document = None
        if document is None:
            raise errors.no_such_path()
        return json_response(200, document)

    # Reads.

    def _get(self, request: Request, target: Target, query: dict[str, str], now: datetime) -> Response:
        if target.subresource == "eviction":
            raise errors.method_not_allowed()
        obj = self.store.get(target.resource, target.namespace, target.name)
        if "as=Table" in request.accept:
            return json_response(200, tables.table(target.resource.name, [obj], now, str(self.store.revision),
                                                   query.get("includeObject", "Metadata")))
        return json_response(200, obj)

    def select(self, target: Target, query: dict[str, str]) -> list[Object]:
        """Objects of a collection, filtered by the query's label and field selectors."""
        items = self.store.list(target.resource, None if target.all_namespaces else target.namespace)
        if query.get("labelSelector"):
            test = label_selector(query["labelSelector"])
            items = [i for i in items if test(i)]
        if query.get("fieldSelector"):
            test = field_selector(query["fieldSelector"])
            items = [i for i in items if test(i)]
        return items

    def _list(self, request: Request, target: Target, query: dict[str, str], now: datetime) -> Response:
        items = self.select(target, query)
        limit = query.get("limit", "")
        if limit.isdigit() and int(limit) > 0:
            items = items[:int(limit)]
        revision = str(self.store.revision)
        if "as=Table" in request.accept:
            return json_response(200, tables.table(target.resource.name, items, now, revision,
                                                   query.get("includeObject", "Metadata")))
        return json_response(200, {"kind": target.resource.kind + "List", "apiVersion": target.resource.api_version,
                                   "metadata": {"resourceVersion": revision}, "items": [_strip(i) for i in items]})

    # Writes.

    def _body(self, request: Request) -> Any:
        if len(request.body) > MAX_BODY:
            raise errors.ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
        try:
            return json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            raise errors.bad_request(f"error decoding request body: {error}") from None

    def _object_body(self, request: Request, target: Target) -> Object:
        media = request.content_type.split(";")[0].strip()
        if media not in ("application/json", ""):
            raise errors.unsupported_media_type(["application/json", "application/yaml"])
        body = self._body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was not a JSON object")
        self._check_types(body, target)
        return body

    def _check_types(self, body: Object, target: Target) -> None:
        resource = target.resource
        wanted_kind = "Eviction" if target.subresource == "eviction" else resource.kind
        wanted_version = "policy/v1" if target.subresource == "eviction" else resource.api_version
        if "apiVersion" in body and body["apiVersion"] != wanted_version and target.subresource != "eviction":
            raise errors.bad_request(f"the API version in the data ({body['apiVersion']}) does not match "
                                     f"the expected API version ({wanted_version})")
        if "kind" in body and body["kind"] != wanted_kind:
            raise errors.bad_request(f"the kind in the data ({body['kind']}) does not match the expected kind "
                                     f"({wanted_kind})")
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        for key in ("labels", "annotations"):
            value = metadata.get(key)
            if value is not None and not (isinstance(value, dict) and
                                          all(isinstance(v, str) for v in value.values())):
                raise errors.bad_request(f"metadata.{key} must map strings to strings")
        namespace = metadata.get("namespace")
        if resource.namespaced and namespace not in (None, "", target.namespace):
            raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                     "sent on the request")

    def _validate(self, resource: Resource, obj: Object, old: Object | None) -> None:
        metadata = meta(obj)
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            raise errors.invalid(resource.kind, "", [("metadata.name", "Required value: name or generateName is required")])
        if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
            raise errors.invalid(resource.kind, name, [("metadata.name", f'Invalid value: "{name}": {DNS1123_MESSAGE}')])
        if resource.name == "nodes":
            self._validate_node(obj, old)

    def _validate_node(self, node: Object, old: Object | None) -> None:
        spec = node.get("spec")
        if spec is None:
            return
        if not isinstance(spec, dict):
            raise errors.bad_request("spec must be an object")
        name = str(meta(node).get("name"))
        cidrs = spec.get("podCIDRs")
        if not cidrs and spec.get("podCIDR"):
            cidrs = [spec["podCIDR"]]
        cidrs = list(cidrs) if isinstance(cidrs, list) else []
        for index, cidr in enumerate(cidrs):
            try:
                ipaddress.ip_network(str(cidr), strict=False)
            except ValueError:
                raise errors.invalid("Node", name, [(f"spec.podCIDRs[{index}]", f'Invalid value: "{cidr}": must be '
                                     "a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]) from None
        if cidrs:
            spec["podCIDRs"], spec["podCIDR"] = cidrs, cidrs[0]
        old_spec = old.get("spec") if old else None
        old_cidrs = old_spec.get("podCIDRs") if isinstance(old_spec, dict) else None
        if old_cidrs and old_cidrs != cidrs:
            raise errors.invalid("Node", name, [("spec.podCIDRs", 'Forbidden: node updates may not change podCIDR '
                                                 'except from "" to valid')])

    def _create(self, request: Request, target: Target, query: dict[str, str], now: datetime) -> Response:
        if target.subresource == "eviction":
            return self._evict(request, target, now)
        if target.name or target.subresource:
            raise errors.method_not_allowed()
        if target.all_namespaces:
            raise errors.no_such_path()
        body = self._object_body(request, target)
        metadata = meta(body)
        if not metadata.get("name") and isinstance(metadata.get("generateName"), str):
            metadata["name"] = str(metadata["generateName"]) + "".join(
                secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        if target.resource.namespaced:
            metadata["namespace"] = target.namespace
            namespaces = resources.find("", "v1", "namespaces")
            assert namespaces is not None
            if self.store.find(namespaces, "", target.namespace) is None:
                raise errors.not_found("namespaces", target.namespace)
        self._validate(target.resource, body, None)
        self._defaults(target.resource, body)
        if target.resource.name == "certificatesigningrequests":
            spec = body.setdefault("spec", {})
            if not isinstance(spec, dict):
                raise errors.bad_request("spec must be an object")
            spec["username"], spec["groups"] = request.user.name, list(request.user.groups)
        created = self.store.create(target.resource, body, now)
        return json_response(201, created)

    def _defaults(self, resource: Resource, obj: Object) -> None:
        if resource.name == "namespaces":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            labels = meta(obj).setdefault("labels", {})
            assert isinstance(labels, dict)
            labels["kubernetes.io/metadata.name"] = meta(obj)["name"]
        elif resource.name == "secrets":
            obj.setdefault("type", "Opaque")
        elif resource.name == "pods":
            obj.setdefault("status", {"phase": "Pending"})

    def _replace(self, target: Target, new: Object, old: Object) -> Object:
        if target.subresource in ("status", "approval"):
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status", {})
            merged_meta = meta(merged)
            merged_meta["resourceVersion"] = meta(new).get("resourceVersion", merged_meta.get("resourceVersion"))
            new = merged
        elif "status" in target.resource.subresources and "status" in old:
            new["status"] = old["status"]
        self._validate(target.resource, new, old)
        return self.store.update(target.resource, new)

    def _update(self, request: Request, target: Target, query: dict[str, str], now: datetime) -> Response:
        if not target.name or target.subresource == "eviction":
            raise errors.method_not_allowed()
        body = self._object_body(request, target)
        body_name = meta(body).get("name")
        if body_name != target.name:
            raise errors.bad_request(f"the name of the object ({body_name}) does not match the name on the URL "
                                     f"({target.name})")
        if target.resource.namespaced:
            meta(body)["namespace"] = target.namespace
        old = self.store.get(target.resource, target.namespace, target.name)
        return json_response(200, self._replace(target, body, old))

    def _patch(self, request: Request, target: Target, query: dict[str, str], now: datetime) -> Response:
        if not target.name or target.subresource == "eviction":
            raise errors.method_not_allowed()
        media = request.content_type.split(";")[0].strip()
        if media not in patch.MEDIA_TYPES or media == "application/apply-patch+yaml":
            raise errors.unsupported_media_type(patch.MEDIA_TYPES)
        body = self._body(request)
        old = self.store.get(target.resource, target.namespace, target.name)
        patched = patch.apply(old, media, body)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch does not produce an object")
        self._check_types(patched, target)
        if meta(patched).get("name") != target.name:
            raise errors.bad_request("the name of the object may not be changed by a patch")
        if target.resource.namespaced:
            meta(patched)["namespace"] = target.namespace
        if meta(patched).get("resourceVersion") == meta(old).get("resourceVersion") or \
                "resourceVersion" not in (body.get("metadata") or {} if isinstance(body, dict) else {}):
            meta(patched)["resourceVersion"] = meta(old).get("resourceVersion")
        return json_response(200, self._replace(target, patched, old))

    def _delete(self, request: Request, target: Target, query: dict[str, str], now: datetime) -> Response:
        if target.subresource:
            raise errors.method_not_allowed()
        deleted = self.store.delete(target.resource, target.namespace, target.name)
        if target.resource.name == "pods":
            return json_response(200, deleted)
        details = {"name": target.name, "kind": target.resource.name, "uid": meta(deleted).get("uid")}
        if target.resource.group:
            details["group"] = target.resource.group
        return json_response(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                   "details": details})

    def _deletecollection(self, request: Request, target: Target, query: dict[str, str], now: datetime) -> Response:
        items = self.select(target, query)
        for item in items:
            self.store.delete(target.resource, str(meta(item).get("namespace", "")), str(meta(item)["name"]))
        return json_response(200, {"kind": target.resource.kind + "List", "apiVersion": target.resource.api_version,
                                   "metadata": {"resourceVersion": str(self.store.revision)},
                                   "items": [_strip(i) for i in items]})

    def _evict(self, request: Request, target: Target, now: datetime) -> Response:
        body = self._object_body(request, target)
        if meta(body).get("name") not in (None, target.name):
            raise errors.bad_request("name in URL does not match name in Eviction object")
        self.store.get(target.resource, target.namespace, target.name)
        self.store.delete(target.resource, target.namespace, target.name)
        return json_response(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                   "code": 201})
