"""The hot-path query reader: what it accepts, what it refuses, and fuzzing."""

from __future__ import annotations

import struct

import pytest
from dnslib import RR, DNSRecord
from hypothesis import given
from hypothesis import strategies as st

from netd.dns import wire
from tests.netd.dns.queries import query


def test_reads_a_plain_query_and_keeps_the_case_of_the_question() -> None:
    q = wire.scan_query(query("NoDe-3.Cluster.HOME", qid=0xBEEF))
    assert q.id == b"\xbe\xef"
    assert q.qname == b"\x06node-3\x07cluster\x04home\x00"
    assert q.question[:21] == b"\x06NoDe-3\x07Cluster\x04HOME\x00"
    assert (q.qtype, q.qclass, q.edns) == (1, 1, None)
    assert q.udp_limit() == 512


def test_reads_edns_payload_and_do_bit() -> None:
    q = wire.scan_query(query("a.example", edns=4096, do=True))
    assert q.edns == wire.Edns(payload=4096, version=0, do=True)
    assert q.udp_limit() == 4096
    small = wire.scan_query(query("a.example", edns=100))
    assert small.udp_limit() == 512  # RFC 6891: below 512 counts as 512


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x00" * 11, "shorter than a header"),
        (query("a.example")[:-1], "question cut short"),
        (query("a.example") + b"\x00", "stray bytes"),
        (b"\x12\x34\x01\x00\x00\x02" + b"\x00" * 6 + b"\x00\x00\x01\x00\x01" * 2, "2 questions"),
        (b"\x12\x34\x01\x00\x00\x01\x00\x01" + b"\x00" * 4 + b"\x00\x00\x01\x00\x01", "answer"),
        (b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\xc0\x0c\x00\x01\x00\x01", "compressed"),
        # a pointer whose second byte is 0 (to offset 0, or 256) ends on a 0 byte like the root
        # label does; found by hypothesis, it reached the zone code and raised IndexError there
        (b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\x03big\xc0\x00\x10\x00\x01", "compressed"),
        (b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\x03big\xc1\x00\x10\x00\x01", "compressed"),
        (b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\x40abc\x00\x00\x01\x00\x01", "label type"),
        (b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\x3f" + b"a" * 63 + b"\x00", "cut short"),
        (b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\x3fabc", "past the end"),
        (b"\x12\x34\x81\x00\x00\x01" + b"\x00" * 6 + b"\x00\x00\x01\x00\x01", "a response"),
    ],
)
def test_refuses_malformed_queries(data: bytes, why: str) -> None:
    with pytest.raises(wire.MalformedMessage, match=why):
        wire.scan_query(data)


def test_refuses_names_longer_than_255_bytes() -> None:
    name = (b"\x3f" + b"a" * 63) * 4 + b"\x00"  # 257 bytes
    with pytest.raises(wire.MalformedMessage, match="longer than 255"):
        wire.scan_query(b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + name + b"\x00\x01\x00\x01")


def test_two_opt_records_are_malformed() -> None:
    data = bytearray(query("a.example", edns=1232))
    opt = bytes(data[-11:])
    data[11] = 2
    with pytest.raises(wire.MalformedMessage, match="more than one OPT"):
        wire.scan_query(bytes(data) + opt)


def test_ttl_offsets_point_at_every_ttl_but_opt() -> None:
    reply = DNSRecord.parse(query("a.example", edns=1232)).reply()
    reply.add_answer(*RR.fromZone("a.example. 300 IN A 192.0.2.1\na.example. 77 IN A 192.0.2.2"))
    packed = reply.pack()
    found = wire.ttl_offsets(packed)
    assert [ttl for _, ttl in found] == [300, 77]
    assert [struct.unpack_from(">I", packed, off)[0] for off, _ in found] == [300, 77]


def test_error_reply_copies_id_opcode_rd_and_question() -> None:
    data = query("Mixed.Case.example", qid=7)
    reply = DNSRecord.parse(wire.error_reply(data, wire.RCODE_SERVFAIL, 1232))
    assert (reply.header.id, reply.header.qr, reply.header.rd, reply.header.rcode) == (7, 1, 1, 2)
    assert str(reply.q.qname) == "Mixed.Case.example."
    assert reply.ar[0].rtype == 41


@given(st.binary(max_size=600))
def test_fuzz_scan_query_raises_only_malformed(data: bytes) -> None:
    try:
        q = wire.scan_query(data)
    except wire.MalformedMessage:
        return
    assert len(q.question) >= 5
    assert q.qname == q.question[:-4].lower()


@given(st.binary(max_size=600))
def test_fuzz_ttl_offsets_raise_only_malformed(data: bytes) -> None:
    try:
        offsets = wire.ttl_offsets(data)
    except wire.MalformedMessage:
        return
    assert all(wire.HEADER_LEN <= off <= len(data) - 4 for off, _ in offsets)


@given(st.binary(min_size=12, max_size=300), st.integers(0, 4095))
def test_fuzz_error_reply_is_always_a_parseable_reply(data: bytes, rcode: int) -> None:
    reply = DNSRecord.parse(wire.error_reply(data, rcode, 1232))
    assert reply.header.id == int.from_bytes(data[:2], "big")
    assert reply.header.qr == 1
