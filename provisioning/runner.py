"""The runner: provisioning jobs, several nodes at once, each alone, resumable, logged in the registry.

    runner = Runner(config, state_dir, connect=factory, kube=KubeClient factory)
    ids = [runner.submit("node-1"), runner.submit("node-2", "join")]
    outcomes = runner.run_once(ids)                # foreground (the CLI, tests)
    runner.start(); …; runner.stop(timeout=30)      # background (the master daemon)

A job reads the node's facts in one round trip, then walks its plan's steps:
each operation compares and returns actions, which run only when something
differs; after a step that changed anything the facts are read again. A
node that fails (unreachable, a command exits non-zero, the doctor objects)
fails alone, with one line in the job row and the node `failed`; the next run
of the same plan resumes it (the job row says from where; the steps before
that point are checked again, because a power cut can undo what was not yet
persistent, and on a node where they hold that costs no command).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from foundation import registry
from foundation.config.model import Config
from foundation.errors import ApplianceError, UsageError
from foundation.registry import JobState, NodeRole, NodeRow, NodeState
from provisioning import jobs, plans
from provisioning.connector import Connector
from provisioning.execute import Executor, admin_conf_path, describe
from provisioning.facts import NodeFacts, read_facts
from provisioning.host_keys import CARDS_FILE, import_card_keys
from provisioning.kube_api import UNREACHABLE, ClusterNode, ClusterView, KubeApi, KubeFactory
from provisioning.local import uplink_address
from provisioning.operations.base import Context, ProvisionError
from provisioning.redact import Redactor, one_line

DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
"""What a node name must be: it becomes the hostname and the Kubernetes node name."""

ConnectorFactory = Callable[[NodeRow], Connector]
"""Makes the connection to a node (the SSH connector with the registry's pinning, by default)."""


@dataclass(frozen=True)
class JobProgress:
    """A job moved on (for progress lines on a terminal)."""

    job_id: int
    """The job."""
    node: str
    """Its node."""
    plan: str
    """Its plan."""
    step: int
    """Steps done."""
    steps: int
    """Steps in the plan."""
    step_name: str
    """The step running now (or the last one)."""
    changed: int
    """Operations that changed something so far."""
    state: str
    """running, succeeded, failed or interrupted."""


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended."""

    job_id: int
    """The job."""
    node: str
    """Its node."""
    plan: str
    """Its plan."""
    state: str
    """succeeded, failed or interrupted."""
    changed: int
    """Operations that changed something."""
    steps: int
    """Steps in the plan."""
    error: str | None
    """Why it failed (one line, no secrets)."""
    resumed_from: int | None
    """The job it took over from."""
    dry_run: bool
    """True when it only listed what it would do."""
    commands: tuple[str, ...]
    """Every action, as the log shows it (a dry run's answer)."""

    @property
    def ok(self) -> bool:
        """True when it succeeded."""
        return self.state == "succeeded"


class Stopping(Exception):
    """The runner is stopping: the job ends interrupted after its current step."""


class Runner:
    """Runs provisioning jobs (see the module docstring)."""

    def __init__(self, config: Config, state_dir: Path, *, connect: ConnectorFactory,
                 parallelism: int | None = None, clock: Callable[[], float] = time.time,
                 kube: KubeFactory | None = None, sleep: Callable[[float], None] = time.sleep,
                 on_progress: Callable[[JobProgress], None] | None = None,
                 card_keys: Path | None = CARDS_FILE) -> None:
        self.config = config
        self.state_dir = Path(state_dir)
        self.connect = connect
        self.parallelism = parallelism or config.provisioning.parallelism
        self.clock = clock
        self.kube = kube
        self.sleep = sleep
        self.on_progress = on_progress
        self.card_keys = card_keys
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._running: set[int] = set()
        self._lock = threading.Lock()

    def import_card_keys(self) -> int:
        """Record the host keys of flashed cards (cards.pub on the master's boot partition); how many are new."""
        if self.card_keys is None:
            return 0
        conn = registry.open_registry(self.state_dir)
        try:
            added, _ = import_card_keys(conn, self.card_keys, now=self.clock())
        finally:
            conn.close()
        return added

    # -- queueing ------------------------------------------------------------------------------

    def submit(self, node: str, plan: str = "all", *, dry_run: bool = False) -> int:
        """Queue `plan` for `node` (a name, MAC or address); return the job id."""
        conn = registry.open_registry(self.state_dir)
        try:
            row = registry.find_node(conn, node)
            if row is None:
                raise UsageError(f"no node named {node[:64]!r} (nor with that MAC or address); "
                                 "see: appliance nodes list")
            if not DNS_LABEL.fullmatch(row.name):
                # Names come from DHCP's pattern or cluster.yaml, both checked; a row written
                # some other way must not become a hostname or a Kubernetes node name.
                raise UsageError(f"node name {row.name[:64]!r} is not a DNS label; rename it in cluster.yaml "
                                 "(nodes:) or forget it")
            plans.steps_for(plan, row.role.value)  # refuses a plan that does not fit the role
            if row.state is NodeState.DISCOVERED and not dry_run:
                raise UsageError(f"{row.name} is discovered but not approved; approve it first: "
                                 f"appliance nodes approve {row.name}")
            registry.interrupt_orphaned_jobs(conn, _pid_alive, now=self.clock())
            busy = [job for job in registry.active_jobs(conn, row.name) if not job.dry_run]
            if busy and not dry_run:
                raise UsageError(f"{row.name} already has job {busy[0].id} ({busy[0].plan}, {busy[0].state.value}); "
                                 "wait for it to end")
            return registry.create_job(conn, node=row.name, plan=plan, now=self.clock(), dry_run=dry_run).id
        finally:
            conn.close()

    def run_once(self, job_ids: list[int]) -> list[JobOutcome]:
        """Run these queued jobs now, `parallelism` at a time; return their outcomes in the same order."""
        if not job_ids:
            return []
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(self.parallelism, len(job_ids)),
                                                   thread_name_prefix="provision") as pool:
            return list(pool.map(self._run_job, job_ids))

    # -- background service --------------------------------------------------------------------

    def start(self) -> None:
        """Import the card keys, resume jobs a stopped master left, then keep running queued jobs until stop()."""
        self.import_card_keys()
        conn = registry.open_registry(self.state_dir)
        try:
            now = self.clock()
            registry.interrupt_running_jobs(conn, now=now)
            for job in self._to_resume(conn):
                registry.create_job(conn, node=job.node, plan=job.plan, now=now)
        finally:
            conn.close()
        self._stop.clear()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.parallelism,
                                                           thread_name_prefix="provision")
        self._thread = threading.Thread(target=self._serve, name="provision-queue", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Let running jobs finish their current step, end them interrupted, and mark queued jobs interrupted."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        conn = registry.open_registry(self.state_dir)
        try:
            for job in registry.active_jobs(conn):
                if job.state is JobState.QUEUED:
                    registry.finish_job(conn, job.id, JobState.INTERRUPTED, now=self.clock(),
                                        error="the master stopped before it ran")
        finally:
            conn.close()

    def _serve(self) -> None:
        assert self._pool is not None
        while not self._stop.wait(0.5):
            try:
                conn = registry.open_registry(self.state_dir)
                try:
                    queued = [job.id for job in registry.active_jobs(conn) if job.state is JobState.QUEUED]
                finally:
                    conn.close()
            except ApplianceError:
                continue
            for job_id in queued:
                with self._lock:
                    if job_id in self._running:
                        continue
                    self._running.add(job_id)
                self._pool.submit(self._run_and_forget, job_id)

    def _run_and_forget(self, job_id: int) -> None:
        try:
            self._run_job(job_id)
        finally:
            with self._lock:
                self._running.discard(job_id)

    @staticmethod
    def _to_resume(conn: sqlite3.Connection) -> list[registry.JobRow]:
        """The newest job of each node, where that job was interrupted by a stop (not failed)."""
        newest: dict[str, registry.JobRow] = {}
        for job in registry.list_jobs(conn, limit=1000):
            if not job.dry_run:
                newest.setdefault(job.node, job)
        return [job for job in newest.values() if job.state is JobState.INTERRUPTED]

    # -- one job -------------------------------------------------------------------------------

    def _run_job(self, job_id: int) -> JobOutcome:
        conn = registry.open_registry(self.state_dir, check_same_thread=False)
        try:
            return _Job(self, conn, job_id).run()
        finally:
            conn.close()



def cluster_view(kube: KubeFactory | None) -> ClusterView:
    """The API server's nodes, or why they cannot be read."""
    if kube is None:
        return UNREACHABLE
    try:
        nodes = kube().list_nodes()
    except (ApplianceError, OSError) as error:
        return ClusterView(False, {}, one_line(str(error), 200))
    return ClusterView(True, {n.name: ClusterNode(n.name, n.ready, n.pod_cidr) for n in nodes})


class _Job:
    """One job's run (its own registry connection, connector, log and secrets)."""

    def __init__(self, runner: Runner, conn: sqlite3.Connection, job_id: int) -> None:
        self.runner = runner
        self.conn = conn
        self.job = registry.require_job(conn, job_id)
        self.redact = Redactor()
        self.log = jobs.JobLog(conn, job_id, self.redact, runner.clock)
        self.changed = 0
        self.step = 0
        self.skew: float | None = None
        self.view: ClusterView | None = None
        self._client: KubeApi | None = None
        self.moved = False

    def kube(self) -> KubeApi:
        """One API client for the whole job (its TLS context is made once)."""
        if self._client is None:
            assert self.runner.kube is not None
            self._client = self.runner.kube()
        return self._client

    def cluster(self) -> ClusterView:
        """The API's view, read once and again only after a step changed something."""
        if self.view is None or not self.view.reachable:
            self.view = cluster_view(self.kube if self.runner.kube is not None else None)
        return self.view
        self.steps: tuple[plans.Step, ...] = ()

    def progress(self, state: str, step_name: str) -> None:
        if self.runner.on_progress is not None:
            self.runner.on_progress(JobProgress(self.job.id, self.job.node, self.job.plan, self.step,
                                                len(self.steps), step_name, self.changed, state))

    def run(self) -> JobOutcome:
        job, runner = self.job, self.runner
        node = registry.require_node(self.conn, job.node)
        dry = job.dry_run
        try:
            self.steps = plans.steps_for(job.plan, node.role.value)
        except UsageError as error:
            return self.finish(JobState.FAILED, str(error), None, ())
        previous = jobs.resume_point(self.conn, node.name, job.plan, len(self.steps), job.id)
        registry.start_job(self.conn, job.id, now=runner.clock(), steps=len(self.steps), step=0,
                           resumed_from=previous.id if previous else None, owner=os.getpid())
        if not dry and node.state is not NodeState.JOINED:
            self.mark_provisioning()  # a joined node moves only when something is to change
        where = f"{node.name} ({node.address or 'no address'})"
        self.log.info(f"job {job.id}: plan {job.plan} on {where}, {len(self.steps)} steps"
                      + (" (dry run: nothing is changed)" if dry else ""))
        if previous is not None:
            self.log.info(f"resuming job {previous.id}, which stopped at step {previous.step + 1}/{len(self.steps)} "
                          f"({previous.step_name}): the steps before it are checked again first")
        connector: Connector | None = None
        commands: list[str] = []
        try:
            if node.address is None:
                raise UsageError(f"{node.name} has no address (no DHCP lease); is it powered on and cabled?")
            connector = runner.connect(node)
            executor = Executor(node.name, job.id, connector, self.log, self.redact, self.conn,
                                runner.state_dir, self.kube if runner.kube is not None else None,
                                connector.close, runner.clock, runner.sleep)
            commands = executor.commands
            facts = self.read(connector)
            self.log.command(f"? facts: {facts.system.pretty_os}, {facts.system.machine}")
            for index, step in enumerate(self.steps):
                if runner._stop.is_set():
                    raise Stopping()
                self.step = index
                executor.step = step.name
                self.progress("running", step.name)
                try:
                    change = step.operation(self.context(node, facts, step))
                except ProvisionError as error:
                    if not dry:
                        raise
                    # A dry run changes nothing, so a step whose prerequisite an earlier
                    # step would install cannot be planned; say so and go on.
                    self.log.info(f"[{index + 1}/{len(self.steps)}] {step.name}: cannot be planned before "
                                  f"the steps above ran ({error})")
                    commands.append(f"# {step.name}: decided after the steps above ran")
                    continue
                mark = "changed" if change.changed else "ok"
                self.log.info(f"[{index + 1}/{len(self.steps)}] {step.name}: {mark} — {change.reason}")
                if dry:
                    commands += [self.redact(describe(action)) for action in change.actions]
                else:
                    if change.changed:
                        self.mark_provisioning()
                    for action in change.actions:
                        executor.run(action)
                if change.changed:
                    self.changed += 1
                    if not dry:
                        facts = self.read(connector)
                        self.view = None
                # Written with the next batch of log lines (one transaction, not one per step).
                self.log.progress(index + 1, self.steps[index + 1].name if index + 1 < len(self.steps) else None,
                                  self.changed)
            self.step = len(self.steps)
            if not dry:
                in_cluster = facts.state.kubelet_conf or facts.state.admin_conf_sha256 is not None
                self.settle(jobs.end_state(job.plan, in_cluster))
            return self.finish(JobState.SUCCEEDED, None, node, commands)
        except Stopping:
            return self.finish(JobState.INTERRUPTED, "the master stopped; the next start resumes it", node, commands)
        except ApplianceError as error:
            return self.finish(JobState.FAILED, str(error), node, commands)
        except Exception as error:  # a bug must not take the other nodes' jobs down
            self.log.write(registry.LogStream.STDERR, traceback.format_exc())
            return self.finish(JobState.FAILED, f"{node.name}: internal error ({type(error).__name__}: {error}); "
                                                "report it with this job's log", node, commands)
        finally:
            if connector is not None:
                connector.close()

    def mark_provisioning(self) -> None:
        """Show the node as being provisioned (once per job)."""
        if not self.moved:
            registry.set_node_state(self.conn, self.job.node, NodeState.PROVISIONING, now=self.runner.clock())
            self.moved = True

    def settle(self, state: NodeState) -> None:
        """Leave the node in `state` (a node that never moved and is there already gets no write)."""
        current = registry.require_node(self.conn, self.job.node).state
        if current is state:
            return
        if current is not NodeState.PROVISIONING:
            self.mark_provisioning()
        registry.set_node_state(self.conn, self.job.node, state, now=self.runner.clock())

    def read(self, connector: Connector) -> NodeFacts:
        """The node's facts, and how far its clock is from ours (the command's round trip included)."""
        before = self.runner.clock()
        facts = read_facts(connector)
        after = self.runner.clock()
        epoch = facts.system.epoch
        # The node read its clock somewhere between before and after: the skew is at least this.
        self.skew = None if epoch is None else max(0.0, epoch - after, before - epoch - 1)
        return facts

    def context(self, node: NodeRow, facts: NodeFacts, step: plans.Step) -> Context:
        runner = self.runner
        admin = admin_conf_path(runner.state_dir)
        credential = registry.get_agent_credential(self.conn, node.name)
        pod_cidr = node.pod_cidr
        if pod_cidr is None and step.name == "pod-cidr":
            pod_cidr = registry.allocate_pod_cidr(self.conn, node.name, runner.config.kubernetes.pod_cidr,
                                                  runner.config.kubernetes.node_cidr_mask)
        return Context(
            node=node.name, role=node.role.value, address=str(node.address), pod_cidr=pod_cidr,
            config=runner.config, facts=facts,
            cluster=self.cluster() if step.needs_cluster else UNREACHABLE,
            uplink_address=uplink_address(runner.config) if node.role is NodeRole.MASTER else None,
            admin_conf_sha256=hashlib.sha256(admin.read_bytes()).hexdigest() if admin.is_file() else None,
            credential_sha256=credential.credential_hash if credential else None,
            clock_skew=self.skew,
        )

    def finish(self, state: JobState, error: str | None, node: NodeRow | None,
               commands: list[str] | tuple[str, ...]) -> JobOutcome:
        runner, job = self.runner, self.job
        line = one_line(self.redact(error)) if error else None
        name = self.steps[self.step].name if self.steps and self.step < len(self.steps) else ""
        if line:
            self.log.info(f"failed at step {self.step + 1}/{len(self.steps)} ({name}): {line}"
                          if state is JobState.FAILED else f"interrupted at step {self.step + 1}: {line}")
        else:
            self.log.info(f"done: {self.changed} changed")
        self.log.flush()
        current = registry.require_job(self.conn, job.id)
        if current.state is JobState.QUEUED:
            registry.start_job(self.conn, job.id, now=runner.clock(), steps=len(self.steps), owner=os.getpid())
        registry.finish_job(self.conn, job.id, state, now=runner.clock(), error=line)
        if state is JobState.FAILED and node is not None and not job.dry_run:
            current_node = registry.get_node(self.conn, node.name)
            if current_node is not None and current_node.state is NodeState.PROVISIONING:
                registry.set_node_state(self.conn, node.name, NodeState.FAILED, now=runner.clock())
        self.progress(state.value, name)
        ended = registry.require_job(self.conn, job.id)
        return JobOutcome(job.id, job.node, job.plan, state.value, self.changed, len(self.steps), line,
                          ended.resumed_from, job.dry_run, tuple(commands))


def _pid_alive(pid: int) -> bool:
    """True when a process with this id runs on this machine (jobs are only run on the master)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["ConnectorFactory", "JobOutcome", "JobProgress", "Runner"]
