"""The master's agent API (Flask app over a real registry): auth, configs, reports, hostile input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation import registry
from foundation.config.model import Config
from foundation.errors import RegistryError
from netd.agent.protocol import AgentCredential, Report, parse_config, report_to_json
from netd.api.backend import RegistryBackend
from netd.api.blueprint import ApiSettings, create_app
from netd.api.server import AgentApiServer
from provisioning.credentials import issue_agent_credential
from tests.netd.agent.registry_setup import make_registry

REPORT = report_to_json(Report(2, None, (), "0.1.0"))


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    make_registry(tmp_path, {"node-1": "10.0.0.11", "node-2": "10.0.0.12", "node-9": None})
    return tmp_path


@pytest.fixture
def backend(state_dir: Path) -> RegistryBackend:
    return RegistryBackend(state_dir)


@pytest.fixture
def client(backend: RegistryBackend) -> Iterator[FlaskClient]:
    app = create_app(backend, ApiSettings(Config(), report_interval=0.5))
    app.config["TESTING"] = True
    with app.test_client() as client:
        yield client


def auth(credential: AgentCredential) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential.bearer}"}


def test_report_returns_the_nodes_config_and_records_liveness(client: FlaskClient, state_dir: Path, backend: RegistryBackend) -> None:
    credential = issue_agent_credential(state_dir, "node-1", now=5.0)
    response = client.post("/api/v1/agent/report", data=REPORT, headers=auth(credential))
    assert response.status_code == 200, response.data
    config = parse_config(response.data)
    assert config.node == "node-1" and str(config.pod_cidr) == "10.244.1.0/24"
    assert {(str(r.dst), str(r.gateway)) for r in config.routes} == {
        ("10.244.0.0/24", "10.0.0.1"),  # the master's own pods
        ("10.244.2.0/24", "10.0.0.12"),
    }  # node-9 has no address: no route; node-1 itself: none
    assert config.report_interval == 0.5
    assert backend.status["node-1"].report.routes_programmed == 2
    conn = registry.open_registry(state_dir)
    assert registry.require_node(conn, "node-1").last_seen > 1000  # touched with the real clock
    conn.close()
    assert parse_config(client.get("/api/v1/agent/config", headers=auth(credential)).data) == config


def test_wrong_missing_and_revoked_credentials_get_401(client: FlaskClient, state_dir: Path) -> None:
    credential = issue_agent_credential(state_dir, "node-1")
    wrong = AgentCredential("node-1", "x" * 43)
    other_node = AgentCredential("node-2", credential.secret)
    for headers in [{}, auth(wrong), auth(other_node), {"Authorization": credential.secret}]:
        response = client.post("/api/v1/agent/report", data=REPORT, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.get("/api/v1/agent/config", headers=headers).status_code == 401
    reissued = issue_agent_credential(state_dir, "node-1")
    assert client.get("/api/v1/agent/config", headers=auth(credential)).status_code == 401
    assert client.get("/api/v1/agent/config", headers=auth(reissued)).status_code == 200


def test_node_without_address_waits_and_forgotten_node_is_refused(client: FlaskClient, state_dir: Path) -> None:
    credential = issue_agent_credential(state_dir, "node-9")
    response = client.post("/api/v1/agent/report", data=REPORT, headers=auth(credential))
    assert response.status_code == 409 and "try again" in response.get_json()["error"]
    node2 = issue_agent_credential(state_dir, "node-2")
    conn = registry.open_registry(state_dir)
    registry.forget_node(conn, "node-2", now=9.0)  # deletes its credential too
    conn.close()
    assert client.get("/api/v1/agent/config", headers=auth(node2)).status_code == 401


def test_issuing_for_an_unknown_node_fails_clearly(state_dir: Path) -> None:
    with pytest.raises(RegistryError, match="node-77"):
        issue_agent_credential(state_dir, "node-77")


def test_bad_bodies_get_400_or_413_as_json(client: FlaskClient, state_dir: Path) -> None:
    headers = auth(issue_agent_credential(state_dir, "node-1"))
    for body in [b"", b"{", b"[]", b'{"routes_programmed": "2"}', "é".encode("latin-1")]:
        response = client.post("/api/v1/agent/report", data=body, headers=headers)
        assert response.status_code == 400 and "bad report" in response.get_json()["error"]
    response = client.post("/api/v1/agent/report", data=b"x" * 70_000, headers=headers)
    assert response.status_code == 413 and response.get_json()["error"]
    assert client.get("/api/v1/agent/nothing").status_code == 404
    assert client.put("/api/v1/agent/report", headers=headers).status_code == 405


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=150)
@given(body=st.binary(max_size=3000), header=st.text(max_size=120), path=st.sampled_from(["/report", "/config"]))
def test_hostile_requests_never_crash_the_master(client: FlaskClient, state_dir: Path, body: bytes, header: str, path: str) -> None:
    for headers in ({"Authorization": header}, {}):
        try:
            response = client.post("/api/v1/agent" + path, data=body, headers=headers)
        except ValueError:
            continue  # the test client itself refuses header values with newlines; a socket never sends them
        assert response.status_code < 500
        assert isinstance(json.loads(response.data), dict)


@pytest.fixture
def node2_headers(state_dir: Path) -> dict[str, str]:
    return auth(issue_agent_credential(state_dir, "node-2"))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=100)
@given(body=st.binary(max_size=3000))
def test_hostile_bodies_from_an_authenticated_agent_never_crash(client: FlaskClient, node2_headers: dict[str, str], body: bytes) -> None:
    response = client.post("/api/v1/agent/report", data=body, headers=node2_headers)
    assert response.status_code in (200, 400)


def test_server_bind_errors_are_oserrors_not_exits(backend: RegistryBackend) -> None:
    app = create_app(backend, ApiSettings(Config()))
    first = AgentApiServer(app, "127.0.0.1", 0)
    first.start()
    try:
        with pytest.raises(OSError):
            AgentApiServer(app, "127.0.0.1", first.port)
    finally:
        first.stop()
