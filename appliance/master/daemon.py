"""`appliance master run`: netd's services, the provisioning runner, the agent API and the web page
in one asyncio process.

Start: netd's services (netd.daemon.NetdServices: registry link, DHCP, DNS,
NAT, routes, agent API on waitress), the provisioning runner's worker threads
(it resumes interrupted jobs from the registry), the page on `web.listen` and
the CLI's local socket, then the daemon's own loops: zero-touch approval
(node events from the bus), joins (the master's own init first, once a worker
is approved; then each approved worker's job), the forget schedule, live
facts for the page (agent reports, traffic counters, Kubernetes' nodes,
offline/online), the uplink follower, and the systemd watchdog. READY=1 goes
out once all of that runs.

SIGTERM/SIGINT: stop taking work (the page closes), let the runner finish
its current step (it marks the rest interrupted), stop netd's services in
reverse. NAT, routes and leases stay in the kernel and on disk; a restart
picks everything up from the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

from appliance.master.actions import JobSubmitter, MasterActions
from appliance.master.kube_access import KubeNotReady, admin_conf
from appliance.master.local_token import SOCKET_FILE, write_local_token
from appliance.master.notify import Notifier, watchdog_interval
from appliance.master.policy import (
    ForgetCandidate,
    auto_approves,
    due_for_forgetting,
    init_retry_due,
)
from appliance.master.views import AgentFacts, KubeNodeFacts, node_views
from appliance.master.web_server import WebListeners
from appliance.web import create_app
from foundation import registry
from foundation.config.model import Config
from foundation.errors import ApplianceError, EnvironmentProblem
from foundation.records import NodeChange, NodeEvent
from foundation.registry import JobState, LeaseState, NodeRole, NodeState
from netd.daemon import NetdServices, freeze_startup_objects
from netd.nat.render import parse_web_listen
from netd.netlink_watch import RTMGRP_IPV4_IFADDR, RTMGRP_LINK, NetlinkWatcher

log = logging.getLogger("appliance.master")
T = TypeVar("T")

FACTS_INTERVAL = 5.0
"""Seconds between refreshes of the page's live facts (agents, traffic, Kubernetes)."""
FORGET_INTERVAL = 60.0
"""Seconds between runs of the forget schedule."""
UPLINK_RECHECK = 30.0
"""Seconds between uplink address checks when no netlink notification came."""
RUNNER_STOP_TIMEOUT = 60.0
"""How long SIGTERM waits for running jobs to finish their current step."""


def make_runner(config: Config, state_dir: Path) -> Any | None:
    """Provisioning's Runner with its default SSH connector (the master's provisioning key and the
    registry's host-key pinning) and the Kubernetes adapter from STATE_DIR's admin.conf."""
    from appliance.kube import KubeClient
    from provisioning.node_access import ssh_factory
    from provisioning.runner import Runner

    def kube() -> Any:  # KubeClient meets provisioning.kube_api.KubeApi (frozen records: Any for mypy)
        return KubeClient.from_state_dir(state_dir)

    return Runner(config, state_dir, connect=ssh_factory(config, state_dir),
                  parallelism=config.provisioning.parallelism, kube=kube)


