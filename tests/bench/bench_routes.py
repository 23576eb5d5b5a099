"""Benchmark: reconcile 250 nodes' host-gw routes from empty versus `ip -batch`, and link-flap restore.

Run as root:  .venv/bin/python -m tests.bench.bench_routes [--nodes 250] [--rounds 5]
It makes a namespace with the tests' kit and re-runs itself inside it; nothing outside
that namespace is touched. Target: reconcile <= 2x ip -batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by path (python tests/bench/bench_routes.py): run again as `python -m tests.bench.bench_routes`
    # from the checkout, the form that imports the tests' kit (tests.support).
    import os

    os.chdir(Path(__file__).resolve().parents[2])
    os.execv(sys.executable, [sys.executable, "-m", "tests.bench.bench_routes", *sys.argv[1:]])

from netd.routes.keeper import RouteKeeper
from netd.routes.kernel import KernelRoutes
from netd.routes.plan import PodRoute, plan_routes
from tests.support.netns import NetnsKit
from tests.support.wait import wait_for


def wanted(nodes: int) -> set[PodRoute]:
    # Node n: pod CIDR 10.244.n.0/24 via 10.0.0.(n+1); a /22 LAN leaves room for 250+ nodes.
    return {PodRoute(IPv4Network(f"10.{244 + n // 256}.{n % 256}.0/24"), IPv4Address(f"10.0.{(n + 2) // 256}.{(n + 2) % 256}")) for n in range(1, nodes + 1)}


def flush() -> None:
    subprocess.run(["ip", "route", "flush", "proto", "171"], check=True)


def count_ours(kernel: KernelRoutes) -> int:
    return len(kernel.our_routes())


def inside(nodes: int, rounds: int) -> None:
    subprocess.run(["ip", "link", "add", "bench0", "type", "veth", "peer", "name", "bench1"], check=True)
    for name in ("bench0", "bench1"):
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
    subprocess.run(["ip", "addr", "add", "10.0.0.1/22", "dev", "bench0"], check=True)
    routes = wanted(nodes)
    kernel = KernelRoutes()
    index = kernel.ifindex("bench0")
    assert index is not None

    ours, keeper_times, batch = [], [], []
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as handle:
        for route in sorted(routes):
            handle.write(f"route add {route.dst} via {route.gateway} dev bench0 proto 171\n")
        batch_file = handle.name
    for _ in range(rounds):
        flush()
        start = time.perf_counter()
        failures = kernel.apply(plan_routes(routes, kernel.our_routes(), index))
        ours.append(time.perf_counter() - start)
        assert not failures and count_ours(kernel) == nodes, failures

        flush()
        start = time.perf_counter()
        subprocess.run(["ip", "-batch", batch_file], check=True)
        batch.append(time.perf_counter() - start)
        assert count_ours(kernel) == nodes

        flush()
        keeper = RouteKeeper("bench0", resync_interval=60)
        keeper.start()
        start = time.perf_counter()
        keeper.set_routes(routes)
        assert keeper.wait_converged(30)
        keeper_times.append(time.perf_counter() - start)
        keeper.stop()
    os.unlink(batch_file)

    # Link flap with a running keeper: time from `link up` until every route is back.
    flap = []
    keeper = RouteKeeper("bench0", resync_interval=60)
    keeper.start()
    keeper.set_routes(routes)
    assert keeper.wait_converged(30)
    for _ in range(rounds):
        subprocess.run(["ip", "link", "set", "bench0", "down"], check=True)
        wait_for(lambda: not count_ours(kernel), 10, interval=0.001, what="routes gone with the link")
        subprocess.run(["ip", "link", "set", "bench0", "up"], check=True)
        start = time.perf_counter()
        wait_for(lambda: count_ours(kernel) >= nodes, 10, interval=0.0005, what="every route back")
        flap.append(time.perf_counter() - start)
    keeper.stop()
    kernel.close()

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:7.1f} ms  (min {min(values) * 1000:6.1f}, max {max(values) * 1000:6.1f})"

    ratio = statistics.median(ours) / statistics.median(batch)
    print(f"routes: {nodes} nodes, {rounds} rounds, pyroute2 in this interpreter: {sys.executable}")
    print(f"  ip -batch (anchor, incl. process start)   {ms(batch)}")
    print(f"  netd reconcile from empty (dump+plan+add) {ms(ours)}   ratio {ratio:.2f}x  (target <= 2x)")
    print(f"  RouteKeeper set_routes -> converged       {ms(keeper_times)}")
    print(f"  link flap: link up -> all {nodes} routes back  {ms(flap)}   (target < 2000 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.nodes, args.rounds)
        return
    if os.geteuid() != 0:
        sys.exit("bench_routes: run as root (it creates a network namespace)")
    with tempfile.TemporaryDirectory(prefix="bench-routes-") as workdir, NetnsKit(Path(workdir)) as net:
        ns = net.ns("routes")
        done = net.run(ns, sys.executable, "-m", "tests.bench.bench_routes", "--inside", "--nodes", str(args.nodes),
                       "--rounds", str(args.rounds), timeout=3600)
        print(done.stdout, end="")


if __name__ == "__main__":
    main()
