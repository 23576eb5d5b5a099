"""netd's NAT for real: a master namespace between a LAN worker and an "internet" namespace.

    worker (10.0.0.2) ── lan0 [master 10.0.0.1 | 203.0.113.2] up0 ── internet (203.0.113.1, HTTP)
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from foundation.errors import ApplianceError, EnvironmentProblem
from hardware.lab import plumbing
from netd.nat.nft import apply_ruleset, nft_binary
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
