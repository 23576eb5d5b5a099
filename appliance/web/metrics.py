"""`/metrics`: Prometheus text of the daemon's counters (DHCP, DNS, NAT, provisioning, nodes).

A custom collector reads the counters at scrape time from the callable the
daemon passes as METRICS (service objects' own counters) and from the
registry (jobs and nodes by state), into a registry of its own (not
prometheus_client's global one, so apps in tests do not collide).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping

from flask import Blueprint, Response, current_app
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.web.registry_access import get_actions, get_registry
from foundation.registry import JobState, NodeState

bp = Blueprint("metrics", __name__)
Counters = Mapping[str, Mapping[str, int]]
_NAME = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(*parts: str) -> str:
    """`appliance_<parts>` with anything Prometheus does not allow made `_`."""
    return _NAME.sub("_", "_".join(("appliance", *parts))).lower()


class ApplianceCollector(Collector):
    """Counters from the daemon's services plus gauges from the registry, read at scrape time."""

    def __init__(self, counters: Callable[[], Counters] | None, jobs: dict[str, int], nodes: dict[str, int],
                 traffic: dict[str, tuple[int, int]], ready: int) -> None:
        self._counters = counters
        self._jobs, self._nodes, self._traffic, self._ready = jobs, nodes, traffic, ready

    def collect(self) -> Iterator[Metric]:
        for group, values in sorted((self._counters() if self._counters else {}).items()):
            for key, value in sorted(values.items()):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    family = CounterMetricFamily(metric_name(group, key), f"{group} counter {key}")
                    family.add_metric([], value)
                    yield family
        jobs = GaugeMetricFamily("appliance_provisioning_jobs", "Provisioning jobs by state", labels=["state"])
        for state in JobState:
            jobs.add_metric([state.value], self._jobs.get(state.value, 0))
        yield jobs
        nodes = GaugeMetricFamily("appliance_nodes", "Worker nodes by state", labels=["state"])
        for node_state in NodeState:
            nodes.add_metric([node_state.value], self._nodes.get(node_state.value, 0))
        yield nodes
        ready = GaugeMetricFamily("appliance_nodes_ready", "Worker nodes Kubernetes says are Ready")
        ready.add_metric([], self._ready)
        yield ready
        sent = CounterMetricFamily("appliance_nat_node_sent_bytes", "Bytes a node and its pods sent to the uplink",
                                   labels=["node"])
        received = CounterMetricFamily("appliance_nat_node_received_bytes",
                                       "Bytes the uplink sent to a node and its pods", labels=["node"])
        for node, (out, back) in sorted(self._traffic.items()):
            sent.add_metric([node], out)
            received.add_metric([node], back)
        yield sent
        yield received


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus exposition."""
    conn = get_registry()
    jobs = {row[0]: row[1] for row in conn.execute("SELECT state, count(*) FROM jobs GROUP BY state")}
    nodes = {row[0]: row[1] for row in conn.execute(
        "SELECT state, count(*) FROM nodes WHERE role = 'worker' GROUP BY state")}
    views = get_actions().nodes(conn)
    traffic = {view.name: (view.bytes_out, view.bytes_in) for view in views if view.role == "worker"}
    ready = sum(1 for view in views if view.role == "worker" and view.ready)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ApplianceCollector(current_app.config.get("METRICS"), jobs, nodes, traffic, ready))
    body = generate_latest(registry)
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8",
                    headers={"X-Scraped-At": f"{time.time():.3f}"})
