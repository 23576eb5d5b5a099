"""DNS benchmark: dnsperf over a veth against our server (fast path on and off) and dnsmasq.

    sudo .venv/bin/python -m tests.bench.bench_dns [--seconds 10] [--outstanding 200] [--arm64]

Namespaces (the tests' kit, tests/netd/dns/topology.py): `server` holds our DNS with the fast path
(10.0.0.1: the C answer cache, recvmmsg/sendmmsg), our DNS without it
(10.0.0.5, --no-fast-path: every query through the Python handler), a
dnsmasq with the same cluster names (10.0.0.2, --no-resolv, --host-record)
and a forwarding dnsmasq (10.0.0.4, cache 10000); `client` runs dnsperf over
a veth; `internet` runs the upstream dnsmasq all forwarders use. Every
server is pinned to CPU 0 and dnsperf to CPU 1, so each server has one core
and they take turns (only one is asked at a time). With --arm64 our server
also runs from the arm64 root under qemu-user (10.0.0.6 fast, 10.0.0.7 not),
on the same core: slow, but it shows the fast path runs there.

1. cluster names (A and PTR of 200 nodes, warmed once);
2. forwarded names through the cache (500 names, warmed once).
Besides qps and lost queries, each server's CPU time per answered query
(user + system of its process; the kernel's receive work done in softirq is
not in it) and, for ours, the share answered in C. On a shared machine the
qps of a fast server can be bounded by dnsperf's own core; CPU per query
is not.
Target (issue 15): ours with the fast path >= 1.5x dnsmasq's qps on both,
with no lost queries.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # Run by path (python tests/bench/bench_dns.py): run again as `python -m tests.bench.bench_dns`
    # from the checkout, the form that imports the tests' kit (tests.support).
    os.chdir(Path(__file__).resolve().parents[2])
    os.execv(sys.executable, [sys.executable, "-m", "tests.bench.bench_dns", *sys.argv[1:]])

from tests.netd.dns.topology import Topology
from tests.support.netns import NetnsKit
from tests.support.paths import PYTHON, REPO

NODES = 200
FORWARDED = 500
PIN = ("taskset", "-c", "0")
OURS = {"ours-fast": ("10.0.0.1", []), "ours-python": ("10.0.0.5", ["--no-fast-path"])}
ARM64 = {"arm64-fast": ("10.0.0.6", []), "arm64-python": ("10.0.0.7", ["--no-fast-path"])}


def node_address(n: int) -> str:
    return f"10.0.0.{10 + n}"


def dnsperf(topology: Topology, server: str, queries: Path, seconds: int,
            outstanding: int) -> dict[str, Any]:
    command = ["taskset", "-c", "1", "dnsperf", "-s", server, "-d", str(queries), "-l", str(seconds),
               "-t", "2", "-q", str(outstanding)]
    out = topology.net.run(topology.client, *command, timeout=seconds + 30).stdout
    figures: dict[str, object] = {}
    codes = re.search(r"Response codes:\s+(.*)", out)
    figures["rcodes"] = codes.group(1).strip() if codes else "?"
    for key, pattern in (
        ("sent", r"Queries sent:\s+(\d+)"),
        ("completed", r"Queries completed:\s+(\d+)"),
        ("lost", r"Queries lost:\s+(\d+)"),
        ("qps", r"Queries per second:\s+([\d.]+)"),
        ("latency_ms", r"Average Latency \(s\):\s+([\d.]+)"),
    ):
        match = re.search(pattern, out)
        if match is None:
            raise RuntimeError(f"unexpected dnsperf output:\n{out}")
        figures[key] = float(match.group(1)) * (1000 if key == "latency_ms" else 1)
    return figures


def warm(topology: Topology, server: str, queries: Path) -> None:
    topology.net.run(topology.client, "dnsperf", "-s", server, "-d", str(queries), "-n", "2", timeout=300)


def our_arguments(address: str, extra: list[str], stats: Path) -> list[str]:
    nodes = [arg for n in range(1, NODES + 1) for arg in ("--node", f"node-{n}={node_address(n)}")]
    return ["-m", "netd.dns", "--listen", address, "--upstream", "192.0.2.53",
            "--stats-file", str(stats), *nodes, *extra]


def cpu_seconds(topology: Topology, name: str) -> float | None:
    """CPU time the server `name` has used so far (user + system; `ip netns exec` and `taskset`
    exec in place, so the process we started is the server)."""
    process = topology.processes.get(name)
    if process is None:
        return None
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answered_in_c(topology: Topology, name: str, stats: Path | None) -> int | None:
    """How many queries our server `name` has answered in C so far (its counters, by SIGUSR1)."""
    process = topology.processes.get(name)
    if process is None or stats is None:
        return None
    stats.unlink(missing_ok=True)
    process.send_signal(signal.SIGUSR1)  # `ip netns exec` and `taskset` exec in place: it is ours
    deadline = time.monotonic() + 10
    while not stats.exists() or not stats.read_text():
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)
    return int(json.loads(stats.read_text())["fast_path"].get("answered", 0))


def dnsmasq(topology: Topology, name: str, address: str, *options: str) -> None:
    topology.start(name, topology.master, *PIN, "dnsmasq", "-k", "--conf-file=/dev/null",
                   "--pid-file=", "--user=root", f"--listen-address={address}",
                   "--bind-interfaces", "--no-hosts", "--no-resolv", "--log-facility=/dev/null",
                   *options)


def setup(topology: Topology, workdir: Path) -> None:
    m = topology.master  # "server" namespace
    for address in ("10.0.0.2/24", "10.0.0.4/24", "10.0.0.5/24", "10.0.0.6/24", "10.0.0.7/24"):
        topology.net.ip(m, "addr", "add", address, "dev", "lan0")
    topology.dnsmasq("upstream", topology.internet, "192.0.2.53", "--no-resolv",
                     "--local-ttl=600", "--address=/example.test/203.0.113.80")
    hosts = [f"--host-record=node-{n}.cluster.home,{node_address(n)}" for n in range(1, NODES + 1)]
    dnsmasq(topology, "dnsmasq-auth", "10.0.0.2", "--local=/cluster.home/",
            "--local=/0.0.10.in-addr.arpa/", "--host-record=kubernetes.cluster.home,10.0.0.1", *hosts)
    dnsmasq(topology, "dnsmasq-fwd", "10.0.0.4", "--server=192.0.2.53", "--cache-size=10000")
    for name, (address, extra) in OURS.items():
        topology.start(name, m, *PIN, PYTHON, *our_arguments(address, extra, workdir / f"{name}.json"),
                       ready="ready")
    for address in ("10.0.0.2", "10.0.0.4"):
        topology.wait_for_port(topology.client, address)


@contextmanager
def arm64_servers(topology: Topology, stats: dict[str, Path]) -> Iterator[None]:
    """Our server from the arm64 root under qemu (the extension cross-built for aarch64)."""
    from tests.native import arm64_root  # only with --arm64

    root = arm64_root.ensure_root()
    arm64_root.ensure_binfmt()
    with arm64_root.overlay(root) as merged:
        src = merged / "src"
        for package in ("foundation", "netd", "native"):
            shutil.copytree(REPO / package, src / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.so", "_native.c"))
        arm64_root.build_extension(merged, src / "native")
        stats.update({name: src / f"{name}.json" for name in ARM64})  # written inside the root
        try:
            for name, (address, extra) in ARM64.items():
                topology.start(name, topology.master, *PIN, "chroot", str(merged), "/usr/bin/env", "-i",
                               "PATH=/usr/bin:/bin", "PYTHONPATH=/src", "PYTHONUNBUFFERED=1",
                               "python3", *our_arguments(address, extra, Path(f"/src/{name}.json")),
                               ready="ready")
            yield
        finally:
            for name in ARM64:
                topology.stop(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each dnsperf run")
    parser.add_argument("--outstanding", type=int, default=200,
                        help="dnsperf -q: queries in flight at most")
    parser.add_argument("--arm64", action="store_true", help="also run ours from the arm64 root")
    args = parser.parse_args()
    results: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-dns-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        cluster = workdir / "cluster.txt"
        cluster.write_text("".join(f"node-{n}.cluster.home A\n{10 + n}.0.0.10.in-addr.arpa PTR\n"
                                   for n in range(1, NODES + 1)))
        forwarded = workdir / "forwarded.txt"
        forwarded.write_text("".join(f"name-{i}.example.test A\n" for i in range(FORWARDED)))
        net = stack.enter_context(NetnsKit(workdir))
        topology = Topology(net, workdir)
        setup(topology, workdir)
        stats = {name: workdir / f"{name}.json" for name in OURS}
        servers = {name: address for name, (address, _) in OURS.items()}
        if args.arm64:
            stack.enter_context(arm64_servers(topology, stats))
            servers.update({name: address for name, (address, _) in ARM64.items()})
        servers_by_workload = {
            "cluster": {**servers, "dnsmasq": "10.0.0.2"},
            "forwarded": {**servers, "dnsmasq": "10.0.0.4"},
        }
        process_of = {"dnsmasq": {"cluster": "dnsmasq-auth", "forwarded": "dnsmasq-fwd"}}
        for workload, queries in (("cluster", cluster), ("forwarded", forwarded)):
            for address in servers_by_workload[workload].values():
                warm(topology, address, queries)
            for name, address in servers_by_workload[workload].items():
                before = answered_in_c(topology, name, stats.get(name))
                process = process_of.get(name, {}).get(workload, name)
                cpu_before = cpu_seconds(topology, process)
                results[workload, name] = dnsperf(topology, address, queries, args.seconds,
                                                  args.outstanding)
                cpu_after = cpu_seconds(topology, process)
                after = answered_in_c(topology, name, stats.get(name))
                if cpu_before is not None and cpu_after is not None:
                    results[workload, name]["cpu_us"] = (cpu_after - cpu_before) * 1e6 / max(
                        results[workload, name]["completed"], 1)
                if before is not None and after is not None:
                    results[workload, name]["in_c"] = (after - before) / max(
                        results[workload, name]["completed"], 1)
    print(f"dnsperf -l {args.seconds} -q {args.outstanding} over a veth; every server alone on "
          "CPU 0 while asked, dnsperf on CPU 1")
    print(f"{'workload':<11}{'server':<14}{'qps':>10}{'sent':>10}{'lost':>7}{'avg ms':>8}  "
          "x dnsmasq  in C  CPU us/q  response codes")
    for (workload, server), f in results.items():
        ratio = f["qps"] / results[workload, "dnsmasq"]["qps"]
        in_c = f"{100 * f['in_c']:>4.0f}%" if "in_c" in f else "    -"
        cpu = f"{f['cpu_us']:>8.1f}" if "cpu_us" in f else "       -"
        print(f"{workload:<11}{server:<14}{f['qps']:>10.0f}{f['sent']:>10.0f}{f['lost']:>7.0f}"
              f"{f['latency_ms']:>8.3f}  {ratio:>8.2f}x {in_c}  {cpu}  {f['rcodes']}")
    ok = True
    for workload in ("cluster", "forwarded"):
        ours, theirs = results[workload, "ours-fast"], results[workload, "dnsmasq"]
        ratio = ours["qps"] / theirs["qps"]
        met = ratio >= 1.5 and ours["lost"] == 0
        ok = ok and met
        print(f"{workload}: ours (fast path) / dnsmasq = {ratio:.2f}x (target >= 1.5x, no lost "
              f"queries; lost {ours['lost']:.0f}): {'met' if met else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
