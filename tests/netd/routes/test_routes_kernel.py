"""The route keeper against the real kernel, in a namespace: tagged routes, foreign routes, self-healing.

Each test runs under both pyroute2 versions the product meets: the venv's
(master) and Debian bookworm's python3-pyroute2 0.7 (node agent).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.netns import NetnsKit, Process
from tests.support.paths import PYTHON, debian_python
from tests.support.wait import wait_for

pytestmark = pytest.mark.root

DRIVER = "tests.netd.routes.keeper_driver"
WANTED = [("10.244.1.0/24", "10.0.0.11"), ("10.244.2.0/24", "10.0.0.12"), ("10.244.3.0/24", "10.0.0.13")]


@pytest.fixture(params=["venv", "debian"])
def python(request: pytest.FixtureRequest) -> str:
    """The venv's Python (master) and Debian's python3 with pyroute2 0.7 (node agent)."""
    return PYTHON if request.param == "venv" else debian_python()


def start_keeper(net: NetnsKit, ns: str, python: str, address: str = "-", resync: float = 30.0) -> Process:
    """The keeper driver in `ns`, keeping routes via lan0 (and `address` on it unless "-")."""
    proc = net.spawn(ns, [python, "-m", DRIVER, "lan0", address, str(resync)], stdin=True, stdout=True)
    assert proc.receive()["ready"]
    return proc


def converge(proc: Process, routes: list[tuple[str, str]], timeout: float | None = None) -> bool:
    """Set the wanted routes; whether the keeper converged (within `timeout`, default 5 s)."""
    proc.send({"set": routes, **({"timeout": timeout} if timeout is not None else {})})
    return bool(proc.receive()["converged"])


class Keeper:
    """A keeper process in a namespace with one LAN veth (lan0, peer peer0 in another namespace)."""

    def __init__(self, net: NetnsKit, python: str, address: str = "10.0.0.1/24", resync: float = 30.0) -> None:
        self.net = net
        self.ns = net.ns("keeper")
        self.peer = net.ns("peer")
        net.veth(self.ns, "lan0", self.peer, "peer0")
        net.ip(self.ns, "addr", "add", "10.0.0.1/24", "dev", "lan0")
        self.proc = start_keeper(net, self.ns, python, address, resync)

    def set(self, routes: list[tuple[str, str]]) -> bool:
        return converge(self.proc, routes)

    def ours(self) -> dict[str, str]:
        return self.net.routes(self.ns)

    def lan_addresses(self) -> list[str]:
        return self.net.addresses(self.ns, "lan0")

    def status(self) -> dict[str, object]:
        """Reconciles so far, failed ones in a row, seconds until the schedule's next one."""
        self.proc.send({"status": True})
        return self.proc.receive()

    def failing(self, at_least: int) -> dict[str, object] | None:
        """The status once `at_least` reconciles in a row have failed, else None."""
        status = self.status()
        failures = status["failures"]
        assert isinstance(failures, int)
        return status if failures >= at_least else None


def test_reconcile_from_empty_programs_tagged_routes(net: NetnsKit, python: str) -> None:
    keeper = Keeper(net, python)
    assert keeper.set(WANTED)
    assert keeper.ours() == {dst: gw for dst, gw in WANTED}
    detail = json.loads(net.ip(keeper.ns, "-j", "-d", "route", "show", "10.244.2.0/24").stdout)
    assert detail[0]["dev"] == "lan0" and detail[0]["protocol"] in ("171", 171)


