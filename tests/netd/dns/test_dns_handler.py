"""The query handler: EDNS0, truncation, errors, and fuzzing with hostile input."""

from __future__ import annotations

from dnslib import RCODE, RR, DNSError, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from netd.dns import wire
from netd.dns.handler import Drop, Forward, QueryHandler, Reply
from tests.netd.dns.queries import make_handler, node, query

BIG_TXT = "big.example.test. 300 IN TXT " + " ".join(f'"{"x" * 200}{i}"' for i in range(4))


def cached_big_handler() -> QueryHandler:
    handler = make_handler(node("node-3", "10.0.0.3"))
    data = query("big.example.test", "TXT", edns=1232)
    command = handler.handle(data, 0.0, udp=True)
    assert isinstance(command, Forward)
    reply = DNSRecord.parse(data).reply()
    reply.add_answer(*RR.fromZone(BIG_TXT))
    handler.complete(command, reply, 0.0, udp=True)
    return handler


def reply_of(handler: QueryHandler, data: bytes, udp: bool = True) -> bytes:
    command = handler.handle(data, 1.0, udp=udp)
    assert isinstance(command, Reply), command
    return command.data


def test_large_answer_is_truncated_for_plain_udp_and_whole_over_tcp_or_edns() -> None:
    handler = cached_big_handler()
    plain = reply_of(handler, query("big.example.test", "TXT"))
    assert len(plain) <= 512
    cut = DNSRecord.parse(plain)
    assert cut.header.tc == 1 and not cut.rr and str(cut.q.qname) == "big.example.test."
    assert handler.stats.truncated == 1
    whole_tcp = DNSRecord.parse(reply_of(handler, query("big.example.test", "TXT"), udp=False))
    assert whole_tcp.header.tc == 0 and len(whole_tcp.rr) == 1
    edns = reply_of(handler, query("big.example.test", "TXT", edns=4096))
    assert 512 < len(edns) <= 1232
    assert DNSRecord.parse(edns).header.tc == 0
    small_edns = DNSRecord.parse(reply_of(handler, query("big.example.test", "TXT", edns=600)))
    assert small_edns.header.tc == 1
    assert small_edns.ar[0].rtype == 41  # an EDNS client still gets our OPT record


def test_edns_reply_advertises_our_payload_and_echoes_do() -> None:
    reply = DNSRecord.parse(
        reply_of(make_handler(), query("master.cluster.home", edns=4096, do=True))
    )
    opt = reply.ar[-1]
    assert (opt.rtype, opt.rclass) == (41, 1232)
    assert opt.ttl & 0x8000
    plain = DNSRecord.parse(reply_of(make_handler(), query("master.cluster.home")))
    assert not plain.ar


def test_rd_bit_is_copied() -> None:
    assert (
        DNSRecord.parse(reply_of(make_handler(), query("master.cluster.home", rd=False))).header.rd
        == 0
    )
    assert (
        DNSRecord.parse(reply_of(make_handler(), query("master.cluster.home", rd=True))).header.rd
        == 1
    )


def test_unknown_edns_version_gets_badvers() -> None:
    data = bytearray(query("master.cluster.home", edns=1232))
    data[-5] = 1  # the OPT "TTL" is extended rcode, version, flags: version 1
    reply = DNSRecord.parse(reply_of(make_handler(), bytes(data)))
    assert reply.header.rcode == 0 and (reply.ar[0].ttl >> 24) == 1  # extended rcode 16 = BADVERS


def test_other_opcodes_get_notimp() -> None:
    data = bytearray(query("master.cluster.home"))
    data[2] |= 2 << 3  # opcode STATUS
    assert DNSRecord.parse(reply_of(make_handler(), bytes(data))).header.rcode == RCODE.NOTIMP


def test_malformed_queries_get_formerr_and_are_counted() -> None:
    handler = make_handler()
    data = query("master.cluster.home")[:-2]
    reply = DNSRecord.parse(reply_of(handler, data))
    assert (reply.header.id, reply.header.rcode) == (4660, RCODE.FORMERR)
    assert handler.stats.formerr == 1


def test_short_messages_and_responses_are_dropped_and_counted() -> None:
    handler = make_handler()
    assert isinstance(handler.handle(b"\x01\x02\x03", 0.0, udp=True), Drop)
    answer = reply_of(handler, query("master.cluster.home"))
    assert isinstance(handler.handle(answer, 0.0, udp=True), Drop)  # never answer an answer
    assert handler.stats.dropped == 2


def check_outcome(handler: QueryHandler, data: bytes, udp: bool) -> None:
    """Only Reply (a parseable response to the same ID), Drop or Forward may come out."""
    command = handler.handle(data, 5.0, udp=udp)
    if isinstance(command, Drop):
        return
    if isinstance(command, Forward):
        out = handler.complete(command, None, 5.0, udp=udp)
    else:
        assert isinstance(command, Reply)
        out = command.data
    assert out[:2] == data[:2]
    assert out[2] & 0x80  # QR
    try:
        DNSRecord.parse(out)
    except DNSError as error:
        # dnslib refuses labels that are not UTF-8, which DNS allows: check the structure ourselves.
        assert "Invalid label" in str(error)
        wire.ttl_offsets(out)
    if udp:
        assert len(out) <= max(512, len(data))


VALID = [
    query("node-3.cluster.home"),
    query("NODE-3.cluster.home", "AAAA", edns=1232, do=True),
    query("3.0.0.10.in-addr.arpa", "PTR", edns=512),
    query("big.example.test", "TXT"),
    query("www.example.test", edns=4096),
    query("cluster.home", "ANY"),
]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700), st.booleans())
def test_fuzz_random_bytes(data: bytes, udp: bool) -> None:
    check_outcome(cached_big_handler(), data, udp)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
    st.integers(-20, 0),
    st.binary(max_size=20),
    st.booleans(),
)
def test_fuzz_mutated_valid_queries(
    base: bytes, flips: list[tuple[int, int]], cut: int, tail: bytes, udp: bool
) -> None:
    data = bytearray(base)
    for position, value in flips:
        if position < len(data):
            data[position] = value
    mutated = bytes(data[: len(data) + cut] if cut else data) + tail
    check_outcome(cached_big_handler(), mutated, udp)
