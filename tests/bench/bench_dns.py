"""DNS benchmark: dnsperf over a veth against our server and dnsmasq, in the same run.

    sudo .venv/bin/python -m tests.bench.bench_dns [--seconds 10]

Namespaces (the tests' kit, tests/netd/dns/topology.py): `server` holds our DNS (10.0.0.1), a dnsmasq with
the same cluster names (10.0.0.2, --no-resolv, --host-record) and a
forwarding dnsmasq (10.0.0.4, cache 10000); `client` runs dnsperf over a
veth; `internet` runs the upstream dnsmasq both forwarders use. Servers are
pinned to CPU 0 and dnsperf to CPU 1 so both sides get the same share.

1. cluster names (A and PTR of 200 nodes): target ours >= 0.5x dnsmasq's qps, no lost queries.
2. forwarded names through the cache (500 names, warmed first): reported versus dnsmasq.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # Run by path (python tests/bench/bench_dns.py): run again as `python -m tests.bench.bench_dns`
    # from the checkout, the form that imports the tests' kit (tests.support).
    import os

    os.chdir(Path(__file__).resolve().parents[2])
    os.execv(sys.executable, [sys.executable, "-m", "tests.bench.bench_dns", *sys.argv[1:]])

from tests.netd.dns.topology import Topology
from tests.support.netns import NetnsKit
from tests.support.paths import PYTHON

NODES = 200
FORWARDED = 500


def node_address(n: int) -> str:
    return f"10.0.0.{10 + n}"


def dnsperf(topology: Topology, server: str, queries: Path, seconds: int) -> dict[str, Any]:
    command = [
        "taskset",
        "-c",
        "1",
        "dnsperf",
        "-s",
        server,
        "-d",
        str(queries),
        "-l",
        str(seconds),
        "-t",
        "2",
    ]
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
    topology.net.run(
        topology.client,
        "dnsperf",
        "-s",
        server,
        "-d",
        str(queries),
        "-n",
        "2",
        timeout=60,
    )


def setup(topology: Topology) -> None:
    m = topology.master  # "server" namespace
    for address in ("10.0.0.2/24", "10.0.0.4/24"):
        topology.net.ip(m, "addr", "add", address, "dev", "lan0")
    topology.dnsmasq(
        "upstream",
        topology.internet,
        "192.0.2.53",
        "--no-resolv",
        "--local-ttl=600",
        "--address=/example.test/203.0.113.80",
    )
    hosts = [f"--host-record=node-{n}.cluster.home,{node_address(n)}" for n in range(1, NODES + 1)]
    pin = ("taskset", "-c", "0")
    topology.start(
        "dnsmasq-auth",
        m,
        *pin,
        "dnsmasq",
        "-k",
        "--conf-file=/dev/null",
        "--pid-file=",
        "--user=root",
        "--listen-address=10.0.0.2",
        "--bind-interfaces",
        "--no-hosts",
        "--no-resolv",
        "--log-facility=/dev/null",
        "--local=/cluster.home/",
        "--local=/0.0.10.in-addr.arpa/",
        "--host-record=kubernetes.cluster.home,10.0.0.1",
        *hosts,
    )
    topology.start(
        "dnsmasq-fwd",
        m,
        *pin,
        "dnsmasq",
        "-k",
        "--conf-file=/dev/null",
        "--pid-file=",
        "--user=root",
        "--listen-address=10.0.0.4",
        "--bind-interfaces",
        "--no-hosts",
        "--no-resolv",
        "--log-facility=/dev/null",
        "--server=192.0.2.53",
        "--cache-size=10000",
    )
    nodes = [arg for n in range(1, NODES + 1) for arg in ("--node", f"node-{n}={node_address(n)}")]
    topology.start(
        "ours",
        m,
        *pin,
        PYTHON,
        "-m",
        "netd.dns",
        "--listen",
        "10.0.0.1",
        "--upstream",
        "192.0.2.53",
        *nodes,
        ready="ready",
    )
    for address in ("10.0.0.2", "10.0.0.4"):
        topology.wait_for_port(topology.client, address)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="length of each dnsperf run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dns-") as tmp:
        workdir = Path(tmp)
        cluster = workdir / "cluster.txt"
        cluster.write_text(
            "".join(
                f"node-{n}.cluster.home A\n{10 + n}.0.0.10.in-addr.arpa PTR\n"
                for n in range(1, NODES + 1)
            )
        )
        forwarded = workdir / "forwarded.txt"
        forwarded.write_text("".join(f"name-{i}.example.test A\n" for i in range(FORWARDED)))
        with NetnsKit(workdir) as net:
            topology = Topology(net, workdir)
            setup(topology)
            results = {}
            results["cluster", "ours"] = dnsperf(topology, "10.0.0.1", cluster, args.seconds)
            results["cluster", "dnsmasq"] = dnsperf(topology, "10.0.0.2", cluster, args.seconds)
            warm(topology, "10.0.0.1", forwarded)
            warm(topology, "10.0.0.4", forwarded)
            results["forwarded", "ours"] = dnsperf(topology, "10.0.0.1", forwarded, args.seconds)
            results["forwarded", "dnsmasq"] = dnsperf(topology, "10.0.0.4", forwarded, args.seconds)
    print(f"dnsperf -l {args.seconds} over a veth; servers on CPU 0, dnsperf on CPU 1")
    print(
        f"{'workload':<11}{'server':<9}{'qps':>10}{'sent':>10}{'lost':>7}{'avg ms':>8}  response codes"
    )
    for (workload, server), f in results.items():
        print(
            f"{workload:<11}{server:<9}{f['qps']:>10.0f}{f['sent']:>10.0f}{f['lost']:>7.0f}"
            f"{f['latency_ms']:>8.3f}  {f['rcodes']}"
        )
    ok = True
    for workload in ("cluster", "forwarded"):
        ours, theirs = results[workload, "ours"], results[workload, "dnsmasq"]
        ratio = ours["qps"] / theirs["qps"]
        if workload == "cluster":
            met = ratio >= 0.5 and ours["lost"] == 0
            ok = ok and met
            print(
                f"{workload}: ours/dnsmasq = {ratio:.2f}x (target >= 0.5x, no lost queries): "
                f"{'met' if met else 'NOT met'}"
            )
        else:
            print(
                f"{workload}: ours/dnsmasq = {ratio:.2f}x, lost {ours['lost']:.0f} vs {theirs['lost']:.0f}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
