"""The nodes view's rows from the agents' latest reports (pure)."""

from __future__ import annotations

from netd.agent.usage_report import PodUsage, Usage, UsageReport
from netd.usage_rows import Latest, NodeRow, PodRow, usage_rows

A, B = "6f1f9a3c-2b4d-4e8f-9a0b-1c2d3e4f5a6b", "3f2504e04f8911d39a0c0305e82c3301"


def status(node: str, seen: float, usage: UsageReport | None) -> Latest:
    return (node, seen, usage)


def test_rows_per_node_and_pod() -> None:
    one = UsageReport(2, Usage(10**9, 1500, 1 << 30, 4 << 30, 200), (
        PodUsage(A, "burstable", 2, Usage(5, 20, 64 << 20, 256 << 20, 7)),
        PodUsage(B, "besteffort", 1, Usage(5, 300, 32 << 20, None, 2)),
    ))
    nodes, pods = usage_rows(
        [status("node-2", 90.0, None), status("node-1", 99.0, one)], now=100.0)
    assert nodes == [
        NodeRow("node-1", 1.0, False, 1500, 1 << 30, 4 << 30, 25.0, 2, 200),
        NodeRow("node-2", 10.0, False, None, None, None, None, None, None),  # an older agent
    ]
    assert pods == [
        PodRow("node-1", B, "besteffort", 1, 300, 32 << 20, None, None, 2),
        PodRow("node-1", A, "burstable", 2, 20, 64 << 20, 256 << 20, 25.0, 7),
    ]


def test_old_reports_are_marked_stale_and_no_cgroups_means_no_pod_count() -> None:
    bare = UsageReport(0, Usage(None, None, None, None, None), ())
    nodes, pods = usage_rows([status("node-3", 50.0, bare)], now=100.0)
    assert nodes[0].stale and nodes[0].seen_ago == 50.0
    assert nodes[0].pods is None and pods == []
    assert usage_rows([], now=0.0) == ([], [])
