"""Every row type round-trips; hostile text is stored literally; state rules hold."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundation import registry
from foundation.errors import RegistryError, UsageError
from foundation.registry import models
from foundation.registry.models import (
    JobState,
    LeaseRow,
    LeaseState,
    LogStream,
    NodeRole,
    NodeRow,
    NodeState,
)
from foundation.registry.nodes import insert_node

HOSTILE = [
    "'; DROP TABLE nodes; --",
    'Robert"); DELETE FROM events WHERE ("1"="1',
    "%s %d {0} ?1 :name @x $y",
    "line\nbreak\r\tand\x00nul",
    "ünïcødé ☃ 𝔘 \u202e",
    "?",
    "",
]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = registry.open_registry(tmp_path)
    yield connection
    connection.close()


def _node(name: str = "node-1", **changes: object) -> NodeRow:
    node = NodeRow(
        name=name, role=NodeRole.WORKER, mac="02:00:00:00:00:01", client_id="01:02:00:00:00:00:01",
        address=IPv4Address("10.0.0.11"), model="Raspberry Pi 4 Model B", state=NodeState.DISCOVERED,
        pod_cidr=IPv4Network("10.244.1.0/24"), ssh_host_key="ssh-ed25519 AAAAC3Nza",
        hostname="raspberrypi", first_seen=1.5, last_seen=2.5, approved_at=None,
    )  # fmt: skip
    return dataclasses.replace(node, **changes)  # type: ignore[arg-type]


def test_every_row_class_has_a_docstring_per_field() -> None:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(models))
    row_classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Row")]
    assert {c.name for c in row_classes} == {
        "NodeRow", "LeaseRow", "TokenRow", "JobRow", "JobLogRow", "EventRow", "AgentCredentialRow",
        "HostKeyRow",
    }  # fmt: skip
    for cls in row_classes:
        body = cls.body[1:]  # after the class docstring
        for field_node, following in zip(body, body[1:] + [None], strict=True):
            if isinstance(field_node, ast.AnnAssign):
                assert isinstance(following, ast.Expr) and isinstance(
                    following.value, ast.Constant
                ), f"{cls.name}.{ast.unparse(field_node.target)} has no docstring"


def test_node_row_round_trips(conn: sqlite3.Connection) -> None:
    full = _node(approved_at=3.25, state=NodeState.APPROVED)
    sparse = _node(
        "node-2", mac=None, client_id=None, address=None, model=None, pod_cidr=None,
        ssh_host_key=None, hostname=None,
    )  # fmt: skip
    master = _node("master", role=NodeRole.MASTER, mac="02:00:00:00:00:ff", client_id=None,
                   address=IPv4Address("10.0.0.1"), pod_cidr=IPv4Network("10.244.0.0/24"))  # fmt: skip
    for node in (full, sparse, master):
        insert_node(conn, node)
        assert registry.get_node(conn, node.name) == node
    assert registry.list_nodes(conn) == [master, full, sparse]
    assert registry.find_node(conn, "02:00:00:00:00:01".upper()) == full
    assert registry.find_node(conn, "10.0.0.1") == master
    assert registry.find_node(conn, "nothing") is None


def test_lease_row_round_trips(conn: sqlite3.Connection) -> None:
    lease = LeaseRow(
        address=IPv4Address("10.0.0.12"), mac="02:00:00:00:00:02", client_id=None, node="node-2",
        expires=1234.5, state=LeaseState.ACTIVE, updated=1000.0,
    )  # fmt: skip
    registry.put_lease(conn, lease)
    assert registry.get_lease(conn, lease.address) == lease
    gone = dataclasses.replace(lease, client_id="ff:00", state=LeaseState.DECLINED, expires=0.0)
    registry.put_lease(conn, gone)
    assert registry.list_leases(conn) == [gone]
    assert registry.list_leases(conn, active_only=True) == []


def test_token_row_round_trips_and_never_stores_the_secret(conn: sqlite3.Connection) -> None:
    row, token = registry.create_token(conn, description="for node-3", ttl=7200, now=100.0)
    token_id, secret = token.split(".")
    assert (row.id, row.expires, row.usages, row.created) == (
        token_id,
        7300.0,
        ("signing", "authentication"),
        100.0,
    )
    assert registry.get_token(conn, token_id) == row
    assert registry.list_tokens(conn) == [row]
    dump = "\n".join(conn.iterdump())
    assert secret not in dump and token not in dump
    assert registry.verify_token(conn, token, now=200.0)
    assert not registry.verify_token(conn, token, now=7300.0)  # expired
    assert not registry.verify_token(conn, token_id + "." + "a" * 16, now=200.0)
    assert not registry.verify_token(conn, "' OR 1=1 --", now=200.0)
    forever, _ = registry.create_token(
        conn, description="", ttl=None, now=1.0, usages=("authentication",)
    )
    assert registry.get_token(conn, forever.id) == forever and forever.expires is None
    assert registry.purge_expired_tokens(conn, now=10_000.0) == 1
    assert [t.id for t in registry.list_tokens(conn)] == [forever.id]
    registry.revoke_token(conn, forever.id, now=2.0)
    assert registry.list_tokens(conn) == []
    with pytest.raises(RegistryError, match="no token with id"):
        registry.revoke_token(conn, forever.id, now=2.0)


def test_store_token_checks_the_format(conn: sqlite3.Connection) -> None:
    stored = registry.store_token(
        conn, "abcdef.0123456789abcdef", description="kubeadm", expires=9.0, now=1.0
    )
    assert registry.get_token(conn, "abcdef") == stored
    for bad in ("ABCDEF.0123456789abcdef", "abcdef.0123456789abcde", "abcdef0123456789abcdef", ""):
        with pytest.raises(UsageError):
            registry.store_token(conn, bad, description="", expires=None, now=1.0)
    with pytest.raises(RegistryError, match="already exists"):
        registry.store_token(conn, "abcdef.ffffffffffffffff", description="", expires=None, now=1.0)


def test_job_and_log_rows_round_trip(conn: sqlite3.Connection) -> None:
    job = registry.create_job(conn, node="node-1", plan="prepare-node", now=10.0)
    assert (job.state, job.started, job.finished) == (JobState.QUEUED, None, None)
    assert registry.get_job(conn, job.id) == job
    running = registry.start_job(conn, job.id, now=11.0)
    assert running == dataclasses.replace(job, state=JobState.RUNNING, started=11.0)
    lines = [
        (LogStream.STDOUT, "apt-get install kubeadm"),
        (LogStream.STDERR, "warning: x"),
        (LogStream.INFO, ""),
    ]
    assert registry.append_log(conn, job.id, lines, now=12.0) == 3
    assert registry.append_log(conn, job.id, [(LogStream.STDOUT, "more")], now=13.0) == 4
    log = registry.job_log(conn, job.id)
    assert [(r.seq, r.stream, r.line, r.time) for r in log] == [
        (1, LogStream.STDOUT, "apt-get install kubeadm", 12.0),
        (2, LogStream.STDERR, "warning: x", 12.0),
        (3, LogStream.INFO, "", 12.0),
        (4, LogStream.STDOUT, "more", 13.0),
    ]
    assert [r.seq for r in registry.job_log(conn, job.id, after_seq=2)] == [3, 4]
    done = registry.finish_job(conn, job.id, JobState.SUCCEEDED, now=14.0)
    assert registry.list_jobs(conn, node="node-1") == [done]
    with pytest.raises(RegistryError, match="already ended"):
        registry.finish_job(conn, job.id, JobState.FAILED, now=15.0)
    with pytest.raises(RegistryError, match="only a queued job"):
        registry.start_job(conn, job.id, now=15.0)
    with pytest.raises(RegistryError, match="no job 999"):
        registry.append_log(conn, 999, [(LogStream.INFO, "x")], now=1.0)


def test_running_jobs_become_interrupted_after_a_crash(conn: sqlite3.Connection) -> None:
    first = registry.create_job(conn, node="node-1", plan="join", now=1.0)
    second = registry.create_job(conn, node="node-2", plan="join", now=1.0)
    registry.start_job(conn, first.id, now=2.0)
    assert registry.interrupt_running_jobs(conn, now=3.0) == [first.id]
    assert registry.require_job(conn, first.id).state is JobState.INTERRUPTED
    assert registry.require_job(conn, second.id).state is JobState.QUEUED


def test_event_rows_round_trip(conn: sqlite3.Connection) -> None:
    first = registry.append_event(conn, kind="node.approved", node="node-1", message="ok", now=1.0)
    second = registry.append_event(conn, kind="token.created", node=None, message="t", now=2.0)
    assert [(e.id, e.kind, e.node, e.message, e.time) for e in registry.list_events(conn)] == [
        (first, "node.approved", "node-1", "ok", 1.0),
        (second, "token.created", None, "t", 2.0),
    ]
    assert [e.id for e in registry.list_events(conn, node="node-1")] == [first]
    assert [e.id for e in registry.list_events(conn, after_id=first)] == [second]
    assert [e.id for e in registry.latest_events(conn, limit=1)] == [second]


def test_agent_credential_round_trips_hashed_and_dies_with_its_node(
    conn: sqlite3.Connection,
) -> None:
    insert_node(conn, _node())
    credential = registry.issue_agent_credential(conn, "node-1", now=5.0)
    row = registry.get_agent_credential(conn, "node-1")
    assert row is not None and (row.node, row.issued) == ("node-1", 5.0)
    assert credential not in "\n".join(conn.iterdump())
    assert registry.verify_agent_credential(conn, "node-1", credential)
    assert not registry.verify_agent_credential(conn, "node-1", credential + "x")
    assert not registry.verify_agent_credential(conn, "node-2", credential)
    renewed = registry.issue_agent_credential(conn, "node-1", now=6.0)
    assert not registry.verify_agent_credential(conn, "node-1", credential)
    assert registry.verify_agent_credential(conn, "node-1", renewed)
    with pytest.raises(RegistryError, match="no node named"):
        registry.issue_agent_credential(conn, "node-9", now=1.0)
    registry.forget_node(conn, "node-1", now=7.0)
    assert registry.get_agent_credential(conn, "node-1") is None  # ON DELETE CASCADE


def test_node_state_transitions(conn: sqlite3.Connection) -> None:
    insert_node(conn, _node())
    with pytest.raises(RegistryError, match="is discovered and cannot become joined"):
        registry.set_node_state(conn, "node-1", NodeState.JOINED, now=1.0)
    approved = registry.approve_node(conn, "node-1", now=2.0)
    assert (approved.state, approved.approved_at) == (NodeState.APPROVED, 2.0)
    assert registry.approve_node(conn, "node-1", now=3.0).approved_at == 2.0  # idempotent
    for state in (
        NodeState.PROVISIONING,
        NodeState.FAILED,
        NodeState.PROVISIONING,
        NodeState.JOINED,
        NodeState.PROVISIONING,
    ):
        assert registry.set_node_state(conn, "node-1", state, now=4.0).state is state
    with pytest.raises(RegistryError, match="cannot become discovered"):
        registry.set_node_state(conn, "node-1", NodeState.DISCOVERED, now=5.0)
    kinds = [e.kind for e in registry.list_events(conn, node="node-1")]
    assert kinds == [
        "node.approved",
        "node.provisioning",
        "node.failed",
        "node.provisioning",
        "node.joined",
        "node.provisioning",
    ]


def test_every_transition_matches_the_table() -> None:
    for old in NodeState:
        for new in NodeState:
            expected = old == new or new in models.NODE_TRANSITIONS[old]
            assert models.transition_allowed(old, new) is expected
    assert not models.transition_allowed(NodeState.DISCOVERED, NodeState.PROVISIONING)


def test_small_node_updates(conn: sqlite3.Connection) -> None:
    insert_node(conn, _node(ssh_host_key=None, model=None))
    registry.set_ssh_host_key(conn, "node-1", "ssh-ed25519 AAAAkey")
    registry.set_node_model(conn, "node-1", "Raspberry Pi 5")
    registry.touch_node(conn, "node-1", now=99.0)
    registry.touch_node(conn, "node-1", now=50.0)  # never goes back in time
    node = registry.require_node(conn, "node-1")
    assert (node.ssh_host_key, node.model, node.last_seen) == (
        "ssh-ed25519 AAAAkey",
        "Raspberry Pi 5",
        99.0,
    )
    with pytest.raises(RegistryError, match="no node named 'ghost'"):
        registry.set_ssh_host_key(conn, "ghost", None)


def test_insert_clash_is_a_registry_error(conn: sqlite3.Connection) -> None:
    insert_node(conn, _node())
    with pytest.raises(RegistryError, match="clashes"):
        insert_node(conn, _node("node-2"))  # same MAC
    assert [n.name for n in registry.list_nodes(conn)] == ["node-1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_stored_literally(conn: sqlite3.Connection, text: str) -> None:
    name = text or "empty"
    node = _node(name, mac=None, client_id=text, hostname=text, model=text, ssh_host_key=text)
    insert_node(conn, node)
    assert registry.get_node(conn, name) == node
    assert registry.find_node(conn, name) == node
    registry.append_event(conn, kind=text, node=text, message=text, now=1.0)
    assert registry.list_events(conn, node=text)[-1].message == text
    job = registry.create_job(conn, node=text, plan=text, now=1.0)
    registry.append_log(conn, job.id, [(LogStream.STDERR, text)], now=1.0)
    assert registry.job_log(conn, job.id)[0].line == text
    row, _ = registry.create_token(conn, description=text, ttl=60, now=1.0)
    assert registry.get_token(conn, row.id) == row
    registry.forget_node(conn, name, now=2.0)
    assert registry.get_node(conn, name) is None
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(registry.list_tokens(conn)) == 1  # nothing was dropped by the text


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=80), st.text(max_size=200))
def test_any_text_round_trips(name: str, message: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as state_dir:
        conn = registry.open_registry(state_dir)
        # Surrogates cannot be encoded to UTF-8; SQLite never sees them.
        try:
            name.encode(), message.encode()
        except UnicodeEncodeError:
            return
        node = _node(name, hostname=message, model=message)
        insert_node(conn, node)
        assert registry.get_node(conn, name) == node
        event_id = registry.append_event(conn, kind=name, node=name, message=message, now=1.0)
        assert registry.list_events(conn, node=name)[0].id == event_id
        conn.close()


def test_master_cannot_be_forgotten(conn: sqlite3.Connection) -> None:
    master = registry.ensure_master(
        conn, name="master", address=IPv4Address("10.0.0.1"), pod_cidr=IPv4Network("10.244.0.0/16"),
        node_cidr_mask=24, now=1.0,
    )  # fmt: skip
    assert (master.role, master.state, master.pod_cidr) == (
        NodeRole.MASTER,
        NodeState.JOINED,
        IPv4Network("10.244.0.0/24"),
    )
    with pytest.raises(RegistryError, match="is the master"):
        registry.forget_node(conn, "master", now=2.0)
    with pytest.raises(RegistryError, match="no node named"):
        registry.forget_node(conn, "node-7", now=2.0)
    again = registry.ensure_master(
        conn, name="master", address=IPv4Address("10.0.0.1"), pod_cidr=IPv4Network("10.244.0.0/16"),
        node_cidr_mask=24, now=5.0,
    )  # fmt: skip
    assert again == dataclasses.replace(master, last_seen=5.0)
