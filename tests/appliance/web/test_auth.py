"""Who may see and change what: login, session cookie, CSRF, the local token, the rate limit."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from foundation import registry
from tests.appliance.web.web_helpers import LOCAL_TOKEN, PASSWORD, csrf_token, log_in

PAGES = ["/", "/nodes", "/nodes/node-1", "/nodes/node-1/approve", "/tokens", "/jobs", "/kubeconfig",
         "/tokens/abcdef/revoke"]
API = ["/api/v1/nodes", "/api/v1/tokens", "/api/v1/kubeconfig", "/api/v1/health", "/api/v1/jobs/1", "/metrics"]
CHANGES = [("post", "/nodes/node-1/approve"), ("post", "/nodes/node-1/forget"), ("post", "/tokens"),
           ("post", "/tokens/abcdef/revoke"), ("post", "/api/v1/nodes/node-1/approve"),
           ("delete", "/api/v1/nodes/node-1"), ("post", "/api/v1/tokens"), ("post", "/api/v1/provision"),
           ("post", "/logout")]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", API)
def test_every_api_call_needs_a_login_or_the_local_token(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers={"Authorization": f"Bearer {LOCAL_TOKEN}"}).status_code != 401


@pytest.mark.parametrize(("method", "path"), CHANGES)
def test_no_change_without_login(client: FlaskClient, method: str, path: str) -> None:
    response = getattr(client, method)(path)
    assert response.status_code in (302, 401)
    conn = registry.open_registry(client.application.config["APPLIANCE_ACTIONS"].state_dir)
    assert registry.require_node(conn, "node-1").state is registry.NodeState.DISCOVERED


def test_the_local_token_opens_no_page(client: FlaskClient) -> None:
    assert client.get("/nodes", headers={"Authorization": f"Bearer {LOCAL_TOKEN}"}).status_code == 302


def test_login_sets_a_fresh_httponly_samesite_session(client: FlaskClient) -> None:
    token = csrf_token(client, "/login")
    response = client.post("/login?next=/jobs", data={"csrf_token": token, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/jobs"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/nodes").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"])
def test_login_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    token = csrf_token(client, "/login")
    response = client.post("/login", query_string={"next": target}, data={"csrf_token": token, "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_wrong_password_is_refused_and_login_without_csrf_is_refused(client: FlaskClient) -> None:
    assert log_in(client, "wrong") == 401
    assert client.post("/login", data={"password": PASSWORD}).status_code == 403
    assert client.get("/nodes").status_code == 302


def test_wrong_passwords_are_rate_limited_per_client(client: FlaskClient, app: Flask) -> None:
    for _ in range(5):
        assert log_in(client, "guess") == 401
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"csrf_token": token, "password": PASSWORD})
    assert response.status_code == 429  # even the right password waits now
    assert 0 < int(response.headers["Retry-After"]) <= 300
    assert "Too many failed logins" in response.get_data(as_text=True)
    # Another client address is not held back by this one's failures.
    other = app.test_client()
    token = csrf_token(other, "/login")
    ok = other.post("/login", data={"csrf_token": token, "password": PASSWORD},
                    environ_base={"REMOTE_ADDR": "192.0.2.77"})
    assert ok.status_code == 302


@pytest.mark.parametrize(("method", "path"), CHANGES)
def test_a_change_without_a_valid_csrf_token_is_refused(admin: FlaskClient, method: str, path: str) -> None:
    for headers in ({}, {"X-CSRFToken": "forged"}):
        response = getattr(admin, method)(path, headers=headers, data={"csrf_token": "forged"} if method == "post" else None)
        assert response.status_code == 403, (path, response.status_code)
    conn = registry.open_registry(admin.application.config["APPLIANCE_ACTIONS"].state_dir)
    assert registry.require_node(conn, "node-1").state is registry.NodeState.DISCOVERED
    assert admin.get("/nodes").status_code == 200  # still logged in: nothing happened


def test_the_cli_token_needs_no_csrf(client: FlaskClient) -> None:
    response = client.post("/api/v1/nodes/node-1/approve", headers={"Authorization": f"Bearer {LOCAL_TOKEN}"})
    assert response.status_code == 200 and response.get_json()["node"]["state"] == "approved"


def test_logout_ends_every_copy_of_the_session(admin: FlaskClient, app: Flask) -> None:
    stolen = admin.get_cookie("appliance_session")
    assert stolen is not None
    token = csrf_token(admin, "/nodes")
    assert admin.post("/logout", data={"csrf_token": token}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("appliance_session", stolen.value)
    assert thief.get("/nodes").status_code == 302


def test_no_password_configured_means_nobody_logs_in(app: Flask) -> None:
    app.config["APPLIANCE_ACTIONS"].config = type(app.config["APPLIANCE_ACTIONS"].config)()
    client = app.test_client()
    assert "No admin password is set" in client.get("/login").get_data(as_text=True)
    assert log_in(client, "") in (401,)
    assert log_in(client, PASSWORD) == 401


def test_pages_carry_a_strict_content_security_policy(admin: FlaskClient) -> None:
    response = admin.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert not re.search(r"<script>(?!</script>)", response.get_data(as_text=True))  # no inline script
