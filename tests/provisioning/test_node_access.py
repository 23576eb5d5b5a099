"""Reaching a node with the registry's pins, against a real sshd: trust on first use, a changed key refused,
`accept-key` pinning the new one, cards-only refusing a stranger."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from foundation import registry
from foundation.config.model import Config, ProvisioningSection
from foundation.registry import HostKeySource, NodeRole, NodeRow, NodeState
from foundation.registry.nodes import insert_node
from provisioning.connector import ConnectError
from provisioning.node_access import accept_host_key, provisioning_key, ssh_factory
from tests.provisioning.sshd import Sshd, running_sshd

pytestmark = pytest.mark.root


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    with running_sshd(tmp_path / "sshd") as server:
        yield server


def _setup(tmp_path: Path, sshd: Sshd, policy: str = "trust-on-first-use") -> tuple[Config, Path, NodeRow]:
    state = tmp_path / "state"
    state.mkdir()
    key = provisioning_key(state)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    with open(sshd.workdir / "authorized_keys", "a") as keys:
        keys.write(Path(f"{key}.pub").read_text())
    node = NodeRow(name="node-1", role=NodeRole.WORKER, mac="02:00:00:00:00:01", client_id=None,
                   address=IPv4Address("127.0.0.1"), model=None, state=NodeState.APPROVED, pod_cidr=None,
                   ssh_host_key=None, hostname=None, first_seen=1.0, last_seen=1.0, approved_at=1.0)
    conn = registry.open_registry(state)
    insert_node(conn, node)
    conn.close()
    config = replace(Config(), provisioning=ProvisioningSection(ssh_user="root", host_keys=policy))
    return config, state, node


def _rekey(sshd: Sshd) -> None:
    """The node is re-imaged: a new host key, sshd restarted on it (the listener keeps its config)."""
    key = sshd.workdir / "ssh_host_ed25519_key"
    key.unlink()
    Path(f"{key}.pub").unlink()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    sshd.kill_sessions()  # sshd reads its host keys for every new connection (re-exec)


def test_first_use_pins_then_a_changed_key_is_refused_until_accepted(tmp_path: Path, sshd: Sshd) -> None:
    config, state, node = _setup(tmp_path, sshd)
    connect = ssh_factory(config, state, dial=sshd.dial, attempts=1)
    first = connect(node)
    try:
        assert first.run("echo hi").stdout == "hi\n"
    finally:
        first.close()
    conn = registry.open_registry(state)
    pinned = registry.pinned_host_key(conn, "node-1")
    assert pinned is not None and pinned.source is HostKeySource.TOFU and pinned.key == sshd.host_key()
    assert registry.list_events(conn, node="node-1")[-1].message.endswith("pinned (trusted on first use)")
    old = sshd.fingerprint()
    _rekey(sshd)
    new = sshd.fingerprint()
    with pytest.raises(ConnectError) as caught:
        connect(node).run("echo hi")
    assert str(caught.value) == (f"node-1 (127.0.0.1): SSH host key changed (was {old}, now {new}); "
                                 "if you re-imaged it, run: appliance nodes accept-key node-1")
    with pytest.raises(ConnectError, match=re.escape(f"presents {new}, not SHA256:wrong; nothing was pinned")):
        accept_host_key(config, state, node, "SHA256:wrong", now=5.0, dial=sshd.dial)
    assert accept_host_key(config, state, node, new, now=6.0, dial=sshd.dial) == new
    pinned = registry.pinned_host_key(conn, "node-1")
    assert pinned is not None and pinned.source is HostKeySource.MANUAL and pinned.fingerprint == new
    conn.close()
    again = ssh_factory(config, state, dial=sshd.dial)(node)
    try:
        assert again.run("echo back").stdout == "back\n"
    finally:
        again.close()


def test_cards_only_refuses_a_key_no_card_listed(tmp_path: Path, sshd: Sshd) -> None:
    config, state, node = _setup(tmp_path, sshd, policy="cards")
    with pytest.raises(ConnectError, match=r"^node-1 \(127.0.0.1\): SSH host key SHA256:\S+ is on no flashed card "
                                           r"\(provisioning.host_keys: cards\); if you trust it, run: "):
        ssh_factory(config, state, dial=sshd.dial, attempts=1)(node).run("true")
    conn = registry.open_registry(state)
    registry.add_card_key(conn, sshd.host_key(), sshd.fingerprint(), card="pi-1", now=1.0)
    conn.close()
    ok = ssh_factory(config, state, dial=sshd.dial)(node)
    try:
        assert ok.run("true").ok
    finally:
        ok.close()
    conn = registry.open_registry(state)
    pinned = registry.pinned_host_key(conn, "node-1")
    assert pinned is not None and (pinned.source, pinned.card) == (HostKeySource.CARD, "pi-1")
    conn.close()
