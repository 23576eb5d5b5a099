"""The pure nft renderer, its text checked by the real `nft -c` in a namespace."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foundation.errors import ConfigError
from netd.nat.render import UplinkState, WebListen, parse_web_listen, render_ruleset, web_targets
from tests.support.netns import NetnsKit

UPLINK = UplinkState("wlan0", 3, True, (IPv4Interface("192.0.2.5/24"),))


def render(**overrides: object) -> str:
    args: dict[str, object] = {
        "lan_interface": "eth0",
        "uplink": UPLINK,
        "lan_subnet": IPv4Network("10.0.0.0/24"),
        "pod_cidr": IPv4Network("10.244.0.0/16"),
    }
    args.update(overrides)
    return render_ruleset(**args)  # type: ignore[arg-type]


def test_ruleset_is_one_atomic_replacement_of_our_table_only() -> None:
    text = render()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[:3] == ["add table ip appliance", "delete table ip appliance", "table ip appliance {"]
    assert sum(1 for line in lines if "table" in line.split()[:2]) == 3  # no other table named
    assert 'oifname "wlan0" ip saddr { 10.0.0.0/24, 10.244.0.0/16 } masquerade' in text
    assert 'iifname "wlan0" ct state established,related update @traffic_in { ip daddr } accept' in text
    assert 'iifname "wlan0" counter drop' in text
    assert 'iifname "eth0" oifname "wlan0" update @traffic_out { ip saddr } accept' in text
    # The drop for new connections from the uplink comes after the reply accept.
    assert text.index("established,related update") < text.index("counter drop")


def input_rules(text: str) -> list[str]:
    chain = text[text.index("chain input {"):]
    return [line.strip() for line in chain[: chain.index("}")].splitlines()[2:] if line.strip()]


def test_input_from_the_uplink_admits_only_replies_dhcp_ping_and_the_page_where_web_listen_says() -> None:
    text = render(web=parse_web_listen(("10.0.0.1:8080", "uplink:8443")))
    assert input_rules(text) == [
        'iifname "wlan0" ct state established,related accept',
        'iifname "wlan0" udp sport 67 udp dport 68 accept comment "DHCP replies to the uplink\'s client"',
        'iifname "wlan0" icmp type echo-request accept',
        'iifname "wlan0" ip daddr 10.0.0.1 tcp dport 8080 accept comment "web.listen"',
        'iifname "wlan0" ip daddr 192.0.2.5 tcp dport 8443 accept comment "web.listen"',
        'iifname "wlan0" counter drop comment "the master\'s services are for the LAN"',
    ]
    # Only the uplink is filtered: nothing in the input chain names the LAN interface.
    assert '"eth0"' not in "\n".join(input_rules(text))


def test_the_kubernetes_api_on_the_uplink_only_when_asked_and_only_on_its_own_address() -> None:
    assert "6443" not in render()
    rules = input_rules(render(kube_api_port=6443))
    assert 'iifname "wlan0" ip daddr 192.0.2.5 tcp dport 6443 accept comment "kubernetes.api_on_uplink"' in rules
    assert rules.index('iifname "wlan0" ip daddr 192.0.2.5 tcp dport 6443 accept comment "kubernetes.api_on_uplink"') < len(rules) - 1


def test_the_page_follows_the_uplink_address_and_drops_it_while_there_is_none() -> None:
    listen = parse_web_listen(("uplink:8080",))
    assert listen == (WebListen(None, 8080),)
    moved = UplinkState("wlan0", 3, True, (IPv4Interface("198.51.100.7/24"), IPv4Interface("203.0.113.9/24")))
    assert web_targets(listen, moved) == [(IPv4Address("198.51.100.7"), 8080), (IPv4Address("203.0.113.9"), 8080)]
    bare = render(uplink=UplinkState("wlan0", 3, True, ()), web=listen)
    assert not any("web.listen" in rule for rule in input_rules(bare))
    assert input_rules(bare)[-1].endswith("counter drop comment \"the master's services are for the LAN\"")
    # No web.listen entry at all still drops everything new from the uplink.
    assert "tcp dport" not in render(web=())


def test_render_is_deterministic_and_reflects_uplink_state() -> None:
    assert render() == render()
    moved = render(uplink=UplinkState("wlan0", 9, True, (IPv4Interface("198.51.100.7/24"),)))
    assert moved != render() and "index 9" in moved and "198.51.100.7/24" in moved
    absent = render(uplink=UplinkState("wlan0", None, False, ()))
    assert "absent down addresses none" in absent


def test_pod_network_inside_lan_subnet_is_not_listed_twice() -> None:
    text = render(lan_subnet=IPv4Network("10.0.0.0/8"), pod_cidr=IPv4Network("10.0.0.0/8"))
    assert "{ 10.0.0.0/8 }" in text


@pytest.mark.parametrize("name", ['wlan0"; flush ruleset; "', "", "a" * 16, "eth 0", "eth0\n"])
def test_hostile_interface_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="uplink_interface"):
        render(uplink=UplinkState(name, None, False, ()))
    with pytest.raises(ConfigError, match="lan_interface"):
        render(lan_interface=name)


def test_lan_and_uplink_must_differ() -> None:
    with pytest.raises(ConfigError, match="must differ"):
        render(lan_interface="wlan0")


@given(st.text(max_size=20))
def test_any_interface_name_renders_safely_or_is_refused(name: str) -> None:
    try:
        text = render(uplink=UplinkState(name, None, False, ()))
    except ConfigError:
        return
    assert f'oifname "{name}"' in text and '"' not in name and "\n" not in name and ";" not in name


@pytest.fixture(scope="module")
def nft_ns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with NetnsKit(tmp_path_factory.mktemp("net")) as net:
        yield net.ns("nft")


@pytest.mark.root
@pytest.mark.parametrize(
    ("lan", "uplink", "subnet", "pods"),
    [
        ("eth0", UPLINK, "10.0.0.0/24", "10.244.0.0/16"),
        ("enp1s0", UplinkState("wlan0", None, False, ()), "192.168.50.0/24", "10.42.0.0/16"),
        ("eth0.10", UplinkState("usb0", 5, True, (IPv4Interface("100.64.0.2/10"),)), "10.0.0.0/8", "10.0.0.0/8"),
    ],
)
def test_rendered_text_passes_nft_check(nft_ns: str, lan: str, uplink: UplinkState, subnet: str, pods: str) -> None:
    text = render(lan_interface=lan, uplink=uplink, lan_subnet=IPv4Network(subnet), pod_cidr=IPv4Network(pods))
    check = subprocess.run(
        ["ip", "netns", "exec", nft_ns, "nft", "-c", "-f", "-"], input=text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    # -c changes nothing: the namespace still has no table.
    listed = subprocess.run(["ip", "netns", "exec", nft_ns, "nft", "list", "ruleset"], capture_output=True, text=True)
    assert "appliance" not in listed.stdout
