"""One provisioning job, run: facts, then each step's operation and its actions, logged and recorded.

The runner (provisioning.runner) makes one JobRun per job, in a worker thread
with the job's own registry connection, connector, log and secrets.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import traceback
from typing import TYPE_CHECKING

from foundation import registry
from foundation.errors import ApplianceError, UsageError
from foundation.registry import JobState, NodeRole, NodeRow, NodeState
from provisioning import jobs, plans
from provisioning.connector import Connector
from provisioning.execute import Executor, admin_conf_path, describe
from provisioning.facts import NodeFacts, read_facts
from provisioning.kube_api import UNREACHABLE, ClusterNode, ClusterView, KubeApi, KubeFactory
from provisioning.local import uplink_address
from provisioning.operations.base import Context, ProvisionError
from provisioning.outcomes import JobOutcome, JobProgress
from provisioning.redact import Redactor, one_line

if TYPE_CHECKING:
    from provisioning.runner import Runner


class Stopping(Exception):
    """The runner is stopping: the job ends interrupted after its current step."""


def cluster_view(kube: KubeFactory | None) -> ClusterView:
    """The API server's nodes, or why they cannot be read."""
    if kube is None:
        return UNREACHABLE
    try:
        nodes = kube().list_nodes()
    except (ApplianceError, OSError) as error:
        return ClusterView(False, {}, one_line(str(error), 200))
    return ClusterView(True, {n.name: ClusterNode(n.name, n.ready, n.pod_cidr) for n in nodes})


class JobRun:
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
        """The API's view: the runner's recent one until this job changed something, then its own."""
        if self.view is None or not self.view.reachable:
            factory = self.kube if self.runner.kube is not None else None
            self.view = self.runner.shared_view(factory) if not self.changed else cluster_view(factory)
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
            self.log.command(f"? facts: {facts.system.model or 'not a Raspberry Pi'}, {facts.system.pretty_os}, "
                             f"{facts.system.machine}")
            if facts.system.model and facts.system.model != node.model and not dry:
                registry.set_node_model(self.conn, node.name, facts.system.model)  # the board says best
            for index, step in enumerate(self.steps):
                if runner.stopping:
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
                        self.runner.forget_shared_view()
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
