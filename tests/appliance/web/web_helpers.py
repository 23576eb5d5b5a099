"""Helpers of the web page's tests: the admin password, real crypt(3) hashes, leases, the CSRF dance."""

from __future__ import annotations

import re
import subprocess
import time
from ipaddress import IPv4Address

from flask.testing import FlaskClient

from foundation import registry
from foundation.config.model import Config
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
