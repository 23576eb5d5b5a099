"""busybox udhcpc against the real `appliance netd run --only dhcp`, in namespaces."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from netd.dhcp.leases import BOUND, RELEASED
from netd.dhcp.model import DECLINED
from tests.netd.dhcp.clients import Sniffer, Udhcpc, journal_records, run_udhcpc_once
from tests.netd.dhcp.lan import SERVER_MAC, Lan, client_mac
from tests.support.wait import wait_for

pytestmark = pytest.mark.root
CONFIG = """  dhcp_range: [10.0.0.10, 10.0.0.200]
  lease_time: 20
nodes:
  - name: fixed-pi
    mac: "02:aa:00:00:00:51"
    address: 10.0.0.5
  - name: cid-pi
    client_id: "ff:00:00:00:07:aa:bb"
"""



@pytest.mark.parametrize("broadcast", [False, True], ids=["unicast", "B"])
@pytest.mark.parametrize("no_client_id", [False, True], ids=["cid", "C"])
def test_udhcpc_obtain_renew_release_reacquire(lan: Lan, tmp_path: Path, broadcast: bool,
                                               no_client_id: bool) -> None:
    lan.start_server(lan.write_config(CONFIG))
    ns = lan.add_client(1)
    sniffer = Sniffer(lan, ns, tmp_path / "frames.txt")
    flags = (["-B"] if broadcast else []) + (["-C"] if no_client_id else []) + ["-x", "hostname:MyPi"]
    client = Udhcpc(lan, ns, tmp_path, *flags)
    address = client.bound()
    assert address == "10.0.0.10"
    # The ACK left only after the lease was on disk.
    records = [r for r in journal_records(lan.state_dir) if r.address == 0x0A00000A]
    assert records[-1].state == BOUND and records[-1].mac.hex(":") == client_mac(1)
    assert records[-1].hostname == "mypi" and records[-1].name == "node-1"
    assert (records[-1].client_id is None) == no_client_id
    # OFFER/ACK went to the client's MAC unless it asked for broadcast (RFC 2131 §4.1).
    sniffer.drain()  # every frame the client saw is in the file
    replies = sniffer.frames()
    to_client = [r for r in replies if r[3] in ("2", "5") and r[4] == client_mac(1)]
    assert len(to_client) >= 2
    expected_mac = "ff:ff:ff:ff:ff:ff" if broadcast else client_mac(1)
    expected_ip = "255.255.255.255" if broadcast else "10.0.0.10"
    assert {(r[0], r[1]) for r in to_client} == {(expected_mac, expected_ip)}
    if not no_client_id:
        assert all(r[6] == "01" + client_mac(1).replace(":", "") for r in to_client)  # echoed 61
    # RENEWING: unicast REQUEST with ciaddr, same address.
    assert client.renew() == address
    # RELEASE, then re-acquire: the same address comes back.
    client.release()
    wait_for(lambda: journal_records(lan.state_dir)[-1].state == RELEASED, 10, what="the release on disk")
    client.signal(signal.SIGUSR1)
    assert client.bound(after=0) == address
    client.stop()
    # A fresh process asking for its old address (udhcpc -r) gets it (udhcpc has no INIT-REBOOT state).
    again = run_udhcpc_once(lan, ns, tmp_path, "-r", address, *(["-C"] if no_client_id else []))
    assert again.returncode == 0, again.stderr
    assert f"lease of {address} obtained" in again.stderr


def test_reservations_by_mac_and_client_id(lan: Lan, tmp_path: Path) -> None:
    lan.start_server(lan.write_config(CONFIG))
    by_mac = lan.add_client(51, mac="02:aa:00:00:00:51")
    result = run_udhcpc_once(lan, by_mac, tmp_path, "-O", "hostname")
    assert "lease of 10.0.0.5 obtained" in result.stderr, result.stderr
    events = (tmp_path / f"{by_mac}-once.events").read_text()
    assert "hostname=fixed-pi" in events
    by_cid = lan.add_client(52)
    result = run_udhcpc_once(lan, by_cid, tmp_path, "-O", "hostname", "-x", "0x3d:ff00000007aabb")
    assert "lease of 10.0.0.10 obtained" in result.stderr, result.stderr
    assert "hostname=cid-pi" in (tmp_path / f"{by_cid}-once.events").read_text()
    stranger = lan.add_client(53)
    result = run_udhcpc_once(lan, stranger, tmp_path, "-O", "hostname")
    assert "hostname=node-1" in (tmp_path / f"{stranger}-once.events").read_text()


def test_pool_exhaustion_no_offer(lan: Lan, tmp_path: Path) -> None:
    lan.start_server(lan.write_config("  dhcp_range: [10.0.0.10, 10.0.0.11]\n"))
    got = []
    for n in range(1, 3):
        result = run_udhcpc_once(lan, lan.add_client(n), tmp_path)
        assert result.returncode == 0, result.stderr
        got.append(result.stderr)
    last = run_udhcpc_once(lan, lan.add_client(3), tmp_path)
    assert last.returncode != 0 and "obtained" not in last.stderr
    assert "pool 10.0.0.0/24 exhausted" in lan.server_output()


def test_probe_finds_a_squatter_and_decline_quarantines(lan: Lan, tmp_path: Path) -> None:
    """10.0.0.10 is squatted: the server's ARP probe skips it. 10.0.0.11 is squatted by a host
    that ignores the server (nft arp filter) but not the client: udhcpc -a declines it."""
    lan.start_server(lan.write_config("  dhcp_range: [10.0.0.10, 10.0.0.20]\n"))
    squatter = lan.add_client(90)
    lan.ns_run(squatter, "ip", "addr", "add", "10.0.0.10/24", "dev", "eth0")
    hidden = lan.add_client(91)
    lan.ns_run(hidden, "ip", "addr", "add", "10.0.0.11/24", "dev", "eth0")
    server_mac = SERVER_MAC
    lan.ns_run(hidden, "nft", f"add table arp dhcpt; add chain arp dhcpt in {{ type filter hook input priority 0; }}; "
               f"add rule arp dhcpt in arp saddr ether {server_mac} drop")
    client = lan.add_client(1)
    result = run_udhcpc_once(lan, client, tmp_path, "-a", "-t", "8", timeout=60)
    assert "lease of 10.0.0.12 obtained" in result.stderr, result.stderr
    assert "10.0.0.10 answered a probe" in lan.server_output(), lan.server_output()
    assert "10.0.0.11 declined by node-1" in lan.server_output()
    declined = [r for r in journal_records(lan.state_dir) if r.state == DECLINED]
    assert [r.address for r in declined] == [0x0A00000B]
