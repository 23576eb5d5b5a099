"""Fixtures of the web page's tests (Flask's tutorial shape: app, client), over a real registry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from appliance.master.actions import MasterActions
from appliance.web import create_app
from appliance.web.ratelimit import LoginThrottle
from foundation import registry
from foundation.config.model import Config, WebSection
from tests.appliance.web.web_helpers import HASH, LOCAL_TOKEN, lease, log_in


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    conn = registry.open_registry(tmp_path)
    registry.ensure_master(conn, name="master", address=IPv4Address("10.0.0.1"),
                           pod_cidr=Config().kubernetes.pod_cidr, node_cidr_mask=24, now=time.time())
    lease(conn, "dc:a6:32:00:00:01", "10.0.0.11", "node-1", "pi-one")
    lease(conn, "dc:a6:32:00:00:02", "10.0.0.12", "node-2")
    conn.close()
    return tmp_path


@pytest.fixture
def actions(state_dir: Path) -> MasterActions:
    config = Config(web=WebSection(admin_password_hash=HASH))
    return MasterActions(config=config, state_dir=state_dir, uplink_address=lambda: "192.0.2.50")


@pytest.fixture
def app(actions: MasterActions) -> Flask:
    return create_app({"TESTING": True, "APPLIANCE_ACTIONS": actions, "LOCAL_TOKEN": LOCAL_TOKEN,
                       "LOGIN_THROTTLE": LoginThrottle()})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin(client: FlaskClient) -> Iterator[FlaskClient]:
    assert log_in(client) == 302
    yield client