def test_foreign_routes_untouched_and_stale_routes_of_ours_deleted(net: NetnsKit, python: str) -> None:
    ns = net.ns("keeper")
    peer = net.ns("peer")
    net.veth(ns, "lan0", peer, "peer0")
    net.ip(ns, "addr", "add", "10.0.0.1/24", "dev", "lan0")
    net.ip(ns, "route", "add", "10.244.50.0/24", "via", "10.0.0.50", "proto", "static")
    net.ip(ns, "route", "add", "10.244.2.0/24", "via", "10.0.0.99", "metric", "50", "proto", "boot")
    net.ip(ns, "route", "add", "10.244.7.0/24", "via", "10.0.0.77", "proto", "171")  # a forgotten node
    net.ip(ns, "route", "add", "10.244.1.0/24", "via", "10.0.0.66", "proto", "171")  # moved node
    proc = start_keeper(net, ns, python)
    assert converge(proc, WANTED[:2])
    assert net.routes(ns) == {"10.244.1.0/24": "10.0.0.11", "10.244.2.0/24": "10.0.0.12"}
    assert net.routes(ns, "static") == {"10.244.50.0/24": "10.0.0.50"}
    assert net.routes(ns, "boot") == {"10.244.2.0/24": "10.0.0.99"}
    assert converge(proc, [])
    assert net.routes(ns) == {}
    assert net.routes(ns, "static") == {"10.244.50.0/24": "10.0.0.50"}


def test_route_deleted_by_hand_is_back_within_100ms(net: NetnsKit, python: str) -> None:
    keeper = Keeper(net, python)
    assert keeper.set(WANTED)
    worst = 0.0
    for _ in range(5):
        net.ip(keeper.ns, "route", "del", "10.244.2.0/24")
        start = time.monotonic()
        wait_for(lambda: "10.244.2.0/24" in keeper.ours(), timeout=2, interval=0.002, what="the route back")
        worst = max(worst, time.monotonic() - start)
    # The measurement includes an `ip` process start per poll (a few ms): the keeper itself is faster.
    assert worst < 0.1, f"slowest restore took {worst * 1000:.1f} ms"


def test_link_flap_brings_routes_back_within_2s(net: NetnsKit, python: str) -> None:
    keeper = Keeper(net, python)
    assert keeper.set(WANTED)
    net.ip(keeper.ns, "link", "set", "lan0", "down")
    wait_for(lambda: not keeper.ours(), timeout=2, what="routes gone with the link")  # the kernel drops them
    # The keeper retries meanwhile (and must not give up): wait until it has failed three times.
    wait_for(lambda: keeper.failing(3), timeout=5, what="three failed reconciles")
    net.ip(keeper.ns, "link", "set", "lan0", "up")
    start = time.monotonic()
    wait_for(lambda: keeper.ours() == dict(WANTED), timeout=2, what="routes back after the link")
    assert time.monotonic() - start < 2


def test_lan_address_restored_after_deletion_and_interface_recreation(net: NetnsKit, python: str) -> None:
    keeper = Keeper(net, python)
    assert keeper.set(WANTED)
    net.ip(keeper.ns, "addr", "flush", "dev", "lan0")
    wait_for(lambda: "10.0.0.1/24" in keeper.lan_addresses(), 2, what="the LAN address back")
    wait_for(lambda: len(keeper.ours()) == 3, timeout=2, what="the routes back")
    # Unplug the NIC (the veth goes away), then a new one of the same name appears.
    net.ip(keeper.ns, "link", "del", "lan0")
    net.veth(keeper.ns, "lan0", keeper.peer, "peer0")
    wait_for(lambda: "10.0.0.1/24" in keeper.lan_addresses(), 2, what="the address on the new NIC")
    wait_for(lambda: keeper.ours() == dict(WANTED), timeout=2, what="the routes via the new NIC")


def test_keeper_survives_interface_missing_at_start(net: NetnsKit, python: str) -> None:
    ns = net.ns("keeper")
    proc = start_keeper(net, ns, python, "10.0.0.1/24")
    peer = net.ns("peer")
    net.veth(ns, "lan0", peer, "peer0")
    assert converge(proc, WANTED)
    assert net.routes(ns) == dict(WANTED)
    assert proc.running()


def test_foreign_route_on_a_wanted_prefix_is_left_alone(net: NetnsKit, python: str) -> None:
    ns = net.ns("keeper")
    peer = net.ns("peer")
    net.veth(ns, "lan0", peer, "peer0")
    net.ip(ns, "addr", "add", "10.0.0.1/24", "dev", "lan0")
    net.ip(ns, "route", "add", "10.244.3.0/24", "via", "10.0.0.33", "proto", "static")
    proc = start_keeper(net, ns, python)
    assert converge(proc, WANTED, timeout=0.5) is False  # the conflict is reported
    assert net.routes(ns) == {"10.244.1.0/24": "10.0.0.11", "10.244.2.0/24": "10.0.0.12"}
    assert net.routes(ns, "static") == {"10.244.3.0/24": "10.0.0.33"}
    proc.stop()
    assert "a foreign route holds it" in proc.output()


