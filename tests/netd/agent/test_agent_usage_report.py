"""The usage part of an agent's report: round trips, old agents, hostile input."""

from __future__ import annotations

import json
from ipaddress import IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netd.agent.protocol import ProtocolError, Report, parse_report, report_to_json
from netd.agent.usage_report import MAX_PODS, PodUsage, Usage, UsageReport

UID = "6f1f9a3c-2b4d-4e8f-9a0b-1c2d3e4f5a6b"
USAGE = UsageReport(
    cgroup_version=2,
    node=Usage(cpu_usec=9_000_000, cpu_millicores=1250, memory_current=700 << 20,
               memory_max=4 << 30, pids=310),
    pods=(
        PodUsage(UID, "burstable", 2, Usage(1_000_000, 40, 64 << 20, 256 << 20, 12)),
        PodUsage("3f2504e04f8911d39a0c0305e82c3301", "guaranteed", 1,
                 Usage(5, None, None, None, None)),
    ),
)
BASE = {"routes_programmed": 1, "pod_cidr": "10.244.1.0/24", "errors": [], "agent_version": "0.1.0"}


def test_usage_round_trips_and_is_optional() -> None:
    report = Report(1, IPv4Network("10.244.1.0/24"), (), "0.1.0", usage=USAGE)
    assert parse_report(report_to_json(report)) == report
    old = Report(1, IPv4Network("10.244.1.0/24"), (), "0.1.0")
    assert "usage" not in json.loads(report_to_json(old))  # what an older master expects
    assert parse_report(json.dumps(BASE).encode()) == old  # what an older agent sends
    assert parse_report(json.dumps({**BASE, "usage": None}).encode()) == old


@pytest.mark.parametrize(
    "usage",
    [
        [], "x", {"cgroup_version": 3, "node": {}, "pods": []},
        {"cgroup_version": 2, "node": [], "pods": []},
        {"cgroup_version": 2, "node": {}, "pods": {}},
        {"cgroup_version": 2, "node": {"cpu_usec": -1}, "pods": []},
        {"cgroup_version": 2, "node": {"cpu_usec": True}, "pods": []},
        {"cgroup_version": 2, "node": {"memory_current": 1.5}, "pods": []},
        {"cgroup_version": 2, "node": {"pids": 1 << 63}, "pods": []},
        {"cgroup_version": 2, "node": {}, "pods": [{"uid": "x", "qos": "burstable", "containers": 1}]},
        {"cgroup_version": 2, "node": {}, "pods": [{"uid": UID, "qos": "gold", "containers": 1}]},
        {"cgroup_version": 2, "node": {}, "pods": [{"uid": UID, "qos": "burstable"}]},
        {"cgroup_version": 2, "node": {}, "pods": [None]},
        {"cgroup_version": 2, "node": {}, "pods": [
            {"uid": UID, "qos": "burstable", "containers": 1}] * (MAX_PODS + 1)},
    ],
)
def test_bad_usage_is_a_protocol_error(usage: object) -> None:
    with pytest.raises(ProtocolError, match="usage"):
        parse_report(json.dumps({**BASE, "usage": usage}).encode())


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=15), inner, max_size=6),
    max_leaves=30,
)
USAGE_SHAPED = st.fixed_dictionaries(
    {"cgroup_version": st.integers(-1, 3) | JSON, "node": JSON | st.dictionaries(
        st.sampled_from(["cpu_usec", "cpu_millicores", "memory_current", "memory_max", "pids"]),
        st.integers(-2, 1 << 64) | JSON),
     "pods": st.lists(st.fixed_dictionaries({"uid": st.sampled_from([UID, "x"]) | JSON,
                                             "qos": st.sampled_from(["burstable", "x"]),
                                             "containers": st.integers(-1, 3) | JSON}), max_size=3)
     | JSON},
)


@given(USAGE_SHAPED | JSON)
def test_any_usage_parses_or_is_a_protocol_error(usage: object) -> None:
    try:
        report = parse_report(json.dumps({**BASE, "usage": usage}).encode())
    except ProtocolError:
        return
    if report.usage is not None:
        assert report.usage.cgroup_version in (0, 1, 2)
        assert parse_report(report_to_json(report)) == report
