"""Allocating a preferred pod slice uses indexed lookups only, and never hands out an overlapped slice."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foundation import registry
from foundation.registry import podcidr
from foundation.registry.schema import POD_PREFIX_EXPR

POD = IPv4Network("10.244.0.0/16")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = registry.open_registry(tmp_path)
    registry.ensure_master(connection, name="master", address=IPv4Address("10.0.0.1"), pod_cidr=POD,
                           node_cidr_mask=24, now=0.0)
    yield connection
    connection.close()


def _add(conn: sqlite3.Connection, name: str, mac: str, pod_cidr: str | None = None) -> None:
    conn.execute(
        "INSERT INTO nodes (name, role, mac, state, pod_cidr, first_seen, last_seen) "
        "VALUES (?, 'worker', ?, 'discovered', ?, 0, 0)", (name, mac, pod_cidr))
    conn.commit()


def test_the_prefix_question_is_answered_by_the_index(conn: sqlite3.Connection) -> None:
    plan = conn.execute(
        f"EXPLAIN QUERY PLAN SELECT 1 FROM nodes WHERE pod_cidr IS NOT NULL AND {POD_PREFIX_EXPR} > ? LIMIT 1",
        (24,),
    ).fetchall()
    assert any("nodes_pod_prefix" in row[3] for row in plan), plan


def test_a_finer_leftover_slice_inside_the_preferred_one_blocks_it(conn: sqlite3.Connection) -> None:
    _add(conn, "old", "02:00:00:00:00:01", "10.244.7.128/25")  # left from node_cidr_mask: 25
    _add(conn, "node-7", "02:00:00:00:00:07")
    assert registry.allocate_pod_cidr(conn, "node-7", POD, 24) == IPv4Network("10.244.1.0/24")


def test_a_coarser_leftover_slice_around_the_preferred_one_blocks_it(conn: sqlite3.Connection) -> None:
    _add(conn, "old", "02:00:00:00:00:01", "10.244.6.0/23")  # covers slices 6 and 7
    _add(conn, "node-7", "02:00:00:00:00:07")
    assert registry.allocate_pod_cidr(conn, "node-7", POD, 24) == IPv4Network("10.244.1.0/24")


def test_a_free_preferred_slice_is_taken(conn: sqlite3.Connection) -> None:
    _add(conn, "node-9", "02:00:00:00:00:09")
    assert registry.allocate_pod_cidr(conn, "node-9", POD, 24) == IPv4Network("10.244.9.0/24")


def test_a_taken_preferred_slice_falls_back_to_the_lowest_free(conn: sqlite3.Connection) -> None:
    _add(conn, "web", "02:00:00:00:00:01", "10.244.5.0/24")
    _add(conn, "node-5", "02:00:00:00:00:05")
    assert registry.allocate_pod_cidr(conn, "node-5", POD, 24) == IPv4Network("10.244.1.0/24")


def test_an_old_database_is_migrated_to_the_index(tmp_path: Path) -> None:
    from foundation.registry import schema

    raw = sqlite3.connect(tmp_path / "registry.db", isolation_level=None)
    for statement in schema.MIGRATIONS[0]:
        raw.execute(statement)
    raw.execute("PRAGMA user_version = 1")
    raw.close()
    conn = registry.open_registry(tmp_path)
    try:
        assert registry.schema_version(conn) == registry.SCHEMA_VERSION >= 2
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")}
        assert "nodes_pod_prefix" in names
    finally:
        conn.close()


@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_supernet_texts_match_ipaddress(address: int, prefix: int) -> None:
    cidr = IPv4Network((address, prefix), strict=False)
    expected = [str(cidr.supernet(new_prefix=p)) for p in range(prefix + 1)]
    assert podcidr.supernet_texts(cidr) == expected
