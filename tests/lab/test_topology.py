"""The lab's layout (pure): names, MACs, addresses."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.lab import topology as t

PI_PREFIXES = {"b8:27:eb", "dc:a6:32", "e4:5f:01", "d8:3a:dd", "2c:cf:67"}


def test_four_boards_like_appendix_a() -> None:
    plan = t.make_plan(4, addressing="static")
    assert [n.name for n in plan.nodes] == ["pi-1", "pi-2", "pi-3", "pi-4"]
    assert [str(n.static_address) for n in plan.nodes] == [
        "10.0.0.11/24", "10.0.0.12/24", "10.0.0.13/24", "10.0.0.14/24"]
    assert str(plan.master_address) == "10.0.0.1/24"
    assert {n.dhcp_client for n in plan.nodes} == {"udhcpc", "dhcpcd", "dhclient"}


@given(st.integers(min_value=1, max_value=64))
def test_names_macs_unique_and_fit_the_kernel(count: int) -> None:
    plan = t.make_plan(count)
    macs = [n.mac for n in plan.nodes] + [plan.master_mac, plan.master_wlan_mac]
    assert len(set(macs)) == len(macs)
    assert all(mac[:8] in PI_PREFIXES for mac in macs)
    assert all(int(mac[:2], 16) & 1 == 0 for mac in macs)  # unicast
    for name in plan.namespaces + tuple(n.switch_port for n in plan.nodes):
        assert name.startswith(t.PREFIX)
        assert len(name) <= 15  # IFNAMSIZ - 1
    addresses = [n.static_address.ip for n in plan.nodes]
    assert len(set(addresses)) == count
    assert all(a in plan.subnet and a != plan.master_address.ip for a in addresses)


def test_macs_are_stable_across_runs() -> None:
    assert t.make_plan(3).nodes[2].mac == t.pi_mac("pi-3", 3)
    assert t.make_plan(3).nodes[2].mac == t.make_plan(8).nodes[2].mac


def test_other_subnet_from_config() -> None:
    plan = t.make_plan(2, subnet=IPv4Network("172.16.5.0/24"), master_address=IPv4Address("172.16.5.1"))
    assert str(plan.nodes[0].static_address) == "172.16.5.11/24"


@pytest.mark.parametrize("count", [0, -1, 65])
def test_bad_node_count(count: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 64"):
        t.make_plan(count)


def test_bad_addressing_and_small_subnet() -> None:
    with pytest.raises(ValueError, match="addressing"):
        t.make_plan(2, addressing="bootp")
    with pytest.raises(ValueError, match="too small"):
        t.make_plan(8, subnet=IPv4Network("10.0.0.0/28"))


def test_lab_uses_documentation_ranges_outside() -> None:
    for network in (t.HOME_SUBNET, t.WAN_HOME.network):
        assert network.subnet_of(IPv4Network("192.0.2.0/24")) or network.subnet_of(
            IPv4Network("198.51.100.0/24")) or network.subnet_of(IPv4Network("203.0.113.0/24"))
    assert t.INTERNET_DNS in t.WAN_INTERNET.network and t.INTERNET_HTTP in t.WAN_INTERNET.network
