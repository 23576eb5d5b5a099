"""Durability under SIGKILL (perfdhcp storm and real clients) and a crowd of real clients.

What is proven: every ACK seen on the wire before a kill -9 is honoured after the restart
(an INIT-REBOOT re-request of that address is ACKed) and no address is ever ACKed to two
clients. ACKs are captured by a sniffer on the client side, so the proof does not trust the
server's own account.
"""

from __future__ import annotations

import functools
import signal
from pathlib import Path

import pytest

from netd.dhcp.leases import BOUND
from tests.netd.dhcp.clients import Sniffer, Udhcpc, journal_records
from tests.netd.dhcp.lan import Lan, client_mac
from tests.support.netns import NetnsKit
from tests.support.paths import PYTHON
from tests.support.wait import log_size, wait_for

pytestmark = pytest.mark.root
BIG_CONFIG = """  dhcp_range: [10.0.0.10, 10.0.255.250]
  lease_time: 3600
kubernetes:
  pod_cidr: 100.64.0.0/10
  node_cidr_mask: 28
"""


@pytest.fixture
def lan(net: NetnsKit, tmp_path: Path) -> Lan:
    """A /16: room for the perfdhcp storm."""
    return Lan(net, tmp_path, prefixlen=16)


def acks(sniffer: Sniffer) -> list[tuple[str, str, str]]:
    """(chaddr, yiaddr, client-id) of every ACK the sniffer saw, in order."""
    return [(parts[4], parts[5], parts[6]) for parts in sniffer.frames()
            if parts[3] == "5" and parts[5] != "0.0.0.0"]


def acked(sniffer: Sniffer, count: int) -> bool:
    """Whether the sniffer has seen at least `count` ACKs."""
    return len(acks(sniffer)) >= count


def assert_unique(found: list[tuple[str, str, str]]) -> dict[str, tuple[str, str]]:
    """No address ACKed to two clients (leases are an hour long: nothing expires here)."""
    owner: dict[str, str] = {}
    latest: dict[str, tuple[str, str]] = {}
    for chaddr, yiaddr, cid in found:
        assert owner.setdefault(yiaddr, chaddr) == chaddr, f"{yiaddr} ACKed to {owner[yiaddr]} and {chaddr}"
        latest[chaddr] = (yiaddr, cid)
    return latest


def test_kill9_during_perfdhcp_loses_no_acked_lease(lan: Lan, tmp_path: Path) -> None:
    config = lan.write_config(BIG_CONFIG)
    lan.start_server(config)
    relay = lan.add_client(1)
    lan.ns_run(relay, "ip", "addr", "add", "10.0.0.2/16", "dev", "eth0")
    sniffer = Sniffer(lan, relay, tmp_path / "acks.txt", port=67)
    perf = lan.spawn(relay, ["perfdhcp", "-4", "-l", "eth0", "-r", "400", "-R", "1000000",
                             "-p", "9", "10.0.0.1"], tmp_path / "perfdhcp.out")
    # Kill -9 twice in the storm, each time once the server has ACKed a few hundred more leases
    # (about 1.5 s of the storm at 400/s), then restart it at once.
    for _ in range(2):
        wanted = len(acks(sniffer)) + 500
        wait_for(functools.partial(acked, sniffer, wanted), 15, what=f"{wanted} ACKs on the wire")
        assert lan.kill_server(signal.SIGKILL) == -signal.SIGKILL
        lan.start_server(config)
    perf.popen.wait(timeout=60)
    sniffer.drain()  # every ACK perfdhcp could have seen is in the file
    found = acks(sniffer)
    assert len(found) > 1000, (tmp_path / "perfdhcp.out").read_text()
    latest = assert_unique(found)
    # One more restart with a clean stop, then every ACKed lease is re-requested.
    lan.kill_server(signal.SIGKILL)
    lan.start_server(config)
    leases = tmp_path / "leases.txt"
    leases.write_text("".join(f"{c} {a} {cid}\n" for c, (a, cid) in latest.items()))
    result = lan.ns_run(relay, PYTHON, "-m", "tests.netd.dhcp.rerequest", "10.0.0.2", "10.0.0.1",
                        str(leases), timeout=120)
    answers = [line.split() for line in result.stdout.splitlines()]
    assert len(answers) == len(latest)
    bad = [a for a in answers if a[2] != "ACK" or a[3] != a[1]]
    assert not bad, f"{len(bad)} of {len(answers)} ACKed leases not honoured, e.g. {bad[:5]}"
    recovered = lan.server_output().count("DHCP leases recovered")
    assert recovered == 4


def test_kill9_between_real_clients_exchanges(lan: Lan, tmp_path: Path) -> None:
    config = lan.write_config(BIG_CONFIG)
    lan.start_server(config)
    clients: list[Udhcpc] = []
    addresses: dict[int, str] = {}
    for n in range(1, 7):
        ns = lan.add_client(n)
        client = Udhcpc(lan, ns, tmp_path)
        clients.append(client)
        addresses[n] = client.bound()
        if n % 2 == 0:  # kill -9 right after every second ACK, restart before the next client
            lan.kill_server(signal.SIGKILL)
            lan.start_server(config)
    assert len(set(addresses.values())) == 6
    lan.kill_server(signal.SIGKILL)
    lan.start_server(config)
    for n, client in enumerate(clients, start=1):
        mark = log_size(client.log)
        assert client.renew() == addresses[n]
        assert "deconfig" not in client.log.read_bytes()[mark:].decode()
    on_disk = {r.mac.hex(":"): r for r in journal_records(lan.state_dir) if r.state == BOUND}
    assert {n: on_disk[client_mac(n)].address for n in addresses} == \
        {n: int.from_bytes(bytes(map(int, a.split("."))), "big") for n, a in addresses.items()}


def test_dozens_of_clients_boot_at_once(net: NetnsKit, tmp_path: Path) -> None:
    lan = Lan(net, tmp_path)
    lan.start_server(lan.write_config("  dhcp_range: [10.0.0.10, 10.0.0.250]\n"))
    count = 36
    namespaces = [lan.add_client(n) for n in range(1, count + 1)]
    script = tmp_path / "crowd.sh"
    script.write_text("#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip $hostname\" > \"$DHCPT_OUT\"\nexit 0\n")
    script.chmod(0o755)
    started = [lan.spawn(ns, ["udhcpc", "-q", "-n", "-f", "-i", "eth0", "-O", "hostname", "-s", str(script),
                              "-t", "6", "-T", "2"], tmp_path / f"{ns}.out",
                         env={"DHCPT_OUT": str(tmp_path / f"{ns}.lease")})
               for ns in namespaces]
    codes = [p.popen.wait(timeout=60) for p in started]
    assert codes == [0] * count
    got = [(tmp_path / f"{ns}.lease").read_text().split() for ns in namespaces]
    assert len({address for address, _ in got}) == count
    assert sorted(name for _, name in got) == sorted(f"node-{n}" for n in range(1, count + 1))
    assert len([r for r in journal_records(lan.state_dir) if r.state == BOUND]) == count
