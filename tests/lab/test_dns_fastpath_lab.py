"""DNS in the lab with the fast path on and off: dig from a board gets identical answers.

The master's daemon (`appliance netd run`, fast path on) answers on port 53;
next to it in the master's namespace run two more DNS servers with the same
names (the registry's nodes) and the same upstream (the lab internet's
dnsmasq): one with the fast path (port 5301), one without (5302, every
query through the Python handler, the reference). A board asks all three
the same questions with dig (cluster names in any letter case, reverse,
NXDOMAIN, forwarded names, EDNS or not, DO, CD, no recursion, other types),
twice, so the second round is answered from the templates and the cache,
in C where the fast path is on. The answers must be the same, except that
the TTL of a forwarded answer may be one second apart (each server stored
it at its own moment) and the daemon's SOA serial is its own (its zone
followed the registry's events). The fast instance must have answered in C.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.lab import topology as t
from tests.lab.netd_lab_support import board_of, registry_nodes
from tests.support.lab import LabHandle, LabManager
from tests.support.paths import REPO

pytestmark = [pytest.mark.lab, pytest.mark.root]

DOMAIN = "cluster.home"
PORTS = {"daemon": 53, "fast": 5301, "python": 5302}
QUESTIONS = [
    ["node-1.cluster.home"], ["NODE-3.Cluster.HOME"], ["node-3.cluster.home", "+dnssec"],
    ["node-1.cluster.home", "AAAA"], ["node-1.cluster.home", "ANY"], ["master.cluster.home", "+noedns"],
    ["kubernetes.cluster.home", "+norecurse"], ["pilab.cluster.home", "+cd"], ["cluster.home", "SOA"],
    ["cluster.home", "NS"], ["no-such-node.cluster.home"], ["-x", "NODE3"],
    ["www.example.com"], ["WWW.Example.COM", "+dnssec"], ["example.com", "+noedns"],
    ["mirror.example.net", "+bufsize=4096"], ["dns.example.net", "TXT"], ["nxdomain.example.com"],
]


def _normalize(text: str) -> str:
    """dig's output without what differs between exchanges: its command line (the port),
    the ID, the query time, the server."""
    text = re.sub(r"id: \d+", "id: X", text)
    return "\n".join(line for line in text.splitlines() if not line.startswith(
        ("; <<>> DiG", ";; Query time", ";; SERVER", ";; WHEN", ";; MSG SIZE")))


def _no_serial(text: str) -> str:
    """The SOA records' serial numbers replaced by S."""
    return re.sub(r"(\tSOA\t\S+ \S+ )\d+", r"\1S", text)


def _ttl_apart(a: str, b: str) -> bool:
    """True if a and b differ only in TTL fields, by at most one second each."""
    la, lb = a.splitlines(), b.splitlines()
    if len(la) != len(lb):
        return False
    for x, y in zip(la, lb, strict=True):
        fx, fy = x.split(), y.split()
        if x == y:
            continue
        if len(fx) < 5 or len(fx) != len(fy) or fx[:1] + fx[2:] != fy[:1] + fy[2:]:
            return False
        if not (fx[1].isdigit() and fy[1].isdigit() and abs(int(fx[1]) - int(fy[1])) <= 1):
            return False
    return True


def _dig(lab: LabHandle, board: str, server: str, port: int, question: list[str]) -> str:
    if question[:1] == ["-x"]:
        question = ["-x", lab.address(board) or ""] if question[1] == "NODE3" else question
    result = lab.run(board, ["dig", "+time=2", "+tries=1", "-p", str(port), f"@{server}", *question],
                     check=False, timeout=15)
    assert "status:" in result.stdout, f"no answer from port {port} to {question}: {result.stdout}"
    return _normalize(result.stdout)


@pytest.fixture(scope="module")
def extra_servers(lab_manager: LabManager) -> Iterator[tuple[LabHandle, str, Path]]:
    """The lab, a board named node-3 asks from, and two more DNS servers in the master."""
    lab = lab_manager.ensure_up()
    board = lab.wait_for(lambda: board_of(lab, "node-3"), timeout=30, what="node-3 in the registry")
    master = str(lab.plan.master_address.ip)
    nodes = [arg for name, row in sorted(registry_nodes(lab).items()) if row.address
             for arg in ("--node", f"{name}={row.address}")]
    work = Path(tempfile.mkdtemp(prefix="nt-dnslab-"))
    processes = []
    try:
        for name, extra in (("fast", []), ("python", ["--no-fast-path"])):
            command = [sys.executable, "-m", "netd.dns", "--listen", master, "--port", str(PORTS[name]),
                       "--cluster-name", "pilab", "--domain", DOMAIN, "--subnet", str(lab.plan.subnet),
                       "--master-address", master, "--upstream", str(t.INTERNET_DNS),
                       "--stats-file", str(work / f"{name}.json"), *nodes, *extra]
            process = subprocess.Popen(lab.argv("master", command), stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, cwd=REPO)
            processes.append(process)
            (work / f"{name}.pid").write_text(str(process.pid))
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready", f"the {name} DNS server did not start"
        yield lab, board, work
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        for path in work.iterdir():
            path.unlink()
        work.rmdir()


def test_a_board_gets_the_same_answers_with_the_fast_path_on_and_off(
    extra_servers: tuple[LabHandle, str, Path],
) -> None:
    lab, board, work = extra_servers
    master = str(lab.plan.master_address.ip)
    for round_number in (1, 2):
        for question in QUESTIONS:
            answers = {name: _dig(lab, board, master, port, question) for name, port in PORTS.items()}
            reference = answers["python"]
            forwarded = DOMAIN not in " ".join(question).lower() and question[0] != "-x"
            # The daemon's zone followed the registry's events, so its SOA serial is its own.
            answers["daemon"], python_serial = _no_serial(answers["daemon"]), _no_serial(reference)
            for name in ("fast", "daemon"):
                expected = python_serial if name == "daemon" else reference
                same = answers[name] == expected or (forwarded and _ttl_apart(answers[name], expected))
                assert same, f"round {round_number}, {question}, {name}:\n{answers[name]}\n--- python:\n{reference}"
    # The fast instance answered the second round in C (its counters say so; `ip netns exec`
    # and `env` exec in place, so the Popen's pid is the server's).
    stats_file = work / "fast.json"
    fast_pid = int((work / "fast.pid").read_text())
    subprocess.run(["kill", "-USR1", str(fast_pid)], check=True)
    lab.wait_for(lambda: stats_file.exists() and stats_file.read_text(), timeout=10,
                 what="the fast server's counters")
    stats = json.loads(stats_file.read_text())
    assert stats["fast_path"]["answered"] >= len(QUESTIONS) // 2
    assert stats["server"]["internal_errors"] == 0
