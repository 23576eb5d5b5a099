"""The pure codec: known layouts, RFC 3396 long options, overload, hostile input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netd.dhcp import options as opt
from netd.dhcp.wire import (
    BOOTP_MIN_SIZE,
    HEADER,
    MAGIC_COOKIE,
    MIN_PACKET,
    MalformedPacket,
    Packet,
    parse,
)
from tests.netd.dhcp.packets import client_packet, ip, mac


def raw(options: bytes, *, op: int = 1, hlen: int = 6, sname: bytes = b"", file: bytes = b"",
        cookie: bytes = MAGIC_COOKIE) -> bytes:
    head = HEADER.pack(op, 1, hlen, 0, 0x1234, 0, 0x8000, b"\0" * 4, b"\0" * 4, b"\0" * 4,
                       ip("10.0.0.254"), mac(7), sname, file)
    return head + cookie + options


def test_parse_a_handmade_discover() -> None:
    data = raw(b"\x35\x01\x01" + b"\x37\x03\x01\x03\x06" + b"\x00\x00" + b"\xff" + b"\0" * 20)
    packet = parse(data)
    assert packet.op == 1 and packet.xid == 0x1234 and packet.chaddr == mac(7)
    assert packet.broadcast and packet.giaddr == ip("10.0.0.254")
    assert packet.options == {53: b"\x01", 55: b"\x01\x03\x06"}


def test_round_trip_keeps_every_field() -> None:
    packet = client_packet(opt.REQUEST, mac(3), xid=99, ciaddr=ip("10.0.0.5"), flags=0x8000,
                           client_id=b"\x01" + mac(3), hostname=b"pi", extra={82: b"\x01\x02ab"})
    packet.sname, packet.file, packet.secs, packet.hops = b"srv", b"boot", 7, 2
    again = parse(packet.to_wire())
    assert again.sname.rstrip(b"\0") == b"srv" and again.file.rstrip(b"\0") == b"boot"
    again.sname, again.file = packet.sname, packet.file
    assert again == packet


def test_short_messages_are_padded_to_bootp_minimum() -> None:
    assert len(client_packet(opt.DISCOVER, mac(1)).to_wire()) == BOOTP_MIN_SIZE


def test_long_option_is_split_and_concatenated_rfc3396() -> None:
    value = bytes(range(256)) + bytes(200)
    packet = client_packet(opt.DISCOVER, mac(1), extra={43: value})
    wire = packet.to_wire()
    assert wire.count(b"\x2b\xff") == 1  # first chunk of 255 bytes
    assert parse(wire).options[43] == value


def test_max_size_leaves_out_options_that_do_not_fit() -> None:
    packet = client_packet(opt.DISCOVER, mac(1), extra={43: bytes(250), 60: b"x"})
    wire = packet.to_wire(max_size=MIN_PACKET + 3 + 3 + 1)
    options = parse(wire).options
    assert 53 in options and 60 in options and 43 not in options


def test_overload_reads_options_from_file_then_sname() -> None:
    file = (b"\x0c\x02ab" + b"\xff").ljust(128, b"\0")
    sname = (b"\x0c\x02cd" + b"\x3d\x03\x01\x02\x03" + b"\xff").ljust(64, b"\0")
    packet = parse(raw(b"\x35\x01\x01\x34\x01\x03\xff", sname=sname, file=file))
    assert packet.options[12] == b"abcd"  # options, then file, then sname
    assert packet.options[61] == b"\x01\x02\x03"
    assert 52 not in packet.options and packet.file == b"" and packet.sname == b""


@pytest.mark.parametrize("data, why", [
    (b"", "shorter"),
    (raw(b"\x35\x01\x01\xff")[:200], "shorter"),
    (raw(b"\x35\x01\x01\xff", cookie=b"\0\0\0\0"), "cookie"),
    (raw(b"\x35\x01\x01\xff", op=3), "op 3"),
    (raw(b"\x35\x01\x01\xff", hlen=17), "hlen 17"),
    (raw(b"\x35\x05\x01"), "past the end"),
    (raw(b"\x35"), "no length"),
    (raw(b"\x34\x01\x07\xff"), "overload"),
    (raw(b"\x34\x02\x01\x01\xff"), "overload"),
    (raw(b"\x34\x01\x01\xff", file=b"\x0c\x09abc".ljust(128, b"\0")[:128]), None),
])
def test_malformed_messages_raise_one_error(data: bytes, why: str | None) -> None:
    if why is None:  # the overloaded 'file' field itself holds a truncated option at its end
        data = raw(b"\x34\x01\x01\xff", file=b"\0" * 126 + b"\x0c\x09")
        why = "past the end"
    with pytest.raises(MalformedPacket, match=why):
        parse(data)


def test_options_may_run_to_the_end_without_end_marker() -> None:
    assert parse(raw(b"\x35\x01\x03")).options == {53: b"\x03"}


def test_typed_decoders_ignore_wrong_lengths() -> None:
    options = {53: b"\x01\x02", 50: b"\x01\x02\x03", 51: b"\x00", 57: b"\x01", 61: b"\x01"}
    assert opt.message_type(options) is None
    assert opt.address(options, 50) is None
    assert opt.u32(options, 51) is None
    assert opt.max_message_size(options) == 576 - 28
    assert opt.client_id(options) is None
    assert opt.max_message_size({57: struct.pack("!H", 1500)}) == 1472


@pytest.mark.parametrize("value, label, rejected", [
    (b"node-1", "node-1", False), (b"Pi4\0", "pi4", False), (b"a" * 63, "a" * 63, False),
    (b"a" * 64, None, True), (b"-x", None, True), (b"x-", None, True), (b"a.b", None, True),
    (b"a b", None, True), (b"\xff\xfe", None, True), (b"x\ny", None, True), (b"", None, True),
])
def test_hostname_must_be_one_dns_label(value: bytes, label: str | None, rejected: bool) -> None:
    assert opt.hostname_label({12: value}) == (label, rejected)


@given(st.binary(max_size=1500))
def test_random_bytes_only_raise_malformed(data: bytes) -> None:
    try:
        parse(data)
    except MalformedPacket:
        pass


_valid = client_packet(opt.REQUEST, mac(5), requested=ip("10.0.0.9"), server_id=ip("10.0.0.1"),
                       client_id=b"\x01" + mac(5), params=b"\x01\x03\x06\x0c\x0f",
                       hostname=b"pi").to_wire()


@given(st.lists(st.tuples(st.integers(0, len(_valid) - 1), st.integers(0, 255)), max_size=30),
       st.integers(MIN_PACKET - 4, len(_valid)))
def test_mutated_packets_only_raise_malformed(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(_valid)
    for position, value in flips:
        data[position] = value
    try:
        packet = parse(bytes(data[:cut]))
    except MalformedPacket:
        return
    # Whatever parsed must encode again and parse to the same options.
    assert parse(packet.to_wire()).options == packet.options


_option_codes = st.integers(1, 254).filter(lambda c: c != 52)


@given(st.dictionaries(_option_codes, st.binary(max_size=600), max_size=12),
       st.integers(0, 2**32 - 1), st.binary(min_size=0, max_size=16))
def test_encode_then_parse_is_identity(options: dict[int, bytes], xid: int, chaddr: bytes) -> None:
    packet = Packet(op=2, xid=xid, chaddr=chaddr, options=options)
    again = parse(packet.to_wire())
    assert again.options == options and again.xid == xid and again.chaddr == chaddr
