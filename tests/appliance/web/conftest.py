"""Fixtures of the web page's tests (Flask's tutorial shape: app, client), over a real registry."""

from __future__ import annotations

import re
import subprocess
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
from foundation.records import LeaseChange, LeaseEvent

PASSWORD = "correct horse battery staple"
LOCAL_TOKEN = "local-token-for-tests-0123456789abcdef"


def crypt_hash(password: str) -> str:
    """A real SHA-512 crypt(3) hash, as `openssl passwd -6` makes for cluster.yaml."""
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True,
                          text=True, check=True).stdout.strip()


HASH = crypt_hash(PASSWORD)


def lease(conn: object, mac: str, address: str, name: str, hostname: str | None = None) -> None:
    """A DHCP lease recorded the way the daemon's registry link records it."""
    event = LeaseEvent(change=LeaseChange.GRANTED, address=IPv4Address(address), mac=mac, client_id=None,
                       node_name=name, hostname=hostname, expires=time.time() + 600)
    registry.record_lease_event(conn, event, pod_cidr=Config().kubernetes.pod_cidr,  # type: ignore[arg-type]
                                node_cidr_mask=24, now=time.time())


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


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on `path` (the page's own, as a browser would read it)."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def log_in(client: FlaskClient, password: str = PASSWORD) -> int:
    token = csrf_token(client, "/login")
    return client.post("/login", data={"csrf_token": token, "password": password}).status_code


@pytest.fixture
def admin(client: FlaskClient) -> Iterator[FlaskClient]:
    assert log_in(client) == 302
    yield client
