"""Schema v3: jobs remember their progress and error; host keys are known and pinned per node."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from foundation import registry
from foundation.errors import RegistryError
from foundation.registry import schema
from foundation.registry.models import HostKeySource, JobState, NodeRole, NodeRow, NodeState
from foundation.registry.nodes import insert_node

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA" + "a" * 43
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB" + "b" * 43


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = registry.open_registry(tmp_path)
    for number in (1, 2):
        insert_node(connection, NodeRow(
            name=f"node-{number}", role=NodeRole.WORKER, mac=f"02:00:00:00:00:0{number}",
            client_id=None, address=IPv4Address(f"10.0.0.{10 + number}"), model=None,
            state=NodeState.APPROVED, pod_cidr=None, ssh_host_key=None, hostname=None,
            first_seen=1.0, last_seen=1.0, approved_at=1.0,
        ))  # fmt: skip
    yield connection
    connection.close()


def test_a_v2_registry_with_jobs_is_migrated_keeping_them(tmp_path: Path) -> None:
    raw = sqlite3.connect(tmp_path / "registry.db", isolation_level=None)
    for step in schema.MIGRATIONS[:2]:
        for statement in step:
            raw.execute(statement)
    raw.execute("PRAGMA user_version = 2")
    raw.execute("INSERT INTO jobs (node, plan, state, created) VALUES ('node-1', 'join', 'failed', 1)")
    raw.close()
    conn = registry.open_registry(tmp_path)
    try:
        job = registry.require_job(conn, 1)
        assert (job.state, job.step, job.steps, job.error, job.resumed_from) == (
            JobState.FAILED, 0, 0, None, None)
    finally:
        conn.close()


def test_a_job_records_its_steps_and_error(conn: sqlite3.Connection) -> None:
    job = registry.create_job(conn, node="node-1", plan="all", now=1.0, dry_run=False)
    running = registry.start_job(conn, job.id, now=2.0, steps=9, step=3, resumed_from=None, owner=42)
    assert (running.steps, running.step, running.owner) == (9, 3, 42)
    registry.record_step(conn, job.id, step=5, step_name="containerd", changed=2)
    failed = registry.finish_job(conn, job.id, JobState.FAILED, now=3.0,
                                 error="node-1 (10.0.0.11): connection lost")
    assert dataclasses.astuple(failed)[7:12] == (5, 9, "containerd", 2, "node-1 (10.0.0.11): connection lost")
    assert registry.last_job(conn, "node-1", "all") == failed
    assert registry.last_job(conn, "node-1", "join") is None
    with pytest.raises(RegistryError, match="not running"):
        registry.record_step(conn, job.id, step=6, step_name=None, changed=2)


def test_dry_runs_are_not_resume_points(conn: sqlite3.Connection) -> None:
    real = registry.create_job(conn, node="node-1", plan="all", now=1.0)
    registry.create_job(conn, node="node-1", plan="all", now=2.0, dry_run=True)
    assert registry.last_job(conn, "node-1", "all") == real


def test_orphaned_running_jobs_are_interrupted(conn: sqlite3.Connection) -> None:
    mine = registry.create_job(conn, node="node-1", plan="all", now=1.0)
    theirs = registry.create_job(conn, node="node-2", plan="all", now=1.0)
    registry.start_job(conn, mine.id, now=2.0, owner=100)
    registry.start_job(conn, theirs.id, now=2.0, owner=200)
    assert registry.interrupt_orphaned_jobs(conn, lambda pid: pid == 200, now=3.0) == [mine.id]
    cut = registry.require_job(conn, mine.id)
    assert (cut.state, cut.error) == (JobState.INTERRUPTED, "cut off: its runner stopped")
    assert registry.require_job(conn, theirs.id).state is JobState.RUNNING
    assert [j.id for j in registry.active_jobs(conn)] == [theirs.id]


def test_card_key_is_pinned_on_first_contact_and_known_again_after_forget(conn: sqlite3.Connection) -> None:
    assert registry.add_card_key(conn, KEY_A, "SHA256:a", card="pi-1", now=1.0)
    assert not registry.add_card_key(conn, KEY_A, "SHA256:a", card="pi-1", now=2.0)  # idempotent
    assert registry.count_card_keys(conn) == 1
    pinned = registry.pin_host_key(conn, "node-1", KEY_A, "SHA256:a", source=HostKeySource.TOFU, now=3.0)
    # A card key keeps its source: the card vouched for it, not first use.
    assert (pinned.source, pinned.card, pinned.node, pinned.pinned) == (HostKeySource.CARD, "pi-1", "node-1", 3.0)
    assert registry.require_node(conn, "node-1").ssh_host_key == KEY_A
    registry.forget_node(conn, "node-1", now=4.0)
    known = registry.get_host_key(conn, KEY_A)
    assert known is not None and known.node is None and known.source is HostKeySource.CARD


def test_tofu_pin_goes_with_its_node(conn: sqlite3.Connection) -> None:
    registry.pin_host_key(conn, "node-1", KEY_A, "SHA256:a", source=HostKeySource.TOFU, now=1.0)
    registry.forget_node(conn, "node-1", now=2.0)
    assert registry.get_host_key(conn, KEY_A) is None
    assert registry.list_host_keys(conn) == []


def test_repin_replaces_and_a_cloned_key_is_refused(conn: sqlite3.Connection) -> None:
    registry.pin_host_key(conn, "node-1", KEY_A, "SHA256:a", source=HostKeySource.TOFU, now=1.0)
    with pytest.raises(RegistryError, match="already pinned to node-1 .* re-image one"):
        registry.pin_host_key(conn, "node-2", KEY_A, "SHA256:a", source=HostKeySource.TOFU, now=2.0)
    registry.pin_host_key(conn, "node-1", KEY_B, "SHA256:b", source=HostKeySource.MANUAL, now=3.0)
    assert [(k.key, k.node, k.source) for k in registry.list_host_keys(conn)] == [
        (KEY_B, "node-1", HostKeySource.MANUAL)]
    events = [e.message for e in registry.list_events(conn, node="node-1")]
    assert events[-1] == "node-1: SSH host key SHA256:b pinned (accepted by the admin)"
    assert registry.unpin_host_key(conn, "node-1", now=4.0)
    assert registry.pinned_host_key(conn, "node-1") is None
    assert registry.require_node(conn, "node-1").ssh_host_key is None
    assert not registry.unpin_host_key(conn, "node-1", now=5.0)


def test_renaming_a_node_keeps_its_pin(conn: sqlite3.Connection) -> None:
    registry.pin_host_key(conn, "node-1", KEY_A, "SHA256:a", source=HostKeySource.TOFU, now=1.0)
    with registry.transaction(conn):
        conn.execute("UPDATE nodes SET name = 'web-1' WHERE name = 'node-1'")
    pinned = registry.pinned_host_key(conn, "web-1")
    assert pinned is not None and pinned.key == KEY_A
