"""Where `upstream_dns: auto` finds the uplink's resolvers."""

from __future__ import annotations

import os
from ipaddress import IPv4Address
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from netd.dns.forwarder import UpstreamSource, default_resolv_conf, parse_resolv_conf


def test_parse_resolv_conf_keeps_ipv4_nameservers_in_order() -> None:
    text = """# written by dhcpcd for wlan0
search home.arpa
nameserver 192.0.2.53  # the home router
nameserver fe80::1
;nameserver 192.0.2.99
nameserver not-an-address
nameserver 198.51.100.7
options edns0
"""
    assert parse_resolv_conf(text) == [IPv4Address("192.0.2.53"), IPv4Address("198.51.100.7")]


@given(st.text())
def test_fuzz_parse_resolv_conf_never_raises(text: str) -> None:
    assert all(isinstance(a, IPv4Address) for a in parse_resolv_conf(text))


def test_source_skips_loopback_and_our_own_addresses_and_follows_changes(tmp_path: Path) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver 192.0.2.53\n")
    source = UpstreamSource(None, path, own_addresses=[IPv4Address("10.0.0.1")])
    assert source.current() == [IPv4Address("192.0.2.53")]
    path.write_text("nameserver 198.51.100.7\n")
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))  # a new mtime even within one clock tick
    assert source.current() == [IPv4Address("198.51.100.7")]
    path.unlink()
    assert source.current() == []


def test_fixed_upstreams_from_the_config_win(tmp_path: Path) -> None:
    source = UpstreamSource([IPv4Address("203.0.113.9")], tmp_path / "missing")
    assert source.current() == [IPv4Address("203.0.113.9")]


def test_resolv_conf_override_from_the_environment(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NETD_DNS_RESOLV_CONF", str(tmp_path / "r.conf"))
    assert default_resolv_conf() == tmp_path / "r.conf"
