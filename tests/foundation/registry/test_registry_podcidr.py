"""Pod CIDR slicing: the pure chooser, and allocation through the registry."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundation import registry
from foundation.errors import RegistryError
from foundation.registry import podcidr
from foundation.registry.models import NodeRole, NodeRow, NodeState
from foundation.registry.nodes import insert_node

POD = IPv4Network("10.244.0.0/16")


def test_slices_of_the_default_network() -> None:
    assert podcidr.slice_count(POD, 24) == 256
    assert podcidr.slice_at(POD, 24, 0) == IPv4Network("10.244.0.0/24")
    assert podcidr.slice_at(POD, 24, 3) == IPv4Network("10.244.3.0/24")
    assert podcidr.slice_at(POD, 26, 5) == IPv4Network("10.244.1.64/26")
    assert podcidr.slice_index(POD, 24, IPv4Network("10.244.7.0/24")) == 7
    assert podcidr.slice_index(POD, 24, IPv4Network("10.245.7.0/24")) is None
    assert podcidr.slice_index(POD, 24, IPv4Network("10.244.7.0/25")) is None
    with pytest.raises(RegistryError, match="node_cidr_mask 12 does not fit"):
        podcidr.slice_count(POD, 12)


def test_preferred_index_from_the_name() -> None:
    assert podcidr.preferred_index("node-3") == 3
    assert podcidr.preferred_index("rack2-node17") == 17
    assert podcidr.preferred_index("master") is None


def test_choose_prefers_the_name_then_the_lowest_free() -> None:
    assert podcidr.choose_slice(POD, 24, set(), preferred=3) == 3
    assert podcidr.choose_slice(POD, 24, {3}, preferred=3) == 1
    assert podcidr.choose_slice(POD, 24, {1, 2, 3}, preferred=None) == 4
    assert podcidr.choose_slice(POD, 24, set(), preferred=0) == 1  # slice 0 is the master's
    assert podcidr.choose_slice(POD, 24, set(), preferred=0, lowest=0) == 0
    assert podcidr.choose_slice(POD, 24, set(), preferred=999) == 1  # beyond the network
    with pytest.raises(RegistryError, match="no free /25 slice"):
        podcidr.choose_slice(IPv4Network("10.244.0.0/24"), 25, {1}, preferred=None)


@given(
    prefix=st.integers(8, 30),
    extra=st.integers(0, 6),
    taken=st.sets(st.integers(0, 200), max_size=60),
    preferred=st.none() | st.integers(0, 300),
    lowest=st.integers(0, 1),
)
def test_choose_never_returns_a_taken_slice(
    prefix: int, extra: int, taken: set[int], preferred: int | None, lowest: int
) -> None:
    network = IPv4Network((0x0A000000 >> (32 - prefix) << (32 - prefix), prefix))
    mask = min(prefix + extra, 32)
    count = podcidr.slice_count(network, mask)
    free = [i for i in range(lowest, count) if i not in taken]
    if not free:
        with pytest.raises(RegistryError):
            podcidr.choose_slice(network, mask, taken, preferred, lowest)
        return
    index = podcidr.choose_slice(network, mask, taken, preferred, lowest)
    assert index not in taken and lowest <= index < count
    if preferred is not None and preferred in free:
        assert index == preferred
    else:
        assert index == free[0]
    chosen = podcidr.slice_at(network, mask, index)
    assert chosen.subnet_of(network) and chosen.prefixlen == mask
    assert podcidr.slice_index(network, mask, chosen) == index


@given(st.integers(16, 28), st.integers(0, 7), st.integers(0, 255), st.integers(0, 255))
def test_overlapped_slices_are_exactly_the_overlapping_ones(
    other_prefix: int, extra: int, third: int, fourth: int
) -> None:
    network = IPv4Network("10.244.0.0/20")
    mask = 20 + extra
    other = IPv4Network(f"10.244.{third}.{fourth}/{other_prefix}", strict=False)
    expected = [
        i
        for i in range(podcidr.slice_count(network, mask))
        if podcidr.slice_at(network, mask, i).overlaps(other)
    ]
    assert list(podcidr.overlapped_slices(network, mask, other)) == expected
    assert podcidr.taken_slices(network, mask, [str(other)]) == set(expected)


def _node(name: str, role: NodeRole = NodeRole.WORKER) -> NodeRow:
    return NodeRow(
        name=name, role=role, mac=None, client_id=None, address=None, model=None,
        state=NodeState.DISCOVERED, pod_cidr=None, ssh_host_key=None, hostname=None,
        first_seen=1.0, last_seen=1.0, approved_at=None,
    )  # fmt: skip


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = registry.open_registry(tmp_path)
    yield connection
    connection.close()


def test_master_gets_slice_zero_and_nodes_their_number(conn: sqlite3.Connection) -> None:
    insert_node(conn, _node("node-2"))
    assert registry.allocate_pod_cidr(conn, "node-2", POD, 24) == IPv4Network("10.244.2.0/24")
    insert_node(conn, _node("mars"))
    assert registry.allocate_pod_cidr(conn, "mars", POD, 24) == IPv4Network("10.244.1.0/24")
    insert_node(conn, _node("node-1"))  # its slice is taken by "mars": lowest free
    assert registry.allocate_pod_cidr(conn, "node-1", POD, 24) == IPv4Network("10.244.3.0/24")
    insert_node(conn, _node("master", NodeRole.MASTER))
    assert registry.allocate_pod_cidr(conn, "master", POD, 24) == IPv4Network("10.244.0.0/24")
    # Stable: asking again changes nothing.
    assert registry.allocate_pod_cidr(conn, "node-2", POD, 24) == IPv4Network("10.244.2.0/24")
    assert registry.require_node(conn, "node-1").pod_cidr == IPv4Network("10.244.3.0/24")


def test_changed_pod_network_reallocates_and_old_slices_block_overlaps(
    conn: sqlite3.Connection,
) -> None:
    insert_node(conn, _node("node-1"))
    insert_node(conn, _node("node-2"))
    registry.allocate_pod_cidr(conn, "node-1", POD, 24)
    # The user narrowed the slices to /25: node-2's preferred 10.244.1.0/25 overlaps node-1's old /24.
    chosen = registry.allocate_pod_cidr(conn, "node-2", POD, 25)
    assert chosen == IPv4Network("10.244.0.128/25")
    assert not chosen.overlaps(IPv4Network("10.244.1.0/24"))
    # node-1's old /24 is no slice of the new layout: it moves to the lowest free /25.
    assert registry.allocate_pod_cidr(conn, "node-1", POD, 25) == IPv4Network("10.244.1.0/25")


def test_exhausted_network_is_a_clear_error(conn: sqlite3.Connection) -> None:
    small = IPv4Network("10.244.0.0/23")
    for name in ("a", "b", "c"):
        insert_node(conn, _node(name))
    registry.allocate_pod_cidr(conn, "a", small, 24)
    with pytest.raises(RegistryError, match="no free /24 slice"):
        registry.allocate_pod_cidr(conn, "b", small, 24)
    assert registry.require_node(conn, "b").pod_cidr is None


operation = st.tuples(st.sampled_from(["add", "forget"]), st.integers(0, 40))


@settings(max_examples=40, deadline=None)
@given(st.lists(operation, max_size=40), st.sampled_from([(24, 16), (27, 24), (26, 24)]))
def test_registry_never_gives_one_slice_to_two_nodes(
    operations: list[tuple[str, int]], masks: tuple[int, int]
) -> None:
    mask, prefix = masks
    network = IPv4Network(f"10.244.0.0/{prefix}")
    with tempfile.TemporaryDirectory() as state_dir:
        conn = registry.open_registry(state_dir)
        given_out: dict[str, IPv4Network] = {}
        for op, number in operations:
            name = f"node-{number}"
            if op == "add":
                if registry.get_node(conn, name) is None:
                    insert_node(conn, _node(name))
                try:
                    cidr = registry.allocate_pod_cidr(conn, name, network, mask)
                except RegistryError:
                    assert len(given_out) >= podcidr.slice_count(network, mask) - 1
                    continue
                if name in given_out:
                    assert cidr == given_out[name]  # stable
                given_out[name] = cidr
            elif name in given_out:
                registry.forget_node(conn, name, now=1.0)
                del given_out[name]
        stored = [node.pod_cidr for node in registry.list_nodes(conn) if node.pod_cidr]
        assert len(stored) == len(set(stored)) == len(given_out)
        for a in stored:
            assert a.subnet_of(network) and a != podcidr.slice_at(network, mask, 0)
            assert sum(a.overlaps(b) for b in stored) == 1
        conn.close()
