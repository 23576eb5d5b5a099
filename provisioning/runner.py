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
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from foundation import registry
from foundation.config.model import Config
from foundation.errors import ApplianceError, UsageError
from foundation.registry import JobState, NodeRow, NodeState
from provisioning import plans
from provisioning.connector import Connector
from provisioning.host_keys import CARDS_FILE, import_card_keys
from provisioning.job_run import JobRun, cluster_view
from provisioning.kube_api import ClusterView, KubeFactory
from provisioning.outcomes import JobOutcome, JobProgress

SHARED_VIEW_SECONDS = 5.0
"""How long one reading of the API's node list serves jobs that have changed nothing yet."""

DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
"""What a node name must be: it becomes the hostname and the Kubernetes node name."""

ConnectorFactory = Callable[[NodeRow], Connector]
"""Makes the connection to a node (the SSH connector with the registry's pinning, by default)."""


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
        # A relative card_keys (the default) lives in the state directory, where the master card's
        # installer puts cards.pub.
        self.card_keys = self.state_dir / card_keys if card_keys is not None else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._view: tuple[float, ClusterView] | None = None

    def shared_view(self, kube: KubeFactory | None) -> ClusterView:
        """One reading of the API for the jobs that start together (each a TLS handshake and a node
        list less); a job that changed something reads its own (JobRun.cluster)."""
        with self._lock:
            now = time.monotonic()
            if self._view is None or now - self._view[0] > SHARED_VIEW_SECONDS or not self._view[1].reachable:
                self._view = (now, cluster_view(kube))
            return self._view[1]

    def forget_shared_view(self) -> None:
        """A job changed the cluster: no job may go on from a reading taken before (a join re-run
        from a reading without the node would run `kubeadm join` again, which refuses)."""
        with self._lock:
            self._view = None

    @property
    def stopping(self) -> bool:
        """True once stop() was called: jobs end interrupted after their current step."""
        return self._stop.is_set()

    def import_card_keys(self) -> int:
        """Record the host keys of flashed cards (STATE_DIR/cards.pub); how many are new."""
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
            return JobRun(self, conn, job_id).run()
        finally:
            conn.close()



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