def test_watcher_reports_enobufs_as_overflow_and_keeps_going(net: NetnsKit) -> None:
    ns = net.ns("overflow")
    proc = net.spawn(ns, [PYTHON, "-m", "tests.netd.routes.overflow_driver"], stdout=True)
    assert proc.receive() == {"overflow": True, "route_events_after": True}, proc.output()


def test_periodic_resync_repairs_a_silently_changed_route(net: NetnsKit, python: str) -> None:
    keeper = Keeper(net, python, resync=0.5)
    assert keeper.set(WANTED)
    # Replacing keeps the prefix (no RTM_DELROUTE): only the periodic resync can notice.
    net.ip(keeper.ns, "route", "replace", "10.244.2.0/24", "via", "10.0.0.99", "proto", "171")
    assert keeper.ours()["10.244.2.0/24"] == "10.0.0.99"
    wait_for(lambda: keeper.ours()["10.244.2.0/24"] == "10.0.0.12", timeout=2, what="the route repaired")


def test_routes_return_at_once_when_a_dhcp_client_puts_the_address_back(net: NetnsKit, python: str) -> None:
    # The agent keeps no address: a DHCP client owns it. dhcpcd removes it on carrier loss and
    # adds it back after the cable returns; by then the keeper's retry backoff has grown
    # (0.1, 0.2, 0.4, 0.8, 1.6 s …), so only reacting to the address coming back is fast.
    keeper = Keeper(net, python, address="-")
    assert keeper.set(WANTED)
    net.ip(keeper.ns, "addr", "del", "10.0.0.1/24", "dev", "lan0")
    wait_for(lambda: not keeper.ours(), timeout=2, what="routes gone")  # their gateway is gone
    # Let the backoff grow (the schedule's policy, stepped through in test_routes_schedule):
    # once four reconciles in a row have failed, the next retry is more than a second away.
    status = wait_for(lambda: keeper.failing(4), timeout=5, what="four failed reconciles")
    next_in = status["next_in"]
    assert isinstance(next_in, float) and next_in > 0.5, status
    net.ip(keeper.ns, "addr", "add", "10.0.0.1/24", "dev", "lan0")
    start = time.monotonic()
    wait_for(lambda: keeper.ours() == dict(WANTED), timeout=3, interval=0.005, what="routes back")
    took = time.monotonic() - start
    assert took < 0.25, f"routes came back {took * 1000:.0f} ms after the address"


def test_routes_return_at_once_when_the_lans_route_follows_the_address(net: NetnsKit, python: str) -> None:
    # dhcpcd puts the address back without a prefix route (noprefixroute) and adds the route to
    # the LAN just after: the address alone does not make the gateways reachable, the route does.
    keeper = Keeper(net, python, address="-")
    assert keeper.set(WANTED)
    net.ip(keeper.ns, "addr", "del", "10.0.0.1/24", "dev", "lan0")
    wait_for(lambda: not keeper.ours(), timeout=2, what="routes gone")
    wait_for(lambda: keeper.failing(4), timeout=5, what="four failed reconciles")
    net.ip(keeper.ns, "addr", "add", "10.0.0.1/24", "dev", "lan0", "noprefixroute")
    # The keeper took the address event and tried: still unreachable, and the next retry is far.
    status = wait_for(lambda: keeper.failing(5), timeout=2, what="a fifth failed reconcile")
    next_in = status["next_in"]
    assert isinstance(next_in, float) and next_in > 0.5, status
    assert keeper.ours() == {}
    net.ip(keeper.ns, "route", "add", "10.0.0.0/24", "dev", "lan0", "proto", "dhcp", "metric", "1002")
    start = time.monotonic()
    wait_for(lambda: keeper.ours() == dict(WANTED), timeout=3, interval=0.005, what="routes back")
    took = time.monotonic() - start
    assert took < 0.25, f"routes came back {took * 1000:.0f} ms after the LAN's route"
