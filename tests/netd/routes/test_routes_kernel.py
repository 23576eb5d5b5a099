"""The route keeper against the real kernel, in a namespace: tagged routes, foreign routes, self-healing.

Each test runs under both pyroute2 versions the product meets: the venv's
(master) and Debian bookworm's python3-pyroute2 0.7 (node agent).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.rtt_netns import VENV_PYTHON, Netns, debian_python, stop, wait_for

pytestmark = pytest.mark.root

DRIVER = "tests.netd.routes.keeper_driver"
WANTED = [["10.244.1.0/24", "10.0.0.11"], ["10.244.2.0/24", "10.0.0.12"], ["10.244.3.0/24", "10.0.0.13"]]


def _interpreters() -> list[str]:
    found = [VENV_PYTHON]
    debian = debian_python()
    assert debian is not None, "Debian's python3 with python3-pyroute2 is needed (scripts/install)"
    found.append(debian)
    return found


@pytest.fixture(params=["venv", "debian"])
def python(request: pytest.FixtureRequest) -> str:
    venv, debian = _interpreters()
    return venv if request.param == "venv" else debian


class Keeper:
    """A keeper process in a namespace with one LAN veth (rtt-lan, peer rtt-peer in another ns)."""

    def __init__(self, net: Netns, python: str, address: str = "10.0.0.1/24", resync: float = 30.0) -> None:
        self.net = net
        self.ns = net.ns("k")
        self.peer = net.ns("p")
        net.veth(self.ns, "rtt-lan", self.peer, "rtt-peer")
        net.ip(self.ns, "addr", "add", "10.0.0.1/24", "dev", "rtt-lan")
        self.proc = net.spawn(self.ns, python, "-m", DRIVER, "rtt-lan", address, str(resync), stdin=True)
        self._expect("ready")

    def _expect(self, key: str) -> object:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"keeper died: {stop(self.proc)}")
        return json.loads(line)[key]

    def set(self, routes: list[list[str]]) -> bool:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"set": routes}) + "\n")
        self.proc.stdin.flush()
        return bool(self._expect("converged"))

    def ours(self) -> dict[str, str]:
        return self.net.routes(self.ns)


def test_reconcile_from_empty_programs_tagged_routes(net: Netns, python: str) -> None:
    keeper = Keeper(net, python)
    assert keeper.set(WANTED)
    assert keeper.ours() == {dst: gw for dst, gw in WANTED}
    detail = json.loads(net.ip(keeper.ns, "-j", "-d", "route", "show", "10.244.2.0/24").stdout)
    assert detail[0]["dev"] == "rtt-lan" and detail[0]["protocol"] in ("171", 171)


def test_foreign_routes_untouched_and_stale_routes_of_ours_deleted(net: Netns, python: str) -> None:
    ns = net.ns("k")
    peer = net.ns("p")
    net.veth(ns, "rtt-lan", peer, "rtt-peer")
    net.ip(ns, "addr", "add", "10.0.0.1/24", "dev", "rtt-lan")
    net.ip(ns, "route", "add", "10.244.50.0/24", "via", "10.0.0.50", "proto", "static")
    net.ip(ns, "route", "add", "10.244.2.0/24", "via", "10.0.0.99", "metric", "50", "proto", "boot")
    net.ip(ns, "route", "add", "10.244.7.0/24", "via", "10.0.0.77", "proto", "171")  # a forgotten node
    net.ip(ns, "route", "add", "10.244.1.0/24", "via", "10.0.0.66", "proto", "171")  # moved node
    proc = net.spawn(ns, python, "-m", DRIVER, "rtt-lan", "-", stdin=True)
    assert proc.stdout is not None and proc.stdin is not None
    assert json.loads(proc.stdout.readline())["ready"]
    proc.stdin.write(json.dumps({"set": WANTED[:2]}) + "\n")
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["converged"]
    assert net.routes(ns) == {"10.244.1.0/24": "10.0.0.11", "10.244.2.0/24": "10.0.0.12"}
    assert net.routes(ns, "static") == {"10.244.50.0/24": "10.0.0.50"}
    assert net.routes(ns, "boot") == {"10.244.2.0/24": "10.0.0.99"}
    proc.stdin.write(json.dumps({"set": []}) + "\n")
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["converged"]
    assert net.routes(ns) == {}
    assert net.routes(ns, "static") == {"10.244.50.0/24": "10.0.0.50"}


def test_route_deleted_by_hand_is_back_within_100ms(net: Netns, python: str) -> None:
    keeper = Keeper(net, python)
    assert keeper.set(WANTED)
    worst = 0.0
    for _ in range(5):
        net.ip(keeper.ns, "route", "del", "10.244.2.0/24")
        start = time.monotonic()
        wait_for(lambda: "10.244.2.0/24" in keeper.ours(), timeout=2, interval=0.002)
        worst = max(worst, time.monotonic() - start)
    # The measurement includes an `ip` process start per poll (a few ms): the keeper itself is faster.
    assert worst < 0.1, f"slowest restore took {worst * 1000:.1f} ms"


def test_link_flap_brings_routes_back_within_2s(net: Netns, python: str) -> None:
    keeper = Keeper(net, python)
    assert keeper.set(WANTED)
    net.ip(keeper.ns, "link", "set", "rtt-lan", "down")
    wait_for(lambda: not keeper.ours(), timeout=2)  # the kernel drops them with the link
    time.sleep(0.3)  # the keeper retries meanwhile and must not give up
    net.ip(keeper.ns, "link", "set", "rtt-lan", "up")
    took = wait_for(lambda: keeper.ours() == {d: g for d, g in WANTED}, timeout=2)
    assert took < 2


def test_lan_address_restored_after_deletion_and_interface_recreation(net: Netns, python: str) -> None:
    keeper = Keeper(net, python)
    assert keeper.set(WANTED)
    net.ip(keeper.ns, "addr", "flush", "dev", "rtt-lan")
    wait_for(lambda: "10.0.0.1/24" in net.ip(keeper.ns, "-4", "-o", "addr", "show", "dev", "rtt-lan").stdout, 2)
    wait_for(lambda: len(keeper.ours()) == 3, timeout=2)
    # Unplug the NIC (the veth goes away), then a new one of the same name appears.
    net.ip(keeper.ns, "link", "del", "rtt-lan")
    net.veth(keeper.ns, "rtt-lan", keeper.peer, "rtt-peer")
    wait_for(lambda: "10.0.0.1/24" in net.ip(keeper.ns, "-4", "-o", "addr", "show", "dev", "rtt-lan").stdout, 2)
    wait_for(lambda: keeper.ours() == {d: g for d, g in WANTED}, timeout=2)


def test_keeper_survives_interface_missing_at_start(net: Netns, python: str) -> None:
    ns = net.ns("k")
    proc = net.spawn(ns, python, "-m", DRIVER, "rtt-lan", "10.0.0.1/24", stdin=True)
    assert proc.stdout is not None and proc.stdin is not None
    assert json.loads(proc.stdout.readline())["ready"]
    peer = net.ns("p")
    net.veth(ns, "rtt-lan", peer, "rtt-peer")
    proc.stdin.write(json.dumps({"set": WANTED}) + "\n")
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["converged"]
    assert net.routes(ns) == {d: g for d, g in WANTED}
    assert proc.poll() is None


def test_foreign_route_on_a_wanted_prefix_is_left_alone(net: Netns, python: str) -> None:
    ns = net.ns("k")
    peer = net.ns("p")
    net.veth(ns, "rtt-lan", peer, "rtt-peer")
    net.ip(ns, "addr", "add", "10.0.0.1/24", "dev", "rtt-lan")
    net.ip(ns, "route", "add", "10.244.3.0/24", "via", "10.0.0.33", "proto", "static")
    proc = net.spawn(ns, python, "-m", DRIVER, "rtt-lan", "-", stdin=True)
    assert proc.stdout is not None and proc.stdin is not None
    assert json.loads(proc.stdout.readline())["ready"]
    proc.stdin.write(json.dumps({"set": WANTED, "timeout": 0.5}) + "\n")
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["converged"] is False  # the conflict is reported
    assert net.routes(ns) == {"10.244.1.0/24": "10.0.0.11", "10.244.2.0/24": "10.0.0.12"}
    assert net.routes(ns, "static") == {"10.244.3.0/24": "10.0.0.33"}
    assert "a foreign route holds it" in stop(proc)


def test_watcher_reports_enobufs_as_overflow_and_keeps_going(net: Netns) -> None:
    ns = net.ns("o")
    proc = net.spawn(ns, VENV_PYTHON, "-m", "tests.netd.routes.overflow_driver")
    out, err = proc.communicate(timeout=30)
    assert json.loads(out) == {"overflow": True, "route_events_after": True}, err


def test_periodic_resync_repairs_a_silently_changed_route(net: Netns, python: str) -> None:
    keeper = Keeper(net, python, resync=0.5)
    assert keeper.set(WANTED)
    # Replacing keeps the prefix (no RTM_DELROUTE): only the periodic resync can notice.
    net.ip(keeper.ns, "route", "replace", "10.244.2.0/24", "via", "10.0.0.99", "proto", "171")
    assert keeper.ours()["10.244.2.0/24"] == "10.0.0.99"
    wait_for(lambda: keeper.ours()["10.244.2.0/24"] == "10.0.0.12", timeout=2)


def test_routes_return_at_once_when_a_dhcp_client_puts_the_address_back(net: Netns, python: str) -> None:
    # The agent keeps no address: a DHCP client owns it. dhcpcd removes it on carrier loss and
    # adds it back after the cable returns; by then the keeper's retry backoff has grown
    # (0.1, 0.2, 0.4, 0.8, 1.6 s …), so only reacting to the address coming back is fast.
    keeper = Keeper(net, python, address="-")
    assert keeper.set(WANTED)
    net.ip(keeper.ns, "addr", "del", "10.0.0.1/24", "dev", "rtt-lan")
    wait_for(lambda: not keeper.ours(), timeout=2)  # the kernel drops routes whose gateway is gone
    time.sleep(1.6)  # failed retries at about 0.1, 0.3, 0.7, 1.5 s; the next one would be at 3.1 s
    net.ip(keeper.ns, "addr", "add", "10.0.0.1/24", "dev", "rtt-lan")
    took = wait_for(lambda: keeper.ours() == {d: g for d, g in WANTED}, timeout=3, interval=0.005)
    assert took < 0.25, f"routes came back {took * 1000:.0f} ms after the address"
