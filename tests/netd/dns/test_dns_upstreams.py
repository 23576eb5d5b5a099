"""Where `upstream_dns: auto` finds the uplink's resolvers."""

from __future__ import annotations

import os
from ipaddress import IPv4Address
from pathlib import Path

from dnslib import RR, DNSHeader, DNSLabel, DNSQuestion, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from netd.dns.forwarder import (
    UpstreamSource,
    default_resolv_conf,
    parse_resolv_conf,
    parse_upstream_answer,
)
from netd.dns.handler import Forward
from tests.netd.dns.queries import make_handler, query


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


REQUEST = DNSRecord(
    DNSHeader(id=77, rd=1), q=DNSQuestion(DNSLabel((b"www", b"example", b"test")), 1, 1)
)
GOOD = REQUEST.reply()
GOOD.add_answer(
    *RR.fromZone('www.example.test. 300 IN A 203.0.113.80\nwww.example.test. 300 IN TXT "hi"')
)
GOOD.add_auth(*RR.fromZone("example.test. 300 IN SOA ns.example.test. a.example.test. 1 2 3 4 5"))
GOOD_WIRE = bytes(GOOD.pack())


def test_upstream_answer_must_match_id_and_question() -> None:
    assert parse_upstream_answer(GOOD_WIRE, REQUEST) is not None
    other_id = bytearray(GOOD_WIRE)
    other_id[1] ^= 1
    assert parse_upstream_answer(bytes(other_id), REQUEST) is None
    other_name = GOOD_WIRE.replace(b"\x03www", b"\x03wwx", 1)
    assert parse_upstream_answer(other_name, REQUEST) is None
    shouted = GOOD_WIRE.replace(b"\x03www", b"\x03WWW", 1)  # upstreams may change the case (0x20)
    assert parse_upstream_answer(shouted, REQUEST) is not None
    assert parse_upstream_answer(bytes(REQUEST.pack()), REQUEST) is None  # a query, not an answer


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(GOOD_WIRE) - 1), st.integers(0, 255)), max_size=5),
    st.binary(max_size=8),
)
def test_fuzz_hostile_upstream_answers_end_in_a_reply(
    flips: list[tuple[int, int]], tail: bytes
) -> None:
    """Whatever an upstream sends, parsing never raises and the client gets a proper reply."""
    raw = bytearray(GOOD_WIRE)
    for position, value in flips:
        raw[position] = value
    answer = parse_upstream_answer(bytes(raw) + tail, REQUEST)
    if answer is None:
        return
    handler = make_handler()
    command = handler.handle(query("www.example.test", qid=9), 0.0, udp=True)
    assert isinstance(command, Forward)
    reply = DNSRecord.parse(handler.complete(command, answer, 0.0, udp=True))
    assert (reply.header.id, reply.header.qr) == (9, 1)


@given(st.binary(max_size=600))
def test_fuzz_random_upstream_bytes_never_raise(raw: bytes) -> None:
    assert parse_upstream_answer(raw, REQUEST) is None or raw[:2] == b"\x00\x4d"
