"""The API server's REST core without sockets: routing, auth, patches, tables, hostile input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.lab.kubefake import tokens
from hardware.lab.kubefake.apiserver import auth
from hardware.lab.kubefake.apiserver.api import Api, Request
from hardware.lab.kubefake.apiserver.store import Store
from hardware.lab.kubefake.release import Release

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ADMIN = auth.from_certificate("kubernetes-admin", ["kubeadm:cluster-admins"])
NODE = auth.from_certificate("system:node:node-1", ["system:nodes"])


def api() -> Api:
    server = Api(Store(), Release("v1.34.2"))
    server.seed(NOW)
    return server


def call(server: Api, method: str, path: str, body: object = None, user: auth.User = ADMIN,
         content_type: str = "application/json", accept: str = "application/json", query: str = "",
         now: datetime = NOW) -> tuple[int, dict]:
    raw = json.dumps(body).encode() if body is not None else b""
    response = server.handle(Request(method, path, query, user, raw, content_type, accept), now)
    return response.status, json.loads(response.body) if response.body.startswith(b"{") else {}


def register(server: Api, name: str = "node-1") -> None:
    status, _ = call(server, "POST", "/api/v1/nodes", {"metadata": {"name": name}, "spec": {},
                                                       "status": {"conditions": [{"type": "Ready", "status": "True",
                                                                                  "lastHeartbeatTime": "2026-11-29T12:00:00Z"}]}}, NODE)
    assert status == 201


def test_discovery_and_version() -> None:
    server = api()
    assert call(server, "GET", "/version", user=auth.ANONYMOUS)[1]["gitVersion"] == "v1.34.2"
    status, body = call(server, "GET", "/api", user=auth.ANONYMOUS)
    assert status == 403 and body["message"] == 'forbidden: User "system:anonymous" cannot get path "/api"'
    resources = call(server, "GET", "/api/v1")[1]
    names = {r["name"] for r in resources["resources"]}
    assert {"nodes", "pods", "pods/eviction", "secrets", "configmaps"} <= names
    assert call(server, "GET", "/apis")[1]["kind"] == "APIGroupList"


def test_nodes_patch_pod_cidr_once_and_tables() -> None:
    server = api()
    register(server)
    status, node = call(server, "PATCH", "/api/v1/nodes/node-1", {"spec": {"podCIDR": "10.244.1.0/24"}},
                        content_type="application/strategic-merge-patch+json")
    assert status == 200 and node["spec"]["podCIDRs"] == ["10.244.1.0/24"]
    status, error = call(server, "PATCH", "/api/v1/nodes/node-1", {"spec": {"podCIDRs": ["10.244.2.0/24"]}},
                         content_type="application/merge-patch+json")
    assert status == 422 and error["reason"] == "Invalid"
    assert error["message"] == ('Node "node-1" is invalid: spec.podCIDRs: Forbidden: node updates may not change '
                                'podCIDR except from "" to valid')
    status, _ = call(server, "PATCH", "/api/v1/nodes/node-1", [{"op": "add", "path": "/spec/unschedulable", "value": True}],
                     content_type="application/json-patch+json")
    assert status == 200
    table = call(server, "GET", "/api/v1/nodes", accept="application/json;as=Table;v=v1;g=meta.k8s.io",
                 now=NOW + timedelta(minutes=5))[1]
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Status", "Roles", "Age", "Version"]
    assert table["rows"][0]["cells"][:4] == ["node-1", "Ready,SchedulingDisabled", "<none>", "5m"]


def test_stale_update_conflicts_and_names_are_validated() -> None:
    server = api()
    register(server)
    node = call(server, "GET", "/api/v1/nodes/node-1")[1]
    node["metadata"]["resourceVersion"] = "1"
    status, error = call(server, "PUT", "/api/v1/nodes/node-1", node)
    assert status == 409 and error["reason"] == "Conflict"
    status, error = call(server, "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "Bad_Name"}})
    assert status == 422 and "a lowercase RFC 1123 subdomain" in error["message"]
    status, error = call(server, "GET", "/api/v1/nodes/missing")
    assert status == 404 and error["message"] == 'nodes "missing" not found'


def test_bootstrap_token_authenticates_until_it_expires() -> None:
    server = api()
    token = tokens.BootstrapToken(tokens.parse_token("abcdef.0123456789abcdef"), expires=NOW + timedelta(minutes=15))
    assert call(server, "POST", "/api/v1/namespaces/kube-system/secrets", tokens.to_secret(token))[0] == 201
    user = auth.from_bearer(server.store, "abcdef.0123456789abcdef", NOW)
    assert user.name == "system:bootstrap:abcdef" and "system:bootstrappers" in user.groups
    assert call(server, "GET", "/api/v1/nodes", user=user)[0] == 403
    try:
        auth.from_bearer(server.store, "abcdef.0123456789abcdef", NOW + timedelta(minutes=16))
        raise AssertionError("an expired token authenticated")
    except Exception as error:  # noqa: BLE001 - the ApiError's code is what matters
        assert getattr(error, "code", None) == 401
    server.controllers.run(NOW + timedelta(minutes=16))
    assert call(server, "GET", "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef")[0] == 404


def test_eviction_and_field_selectors() -> None:
    server = api()
    register(server)
    pod = {"metadata": {"name": "web"}, "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "x"}]}}
    assert call(server, "POST", "/api/v1/namespaces/default/pods", pod)[0] == 201
    listed = call(server, "GET", "/api/v1/pods", query="fieldSelector=spec.nodeName%3Dnode-1")[1]
    assert [p["metadata"]["name"] for p in listed["items"]] == ["web"]
    status, body = call(server, "POST", "/api/v1/namespaces/default/pods/web/eviction",
                        {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web", "namespace": "default"}})
    assert status == 201 and body["status"] == "Success"
    assert call(server, "GET", "/api/v1/namespaces/default/pods/web")[0] == 404


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "BREW"]),
       path=st.one_of(st.text(max_size=60), st.sampled_from([
           "/api/v1/nodes/node-1", "/api/v1/namespaces/default/pods/x/eviction", "/apis/apps/v1/daemonsets",
           "/api/v1/namespaces/kube-system/secrets", "/api/v1/nodes/node-1/status", "/apis/x/y/z/w/v/u"])),
       body=st.one_of(st.binary(max_size=200), st.recursive(
           st.none() | st.booleans() | st.integers() | st.text(max_size=10),
           lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
           max_leaves=20).map(lambda v: json.dumps(v).encode())),
       content_type=st.sampled_from(["application/json", "application/merge-patch+json",
                                     "application/strategic-merge-patch+json", "application/json-patch+json",
                                     "text/plain", ""]),
       query=st.text(max_size=40))
def test_hostile_requests_get_a_status_never_a_crash(method: str, path: str, body: bytes, content_type: str,
                                                     query: str) -> None:
    server = api()
    register(server)
    response = server.handle(Request(method, path, query, ADMIN, body, content_type, "application/json"), NOW)
    assert 200 <= response.status < 500
    if response.status >= 400:
        status = json.loads(response.body)
        assert status["kind"] == "Status" and status["code"] == response.status


def test_node_ipam_only_when_allocate_node_cidrs_is_on() -> None:
    server = api()
    register(server, "node-1")
    server.controllers.run(NOW)
    assert "podCIDR" not in call(server, "GET", "/api/v1/nodes/node-1")[1]["spec"]
    server.controllers.cluster_cidr = "10.244.0.0/16"
    register(server, "node-2")
    server.controllers.run(NOW)
    assert call(server, "GET", "/api/v1/nodes/node-1")[1]["spec"]["podCIDRs"] == ["10.244.0.0/24"]
    assert call(server, "GET", "/api/v1/nodes/node-2")[1]["spec"]["podCIDR"] == "10.244.1.0/24"
