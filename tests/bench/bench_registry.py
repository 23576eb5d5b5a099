"""Registry write throughput: lease events one per transaction vs batched, beside plain SQLite.

    .venv/bin/python -m tests.bench.bench_registry [--events N]

The anchor is a bare sqlite3 INSERT loop with the same settings (WAL,
synchronous=FULL): one fsync'd commit per row, and one commit per batch.
It shows what our per-event work costs on top of the fsync, and why the
daemon should hand the registry lease events in batches. A second table puts
the batched path (lease_batch) beside the one-by-one reference path it
replaced, in CPU time per event, at the daemon's batch size.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # Run by path (python tests/bench/bench_registry.py): run again as `python -m tests.bench.bench_registry`
    # from the checkout, the form that imports the tests' kit (tests.support).
    import os

    os.chdir(Path(__file__).resolve().parents[2])
    os.execv(sys.executable, [sys.executable, "-m", "tests.bench.bench_registry", *sys.argv[1:]])

from foundation import registry
from foundation.records import LeaseChange, LeaseEvent
from tests.foundation.registry import lease_oracle

POD = IPv4Network("10.244.0.0/16")
BATCH = 100
DAEMON_BATCH = 512  # netd.registry_link's BATCH_LIMIT


def _events(count: int) -> list[LeaseEvent]:
    return [
        LeaseEvent(
            change=LeaseChange.GRANTED,
            address=IPv4Address(int(IPv4Address("10.1.0.0")) + n),
            mac=f"02:00:00:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}",
            client_id=None,
            node_name=f"node-{n + 1}",
            hostname=None,
            expires=600.0,
        )
        for n in range(count)
    ]


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:10.0f}/s"


def bench_registry(count: int, batch: int, renew: bool = False) -> float:
    with tempfile.TemporaryDirectory() as state_dir:
        conn = registry.open_registry(state_dir)
        events = _events(count)
        if renew:  # the nodes exist already: the common case of a running cluster
            registry.record_lease_events(conn, events, pod_cidr=POD, node_cidr_mask=24, now=0.0)
        start = time.perf_counter()
        for first in range(0, count, batch):
            registry.record_lease_events(
                conn, events[first : first + batch], pod_cidr=POD, node_cidr_mask=24, now=1.0
            )
        elapsed = time.perf_counter() - start
        assert len(registry.list_nodes(conn)) == count
        conn.close()
        return elapsed


Record = Callable[..., object]
Outcome = tuple[float, float, object]


def bench_paths(count: int, mask: int, renew: bool, record: Record) -> Outcome:
    """CPU and wall seconds for `count` events in daemon-sized batches through `record`,
    and what they returned and left in the tables (both paths must leave the same)."""
    with tempfile.TemporaryDirectory() as state_dir:
        conn = registry.open_registry(state_dir)
        events = _events(count)
        if renew:
            registry.record_lease_events(conn, events, pod_cidr=POD, node_cidr_mask=mask, now=0.0)
        returned: list[Any] = []
        cpu, wall = time.process_time(), time.perf_counter()
        for first in range(0, count, DAEMON_BATCH):
            returned.append(record(conn, events[first : first + DAEMON_BATCH], pod_cidr=POD,
                                   node_cidr_mask=mask, now=1.0))  # fmt: skip
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        tables = [
            [tuple(row) for row in conn.execute(f"SELECT {columns} FROM {table}")]
            for columns, table in (("*", "nodes"), ("rowid, *", "leases"), ("*", "events"))
        ]
        results = [(records, [(e, str(x)) for e, x in failures]) for records, failures in returned]
        state = (results, tables)
        conn.close()
        return cpu, wall, state


def compare_paths(count: int) -> None:
    """The batched path beside the one-by-one reference path (what record_lease_events was)."""
    # /27 slices of a /16: 2,048 nodes fit; with /24 slices only 255 do, and the rest fail.
    cases = (
        ("new nodes", 27, False),
        ("renewals", 27, True),
        ("new clients, pod network full", 24, False),
    )
    print(f"\n{count} events in batches of {DAEMON_BATCH}, CPU us per event (wall us in brackets)")
    print(f"{'':32}{'one by one':>18}{'batched path':>18}{'CPU speed-up':>14}")
    for label, mask, renew in cases:
        old = bench_paths(count, mask, renew, lease_oracle.record_lease_events_one_by_one)
        new = bench_paths(count, mask, renew, registry.record_lease_events)
        assert old[2] == new[2], f"{label}: the two paths left different tables or results"
        print(f"{label:32}{_us(count, old):>18}{_us(count, new):>18}{old[0] / new[0]:>13.1f}x")
    bare = bench_sqlite(count, DAEMON_BATCH)
    print(f"anchor: bare sqlite3 INSERT in the same batches: {bare / count * 1e6:.1f} us wall per row")
    print("(both paths returned the same records and failures and left the same tables)")


def _us(count: int, seconds: Outcome) -> str:
    return f"{seconds[0] / count * 1e6:.1f} ({seconds[1] / count * 1e6:.1f})"


def bench_sqlite(count: int, batch: int) -> float:
    with tempfile.TemporaryDirectory() as state_dir:
        conn = sqlite3.connect(Path(state_dir) / "plain.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE t (address TEXT PRIMARY KEY, mac TEXT, expires REAL)")
        start = time.perf_counter()
        for first in range(0, count, batch):
            conn.execute("BEGIN IMMEDIATE")
            for n in range(first, min(first + batch, count)):
                conn.execute(
                    "INSERT INTO t VALUES (?, ?, ?)", (f"10.1.{n >> 8}.{n & 255}", str(n), 600.0)
                )
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        conn.close()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--events", type=int, default=250, help="nodes (at most 255 with /24 slices of a /16)"
    )
    count = min(parser.parse_args().events, 255)
    print(f"{count} lease events, WAL + synchronous=FULL, file system of {tempfile.gettempdir()}")
    print(f"{'':32}{'ours':>13}{'bare sqlite3 INSERT':>22}")
    rows = (
        ("new nodes, one commit each", 1, False),
        (f"new nodes, batches of {BATCH}", BATCH, False),
        ("renewals, one commit each", 1, True),
        (f"renewals, batches of {BATCH}", BATCH, True),
    )
    for label, batch, renew in rows:
        ours, bare = bench_registry(count, batch, renew), bench_sqlite(count, batch)
        print(f"{label:32}{_rate(count, ours):>13}{_rate(count, bare):>22}")
    compare_paths(2000)


if __name__ == "__main__":
    main()