class MasterDaemon:
    """The whole master, started and stopped as one."""

    def __init__(self, config: Config, state_dir: Path, *, notifier: Notifier | None = None,
                 simulated_kubernetes: bool = False, runner: Any | None = None, only: str | None = None,
                 make_runner: Callable[[Config, Path], Any | None] = make_runner) -> None:
        self.config = config
        self.state_dir = state_dir
        self.notifier = notifier or Notifier(None)
        self.netd = NetdServices(config, state_dir, only)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="master-registry")
        self._conn: sqlite3.Connection | None = None
        self.runner = runner if runner is not None else make_runner(config, state_dir)
        self._uplink_addresses: list[Any] = []
        self.actions = MasterActions(config=config, state_dir=state_dir, runner=self._submitter(),
                                     uplink_address=self._uplink_text,
                                     master_initialised=lambda: admin_conf(state_dir).exists())
        self.app = create_app({
            "APPLIANCE_ACTIONS": self.actions, "LOCAL_TOKEN": write_local_token(state_dir),
            "SIMULATED": simulated_kubernetes, "METRICS": self.counters,
        })
        self.web = WebListeners(self.app, parse_web_listen(config.web.listen), state_dir / SOCKET_FILE)
        self._tasks: list[asyncio.Task[None]] = []
        self._uplink_changed = asyncio.Event()
        self._watcher: NetlinkWatcher | None = None
        self._offline: set[str] | None = None

    def _submitter(self) -> JobSubmitter | None:
        return self.runner if self.runner is not None else None

    def _uplink_text(self) -> str | None:
        return str(self._uplink_addresses[0]) if self._uplink_addresses else None

    # ----- registry work, on one thread with its own connection -----------------------------
    async def _db(self, function: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._conn is None:
                self._conn = registry.open_registry(self.state_dir, check_same_thread=False)
            return function(self._conn)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # ----- start and stop --------------------------------------------------------------------
    async def start(self) -> None:
        """Start everything; returns once the daemon serves (then READY=1 is sent)."""
        self.notifier.status("starting netd services")
        await self.netd.start()
        loop = asyncio.get_running_loop()
        if self.runner is not None:
            await loop.run_in_executor(None, self.runner.start)
        self._uplink_addresses = await loop.run_in_executor(None, self._read_uplink)
        try:
            self.web.start(self._uplink_addresses)
        except OSError as error:
            raise EnvironmentProblem(f"the web page cannot listen ({error.strerror}); check web.listen in "
                                     "cluster.yaml and that nothing else uses the port") from None
        def changed(event: object) -> None:
            loop.call_soon_threadsafe(self._uplink_changed.set)

        self._watcher = NetlinkWatcher(changed,
                                       groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR, name="netlink-web")
        self._watcher.start()
        queue = self.netd.ctx.bus.subscribe()
        await self._db(self._approve_waiting)  # nodes discovered while the daemon was down
        self._tasks = [
            asyncio.create_task(self._follow_nodes(queue), name="approval"),
            asyncio.create_task(self._every(FORGET_INTERVAL, self._forget_due), name="forget"),
            asyncio.create_task(self._every(FACTS_INTERVAL, self._refresh_facts), name="facts"),
            asyncio.create_task(self._every(FACTS_INTERVAL, self._start_waiting_joins), name="joins"),
            asyncio.create_task(self._follow_uplink(), name="uplink"),
        ]
        interval = watchdog_interval()
        if interval is not None:
            self._tasks.append(asyncio.create_task(self._watchdog(interval), name="watchdog"))
        freeze_startup_objects()
        listening = ", ".join(self.config.web.listen)
        log.info("master ready", extra={"event": "master.ready", "web": listening,
                                        "runner": self.runner is not None})
        self.notifier.ready(f"serving; page on {listening}")

    async def stop(self) -> None:
        """Stop taking work, let jobs finish their step, stop services in reverse; NAT, routes, leases stay."""
        self.notifier.stopping()
        log.info("master stopping", extra={"event": "master.stopping"})
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.web.stop)
        if self._watcher is not None:
            await loop.run_in_executor(None, self._watcher.stop)
        if self.runner is not None:
            await loop.run_in_executor(None, self.runner.stop, RUNNER_STOP_TIMEOUT)
        await self.netd.stop()
        await self._db(lambda conn: conn.close())
        self._conn = None
        self._executor.shutdown(wait=True)
        log.info("master stopped", extra={"event": "master.stopped"})

    # ----- the daemon's loops ------------------------------------------------------------------
    async def _every(self, seconds: float, work: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await work()
            except Exception:  # one failed round must not end the loop; the next round tries again
                log.exception("%s failed", getattr(work, "__name__", "periodic work"))
            await asyncio.sleep(seconds)

    async def _watchdog(self, interval: float) -> None:
        while True:  # runs on the event loop: a stuck loop stops the pings and systemd restarts us
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    async def _follow_nodes(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            event = await queue.get()
            if isinstance(event, NodeEvent) and event.change is NodeChange.UPSERTED:
                name = event.node.name
                try:
                    await self._db(functools.partial(self._approve_if_policy, name=name))
                except Exception:
                    log.exception("approving %s failed", name)
            elif not isinstance(event, NodeEvent):  # Resync: we missed events; look at every node
                await self._db(self._approve_waiting)

    def _approve_if_policy(self, conn: sqlite3.Connection, *, name: str) -> None:
        node = registry.get_node(conn, name)
        if node is None or node.state is not NodeState.DISCOVERED or node.role is NodeRole.MASTER:
            return
        if auto_approves(self.config.provisioning.approve, node.mac):
            self.actions.approve(conn, name, by=f"policy {self.config.provisioning.approve}")

    def _initialise_master(self, conn: sqlite3.Connection) -> None:
        """Plug in Pis, get a cluster: once a worker is approved and the master has no Kubernetes yet
        (no admin.conf), queue the master's own plan (kubeadm init) first, and try it again with a
        growing pause while it fails (policy.init_retry_due). A master nobody asked for a cluster
        yet stays as it is."""
        if self.runner is None or admin_conf(self.state_dir).exists():
            return
        nodes = registry.list_nodes(conn)
        if not any(n.role is NodeRole.WORKER and n.state is NodeState.APPROVED for n in nodes):
            return
        master = next((n for n in nodes if n.role is NodeRole.MASTER), None)
        if master is None or registry.active_jobs(conn, master.name):
            return  # an interrupted init is taken up again by the runner itself
        failures, last = 0, None
        for job in registry.list_jobs(conn, node=master.name, limit=50):
            if job.state is not JobState.FAILED:
                break
            failures += 1
            last = job.finished if last is None else last
        if not init_retry_due(failures, last, time.time()):
            return
        job_id = self.runner.submit(master.name, "all")
        log.info("the master initialises Kubernetes", extra={"event": "job.queued", "node": master.name,
                                                             "job": job_id, "plan": "all", "try": failures + 1})

    async def _start_waiting_joins(self) -> None:
        if self.runner is None:
            return
        if not admin_conf(self.state_dir).exists():
            await self._db(self._initialise_master)
            return
        await self._db(self._start_waiting_joins_now)

    def _start_waiting_joins_now(self, conn: sqlite3.Connection) -> None:
        for node in registry.list_nodes(conn):
            if node.role is NodeRole.WORKER and node.state is NodeState.APPROVED:
                self.actions.start_join(conn, node.name)

    def _approve_waiting(self, conn: sqlite3.Connection) -> None:
        if self.config.provisioning.approve == "manual":
            return
        for node in registry.list_nodes(conn):
            self._approve_if_policy(conn, name=node.name)

    async def _forget_due(self) -> None:
        await self._db(self._forget_due_now)

    def _forget_due_now(self, conn: sqlite3.Connection) -> None:
        now = time.time()
        leases: dict[str, list[Any]] = {}
        for lease in registry.list_leases(conn):
            leases.setdefault(lease.node, []).append(lease)
        candidates = []
        for node in registry.list_nodes(conn):
            held = leases.get(node.name, [])
            active = any(lease.state is LeaseState.ACTIVE and lease.expires > now for lease in held)
            ended = [lease.updated for lease in held if lease.state is not LeaseState.ACTIVE]
            ended += [lease.expires for lease in held if lease.state is LeaseState.ACTIVE and lease.expires <= now]
            candidates.append(ForgetCandidate(
                name=node.name, discovered=node.state is NodeState.DISCOVERED,
                master=node.role is NodeRole.MASTER, lease_active=active,
                lease_ended=max(ended) if ended else None, last_seen=node.last_seen))
        for name in due_for_forgetting(candidates, now, self.config.provisioning.forget_after):
            registry.forget_node(conn, name, now=now)
            log.info("never-approved node forgotten; its pod slice is free again",
                     extra={"event": "node.forgotten", "node": name, "by": "schedule"})

    async def _refresh_facts(self) -> None:
        loop = asyncio.get_running_loop()
        facts = self.actions.facts
        api = self.netd.service("api")
        backend = getattr(api, "backend", None)
        for name, status in list(getattr(backend, "status", {}).items()):
            facts.agents[name] = AgentFacts(seen=status.seen, errors=status.report.errors,
                                            version=status.report.agent_version, usage=status.report.usage)
        if self.netd.service("nat") is not None:
            from netd.nat.nft import read_traffic

            facts.traffic_out, facts.traffic_in = await loop.run_in_executor(None, read_traffic)
        try:
            kube = await loop.run_in_executor(None, self._kube_nodes)
            facts.kube, facts.kube_error = kube, None
        except ApplianceError as error:
            facts.kube, facts.kube_error = None, str(error)
        await self._db(self._note_offline)

    def _kube_nodes(self) -> dict[str, KubeNodeFacts]:
        client = self.actions.open_kube(self.state_dir)
        try:
            listed = client.list_nodes()
        except ApplianceError as error:
            raise KubeNotReady(str(error)) from None
        return {str(node.name): KubeNodeFacts(ready=bool(node.ready), reason=str(node.reason or ""),
                                              kubelet_version=str(node.kubelet_version or "")) for node in listed}

    def _note_offline(self, conn: sqlite3.Connection) -> None:
        now = time.time()
        offline = {view.name for view in node_views(conn, self.actions.facts, self.config, now) if view.offline}
        if self._offline is not None:  # the first round only learns the starting state
            for name, change in [*((n, "offline") for n in sorted(offline - self._offline)),
                                 *((n, "online") for n in sorted(self._offline - offline))]:
                if registry.get_node(conn, name) is None:
                    continue
                registry.append_event(conn, kind=f"node.{change}", node=name, message=f"{name} is {change}", now=now)
                log.info(f"node {change}", extra={"event": f"node.{change}", "node": name})
        self._offline = offline

    def _read_uplink(self) -> list[Any]:
        from netd.nat.nft import read_uplink

        return [interface.ip for interface in read_uplink(self.config.network.uplink_interface).addresses]

    async def _follow_uplink(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._uplink_changed.wait(), timeout=UPLINK_RECHECK)
            await asyncio.sleep(0.05)  # let a burst of notifications settle
            self._uplink_changed.clear()
            try:
                addresses = await loop.run_in_executor(None, self._read_uplink)
                if addresses != self._uplink_addresses:
                    self._uplink_addresses = addresses
                    await loop.run_in_executor(None, self.web.follow, addresses)
            except Exception:
                log.exception("following the uplink's address failed")

    # ----- metrics ---------------------------------------------------------------------------------
    def counters(self) -> dict[str, dict[str, int]]:
        """Every service's counters, by group, for /metrics."""
        groups: dict[str, dict[str, int]] = {"registry": {"refused_lease_events": self.netd.link.failures}}
        dhcp = cast(Any, self.netd.service("dhcp"))
        if dhcp is not None:
            groups["dhcp_server"] = dict(dhcp.server.stats)
            groups["dhcp"] = dict(dhcp.engine.stats)
        dns = cast(Any, self.netd.service("dns"))
        if dns is not None:
            for group, values in dns.counters().items():
                groups[f"dns_{group}"] = dict(values)
        nat = cast(Any, self.netd.service("nat"))
        if nat is not None:
            groups["nat"] = {"ruleset_applications": nat.applications}
        return groups


async def serve(config: Config, state_dir: Path, *, simulated_kubernetes: bool = False,
                only: str | None = None) -> None:
    """Run the master until SIGTERM or SIGINT."""
    notifier = Notifier.from_environment()
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    daemon = MasterDaemon(config, state_dir, notifier=notifier, simulated_kubernetes=simulated_kubernetes,
                          only=only)
    try:
        await daemon.start()
        await stopping.wait()
    finally:
        await daemon.stop()
        notifier.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def run(config_path: Path, state_dir: Path, *, simulated_kubernetes: bool = False,
        only: str | None = None) -> None:
    """Load cluster.yaml and run the master in the foreground."""
    from foundation.config import load_config

    config = load_config(config_path)
    asyncio.run(serve(config, state_dir, simulated_kubernetes=simulated_kubernetes, only=only))
