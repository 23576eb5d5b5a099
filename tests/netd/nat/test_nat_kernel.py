"""netd's NAT for real: a master namespace between a LAN worker and an "internet" namespace.

    worker (10.0.0.2) ── lan0 [master 10.0.0.1 | 203.0.113.2] up0 ── internet (203.0.113.1, HTTP)
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from foundation.errors import ApplianceError, EnvironmentProblem
from hardware.lab import plumbing
from netd.nat.nft import apply_ruleset, nft_binary, parse_set_counters
from tests.support.netns import NetnsKit
from tests.support.paths import PYTHON

pytestmark = pytest.mark.root

DRIVER = "tests.netd.nat.nat_driver"
PAGE = "hello from the internet\n"


@dataclass
class Topology:
    net: NetnsKit
    master: str
    worker: str
    internet: str

    def fetch(self, ns: str, url: str) -> subprocess.CompletedProcess[str]:
        return self.net.run(ns, "curl", "-s", "--max-time", "1", url, check=False, timeout=10)

    def uplink(self) -> None:
        """(Re-)create the uplink veth with its addresses."""
        self.net.veth(self.master, "up0", self.internet, "inet0")
        self.net.ip(self.master, "addr", "add", "203.0.113.2/24", "dev", "up0")
        self.net.ip(self.internet, "addr", "add", "203.0.113.1/24", "dev", "inet0")

    def http_server(self, ns: str, address: str, port: int, directory: Path) -> None:
        """Serve `directory` on address:port inside `ns`; returns once it listens."""
        self.net.spawn(ns, [PYTHON, "-m", "tests.support.http_server", address, str(port), str(directory)],
                       ready=lambda: plumbing.tcp_listening(ns, port), what=f"HTTP server on {address}:{port}")


@pytest.fixture
def topo(net: NetnsKit, tmp_path: Path) -> Iterator[Topology]:
    topo = Topology(net, net.ns("master"), net.ns("worker"), net.ns("internet"))
    net.veth(topo.master, "lan0", topo.worker, "eth0")
    net.ip(topo.master, "addr", "add", "10.0.0.1/24", "dev", "lan0")
    net.ip(topo.worker, "addr", "add", "10.0.0.2/24", "dev", "eth0")
    net.ip(topo.worker, "route", "add", "default", "via", "10.0.0.1")
    topo.uplink()
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "page.txt").write_text(PAGE)
    (tmp_path / "lan").mkdir()
    (tmp_path / "lan" / "secret.txt").write_text("inside the LAN\n")
    topo.http_server(topo.internet, "203.0.113.1", 8000, tmp_path / "www")
    topo.http_server(topo.worker, "10.0.0.2", 8001, tmp_path / "lan")
    yield topo


class Nat:
    """The NAT service running in the master namespace."""

    def __init__(self, topo: Topology, backend: str = "nftables", recheck: float = 60.0) -> None:
        self.proc = topo.net.spawn(topo.master, [PYTHON, "-m", DRIVER, "lan0", "up0", backend, str(recheck)],
                                   stdin=True, stdout=True)

    def next(self) -> dict[str, object]:
        return self.proc.receive()

    def close(self) -> None:
        self.proc.close_stdin()
        self.proc.popen.wait(timeout=10)


def table(topo: Topology, family: str, name: str) -> str:
    return topo.net.run(topo.master, "nft", "list", "table", family, name, check=False).stdout


def test_worker_fetches_a_page_through_nat_and_only_through_it(topo: Topology) -> None:
    # Without netd the internet has no way back to 10.0.0.2: the fetch fails.
    assert topo.fetch(topo.worker, "http://203.0.113.1:8000/page.txt").stdout != PAGE
    nat = Nat(topo)
    assert nat.next()["applied"] == 1
    assert topo.net.run(topo.master, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    assert topo.fetch(topo.worker, "http://203.0.113.1:8000/page.txt").stdout == PAGE
    nat.close()


def test_internet_cannot_open_a_connection_into_the_lan(topo: Topology) -> None:
    topo.net.ip(topo.internet, "route", "add", "10.0.0.0/24", "via", "203.0.113.2")
    nat = Nat(topo)
    nat.next()
    assert topo.fetch(topo.internet, "http://10.0.0.2:8001/secret.txt").returncode != 0
    # Replies still come in (the LAN's own connections out work with that route present).
    assert topo.fetch(topo.worker, "http://203.0.113.1:8000/page.txt").stdout == PAGE
    # Control: it is our table that stops it - without it the forwarded connection gets through.
    nat.close()
    topo.net.run(topo.master, "nft", "delete", "table", "ip", "appliance")
    assert topo.fetch(topo.internet, "http://10.0.0.2:8001/secret.txt").stdout == "inside the LAN\n"
    # A restart puts the table back.
    nat = Nat(topo)
    nat.next()
    assert topo.fetch(topo.internet, "http://10.0.0.2:8001/secret.txt").returncode != 0
    nat.close()


def test_foreign_tables_survive_apply_and_reapply(topo: Topology) -> None:
    foreign = (
        "table inet kit_foreign {\n chain input {\n  type filter hook input priority 0; policy accept;\n"
        '  tcp dport 22 counter accept comment "admin rule"\n }\n}\n'
        "table ip nat {\n chain postrouting {\n  type nat hook postrouting priority 100; policy accept;\n }\n}\n"
    )
    topo.net.run(topo.master, "nft", "-f", "-", input=foreign)
    before = table(topo, "inet", "kit_foreign"), table(topo, "ip", "nat")
    nat = Nat(topo)
    nat.next()
    topo.net.ip(topo.master, "addr", "add", "203.0.113.3/24", "dev", "up0")  # uplink change: re-apply
    assert nat.next()["applied"] == 2
    assert (table(topo, "inet", "kit_foreign"), table(topo, "ip", "nat")) == before
    assert "admin rule" in before[0]
    assert "203.0.113.3/24" in table(topo, "ip", "appliance")
    nat.close()


def test_reapplied_after_the_uplink_is_recreated(topo: Topology) -> None:
    nat = Nat(topo)
    first = nat.next()
    topo.net.ip(topo.master, "link", "del", "up0")
    topo.uplink()
    while True:  # several notifications may each lead to an application; wait for the new index
        state = nat.next()
        if state["uplink_index"] not in (None, first["uplink_index"]) and "203.0.113.2/24" in table(topo, "ip", "appliance"):
            break
    assert f"index {state['uplink_index']} up" in table(topo, "ip", "appliance")
    assert topo.fetch(topo.worker, "http://203.0.113.1:8000/page.txt").stdout == PAGE
    nat.close()


def test_table_deleted_by_hand_comes_back_at_the_next_check(topo: Topology) -> None:
    nat = Nat(topo, recheck=0.3)
    nat.next()
    topo.net.run(topo.master, "nft", "flush", "ruleset")
    assert nat.next()["applied"] == 2
    assert "masquerade" in table(topo, "ip", "appliance")
    assert topo.fetch(topo.worker, "http://203.0.113.1:8000/page.txt").stdout == PAGE
    nat.close()


def test_userspace_backend_is_refused_clearly(topo: Topology) -> None:
    nat = Nat(topo, backend="userspace")
    assert "not implemented in this version" in str(nat.next()["error"])


def test_missing_nft_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvironmentProblem, match="apt install nftables"):
        nft_binary()


def test_a_broken_ruleset_is_stopped_by_the_check(topo: Topology) -> None:
    # apply_ruleset runs nft in this thread's namespace: switch the thread into the master's
    # (the nft processes it starts are born there).
    with plumbing.in_namespace(topo.master), pytest.raises(ApplianceError) as raised:
        apply_ruleset("table ip appliance { chain c { type filter hook nowhere priority 0; } }")
    assert type(raised.value) is ApplianceError
    assert str(raised.value).startswith("nftables check (nft -c)")
    assert table(topo, "ip", "appliance") == ""
def reachable(topo: Topology, ns: str, address: str, port: int) -> bool:
    """Whether a TCP connection from `ns` to address:port is accepted (bash's /dev/tcp, 1 s)."""
    probe = f"exec 3<>/dev/tcp/{address}/{port}"
    return topo.net.run(ns, "timeout", "1", "bash", "-c", probe, check=False).returncode == 0


def test_from_the_uplink_only_the_page_on_web_listen_addresses_answers(topo: Topology, tmp_path: Path) -> None:
    # The master listens on all addresses on the ports a master uses: the page (8080), the agent
    # API (8081), SSH (22), the Kubernetes API (6443), and DNS (53/udp, below).
    for port in (8080, 8081, 22, 6443):
        topo.http_server(topo.master, "0.0.0.0", port, tmp_path / "www")
    topo.net.ip(topo.internet, "route", "add", "10.0.0.0/24", "via", "203.0.113.2")  # a helpful home router
    # Control: without the table everything answers from the uplink side, as a new user found.
    assert all(reachable(topo, topo.internet, "10.0.0.1", port) for port in (8080, 8081, 22, 6443))
    nat = Nat(topo)  # the driver runs with the default web.listen: 10.0.0.1:8080 and uplink:8080
    nat.next()
    assert reachable(topo, topo.internet, "10.0.0.1", 8080)
    assert reachable(topo, topo.internet, "203.0.113.2", 8080)
    for address in ("10.0.0.1", "203.0.113.2"):
        for port in (8081, 22):
            assert not reachable(topo, topo.internet, address, port), (address, port)
    # The Kubernetes API answers kubectl on the uplink's own address (kubernetes.api_on_uplink, on by
    # default, for the page's laptop kubeconfig), never on the LAN address.
    assert reachable(topo, topo.internet, "203.0.113.2", 6443)
    assert not reachable(topo, topo.internet, "10.0.0.1", 6443)
    dns = topo.net.run(topo.internet, "dig", "+time=1", "+tries=1", "@10.0.0.1", "master.cluster.home",
                        check=False)
    assert "connection timed out" in dns.stdout or "no servers could be reached" in dns.stdout
    # The LAN side is not ours to filter: the worker reaches every port.
    assert all(reachable(topo, topo.worker, "10.0.0.1", port) for port in (8080, 8081, 22, 6443))
    # Ping from the uplink is answered; the master's own connections out still get their replies.
    assert topo.net.run(topo.internet, "ping", "-c1", "-W1", "203.0.113.2", check=False).returncode == 0
    assert topo.fetch(topo.master, "http://203.0.113.1:8000/page.txt").stdout == PAGE
    drop_rule = next(line for line in table(topo, "ip", "appliance").splitlines()
                     if "the master's services are for the LAN" in line)
    assert "counter packets 0 " not in drop_rule  # it was our drop that refused them
    nat.close()


def test_forwarded_traffic_is_counted_per_address(topo: Topology) -> None:
    nat = Nat(topo)
    nat.next()
    for _ in range(3):
        assert topo.fetch(topo.worker, "http://203.0.113.1:8000/page.txt").stdout == PAGE
    counts = []
    for name in ("traffic_out", "traffic_in"):
        listed = topo.net.run(topo.master, "nft", "-j", "list", "set", "ip", "appliance", name).stdout
        counts.append(parse_set_counters(listed))
    out, back = counts
    assert list(out) == [IPv4Address("10.0.0.2")] and list(back) == [IPv4Address("10.0.0.2")]
    assert out[IPv4Address("10.0.0.2")] > 3 * 60  # requests, handshakes and acks
    assert back[IPv4Address("10.0.0.2")] > 3 * len(PAGE)  # the page came back three times
    nat.close()


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"nftables": 3}', '{"nftables": [{"set": {"elem": [1, {"elem": {"val": "x"}}]}}]}',
                                  '{"nftables": [{"set": {"elem": [{"elem": {"val": "10.0.0.2", "counter": {"bytes": -1}}}]}}]}'])
def test_counter_parser_ignores_what_it_does_not_understand(text: str) -> None:
    assert parse_set_counters(text) == {}
