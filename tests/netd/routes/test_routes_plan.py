"""The pure route planner: wanted routes from nodes, and the diff against the kernel."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from hypothesis import given
from hypothesis import strategies as st

from foundation.records import NodeRecord
from netd.routes.plan import KernelRoute, PodRoute, RouteAction, RouteOp, plan_routes, wanted_routes

LAN = IPv4Network("10.0.0.0/24")


def node(name: str, address: str | None, cidr: str | None) -> NodeRecord:
    return NodeRecord(
        name=name,
        address=IPv4Address(address) if address else None,
        mac=None,
        pod_cidr=IPv4Network(cidr) if cidr else None,
    )


def test_wanted_routes_skip_self_incomplete_and_off_lan_nodes() -> None:
    nodes = [
        node("master", "10.0.0.1", "10.244.0.0/24"),
        node("node-1", "10.0.0.11", "10.244.1.0/24"),
        node("node-2", None, "10.244.2.0/24"),
        node("node-3", "10.0.0.13", None),
        node("node-4", "192.0.2.4", "10.244.4.0/24"),
    ]
    assert wanted_routes(nodes, self_address=IPv4Address("10.0.0.1"), lan_subnet=LAN) == {
        PodRoute(IPv4Network("10.244.1.0/24"), IPv4Address("10.0.0.11"))
    }
    from_node_1 = wanted_routes(nodes, self_address=IPv4Address("10.0.0.11"), lan_subnet=LAN)
    assert from_node_1 == {PodRoute(IPv4Network("10.244.0.0/24"), IPv4Address("10.0.0.1"))}


def test_duplicate_pod_cidr_is_resolved_the_same_way_everywhere() -> None:
    nodes = [node("node-b", "10.0.0.12", "10.244.9.0/24"), node("node-a", "10.0.0.11", "10.244.9.0/24")]
    for order in (nodes, list(reversed(nodes))):
        assert wanted_routes(order, self_address=None, lan_subnet=LAN) == {
            PodRoute(IPv4Network("10.244.9.0/24"), IPv4Address("10.0.0.11"))
        }


def test_plan_adds_replaces_deletes_and_leaves_correct_routes() -> None:
    net = IPv4Network
    wanted = {
        PodRoute(net("10.244.1.0/24"), IPv4Address("10.0.0.11")),
        PodRoute(net("10.244.2.0/24"), IPv4Address("10.0.0.12")),
        PodRoute(net("10.244.3.0/24"), IPv4Address("10.0.0.13")),
    }
    actual = [
        KernelRoute(net("10.244.1.0/24"), IPv4Address("10.0.0.11"), 3),  # right
        KernelRoute(net("10.244.2.0/24"), IPv4Address("10.0.0.99"), 3),  # wrong gateway
        KernelRoute(net("10.244.7.0/24"), IPv4Address("10.0.0.77"), 3),  # forgotten node
    ]
    ops = plan_routes(wanted, actual, oif=3)
    assert ops == [
        RouteOp(RouteAction.DELETE, actual[2]),
        RouteOp(RouteAction.REPLACE, KernelRoute(net("10.244.2.0/24"), IPv4Address("10.0.0.12"), 3)),
        RouteOp(RouteAction.ADD, KernelRoute(net("10.244.3.0/24"), IPv4Address("10.0.0.13"), 3)),
    ]
    assert plan_routes(wanted, [op.route for op in ops if op.action is not RouteAction.DELETE] + actual[:1], 3) == []


def test_interface_change_moves_every_route() -> None:
    wanted = {PodRoute(IPv4Network("10.244.1.0/24"), IPv4Address("10.0.0.11"))}
    actual = [KernelRoute(IPv4Network("10.244.1.0/24"), IPv4Address("10.0.0.11"), 3)]
    assert plan_routes(wanted, actual, oif=7) == [
        RouteOp(RouteAction.REPLACE, KernelRoute(IPv4Network("10.244.1.0/24"), IPv4Address("10.0.0.11"), 7))
    ]


def _simulate(actual: list[KernelRoute], ops: list[RouteOp]) -> set[KernelRoute]:
    """What the kernel's table of our routes holds after `ops` (keyed like the kernel: dst + metric)."""
    table = {(r.dst, r.metric): r for r in actual}
    for op in ops:
        key = (op.route.dst, op.route.metric)
        if op.action is RouteAction.DELETE:
            assert table.pop(key) == op.route, "deleted a route that was not there"
        elif op.action is RouteAction.ADD:
            assert key not in table, "added over an existing route"
            table[key] = op.route
        else:
            # replace: the kernel swaps the route with the same prefix and metric.
            assert key in table, "replace would add a second route"
            table[key] = op.route
    return set(table.values())


cidrs = st.integers(0, 15).map(lambda i: IPv4Network(f"10.244.{i}.0/24"))
gateways = st.integers(2, 6).map(lambda i: IPv4Address(f"10.0.0.{i}"))
kernel_routes = st.builds(KernelRoute, cidrs, st.none() | gateways, st.integers(1, 3), st.sampled_from([0, 0, 5]))


@given(st.sets(st.builds(PodRoute, cidrs, gateways)), st.lists(kernel_routes), st.integers(1, 3))
def test_plan_always_converges_to_exactly_the_wanted_routes(
    wanted: set[PodRoute], actual: list[KernelRoute], oif: int
) -> None:
    # One route per (dst, metric) in a real table.
    unique = list({(r.dst, r.metric): r for r in actual}.values())
    wanted_by_dst = {r.dst: r for r in wanted}  # a wanted set never names one prefix twice
    wanted = set(wanted_by_dst.values())
    ops = plan_routes(wanted, unique, oif)
    assert _simulate(unique, ops) == {KernelRoute(r.dst, r.gateway, oif) for r in wanted}
    assert plan_routes(wanted, _simulate(unique, ops), oif) == []
