"""The runner's bookkeeping without a node to reach: the background queue, stop and resume, one job per node,
orphaned jobs, and resume points. (Runs against real nodes are in tests/lab/test_provisioning_lab.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from types import SimpleNamespace

import pytest

from foundation import registry
from foundation.config.model import Config
from foundation.errors import UsageError
from foundation.registry import JobState, NodeRole, NodeRow, NodeState
from foundation.registry.nodes import insert_node
from provisioning.connector import ConnectError, Connector
from provisioning.jobs import resume_point
from provisioning.runner import Runner
from tests.support.wait import wait_for


def unreachable(node: NodeRow) -> Connector:
    """What the SSH factory does for a node that does not answer (no packet is sent here)."""
    raise ConnectError(f"{node.name} ({node.address})", "cannot connect (Connection refused) after 4 attempts; "
                                                        "is it powered on and cabled?")


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    conn = registry.open_registry(tmp_path)
    for number in (1, 2, 3):
        insert_node(conn, NodeRow(
            name=f"node-{number}", role=NodeRole.WORKER, mac=f"02:00:00:00:00:0{number}", client_id=None,
            address=IPv4Address(f"10.0.0.{10 + number}") if number != 3 else None, model=None,
            state=NodeState.APPROVED, pod_cidr=None, ssh_host_key=None, hostname=None,
            first_seen=1.0, last_seen=1.0, approved_at=1.0))
    conn.close()
    yield tmp_path


def test_a_node_that_fails_fails_alone_and_its_job_says_why(state: Path) -> None:
    runner = Runner(Config(), state, connect=unreachable, parallelism=2, card_keys=None)
    outcomes = runner.run_once([runner.submit("node-1"), runner.submit("node-3", "prepare")])
    assert [(o.node, o.state) for o in outcomes] == [("node-1", "failed"), ("node-3", "failed")]
    assert outcomes[0].error == ("node-1 (10.0.0.11): cannot connect (Connection refused) after 4 attempts; "
                                 "is it powered on and cabled?")
    assert outcomes[1].error == "node-3 has no address (no DHCP lease); is it powered on and cabled?"
    conn = registry.open_registry(state)
    try:
        assert registry.require_node(conn, "node-2").state is NodeState.APPROVED  # untouched
        assert {registry.require_node(conn, n).state for n in ("node-1", "node-3")} == {NodeState.FAILED}
    finally:
        conn.close()


def test_one_job_per_node_and_orphans_are_interrupted(state: Path) -> None:
    runner = Runner(Config(), state, connect=unreachable)
    first = runner.submit("node-1")
    with pytest.raises(UsageError, match=f"node-1 already has job {first} \\(all, queued\\); wait for it to end"):
        runner.submit("node-1", "prepare")
    assert runner.submit("node-1", dry_run=True) != first  # a dry run changes nothing: always allowed
    conn = registry.open_registry(state)
    try:
        registry.start_job(conn, first, now=1.0, steps=19, owner=2**22 + 12345)  # a pid no process has
        registry.record_step(conn, first, step=5, step_name="kernel-modules", changed=3)
    finally:
        conn.close()
    second = runner.submit("node-1")  # the dead owner's job is cut off, so the node is free
    conn = registry.open_registry(state)
    try:
        cut = registry.require_job(conn, first)
        assert (cut.state, cut.error) == (JobState.INTERRUPTED, "cut off: its runner stopped")
        assert resume_point(conn, "node-1", "all", 19, second) == cut
        assert resume_point(conn, "node-1", "all", 20, second) is None  # another plan shape: from the start
        assert resume_point(conn, "node-1", "prepare", 19, second) is None
    finally:
        conn.close()
    (outcome,) = runner.run_once([second])
    assert outcome.resumed_from == first


def test_the_background_queue_runs_jobs_and_stop_interrupts_the_rest(state: Path, tmp_path: Path) -> None:
    # Where the master card's installer (or the lab) puts them: STATE_DIR/cards.pub, the default.
    cards = state / "cards.pub"
    cards.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcLZfb7ZTXNEX5H8bSBrRwgVPTVQp1SEL3bMeiWJwPW card=pi-1\n")
    runner = Runner(Config(), state, connect=unreachable)
    runner.start()  # imports the card keys first
    conn = registry.open_registry(state)
    try:
        assert [(k.card, k.node) for k in registry.list_host_keys(conn)] == [("pi-1", None)]
    finally:
        conn.close()
    try:
        job = runner.submit("node-1")
        conn = registry.open_registry(state)
        try:
            wait_for(lambda: registry.require_job(conn, job).state is JobState.FAILED, timeout=20,
                     what="the queued job run by the background runner")
        finally:
            conn.close()
    finally:
        runner.stop(timeout=10)
    queued = runner.submit("node-2")
    runner.stop(timeout=1)  # nothing running: the queued job is marked interrupted for the next start
    conn = registry.open_registry(state)
    try:
        assert registry.require_job(conn, queued).state is JobState.INTERRUPTED
    finally:
        conn.close()
    restarted = Runner(Config(), state, connect=unreachable)
    restarted.start()  # resumes what the stop interrupted: a new job for node-2's plan
    try:
        conn = registry.open_registry(state)
        try:
            def resumed() -> bool:
                jobs = registry.list_jobs(conn, node="node-2")
                return len(jobs) == 2 and jobs[0].state is JobState.FAILED
            wait_for(resumed, timeout=20, what="node-2's interrupted job taken up again")
        finally:
            conn.close()
    finally:
        restarted.stop(timeout=10)


class _Api:
    """The API's node list as a test sets it (no Kubernetes API server runs in unit tests)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.readings = 0

    def list_nodes(self) -> list[SimpleNamespace]:
        self.readings += 1
        return [SimpleNamespace(name=name, ready=True, pod_cidr=None) for name in self.names]


def test_a_change_ends_the_shared_reading_of_the_api(state: Path) -> None:
    api = _Api()
    runner = Runner(Config(), state, connect=unreachable, kube=lambda: api)  # type: ignore[arg-type,return-value]
    assert runner.shared_view(runner.kube).nodes == {}
    api.names = ["node-1"]  # a job joined node-1
    assert runner.shared_view(runner.kube).nodes == {}  # jobs starting together share one reading …
    runner.forget_shared_view()  # … until a job changes something (JobRun does this after each change)
    assert list(runner.shared_view(runner.kube).nodes) == ["node-1"]
    assert api.readings == 2
