"""The forwarding cache: TTLs counted down, negative caching (RFC 2308), keys, case echo."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, RR, DNSRecord

from netd.dns.cache import AnswerCache, cacheable_ttl
from netd.dns.handler import Forward, QueryHandler, Reply
from tests.netd.dns.queries import make_handler, query


def upstream_reply(
    data: bytes, zone_text: str = "", rcode: int = RCODE.NOERROR, auth: str = ""
) -> DNSRecord:
    """What an upstream resolver would answer to `data`."""
    reply = DNSRecord.parse(data).reply()
    reply.header.rcode = rcode
    if zone_text:
        reply.add_answer(*RR.fromZone(zone_text))
    if auth:
        reply.add_auth(*RR.fromZone(auth))
    return reply


def forward_and_complete(
    handler: QueryHandler, data: bytes, reply: DNSRecord, now: float
) -> DNSRecord:
    command = handler.handle(data, now, udp=True)
    assert isinstance(command, Forward)
    return DNSRecord.parse(handler.complete(command, reply, now, udp=True))


def from_cache(handler: QueryHandler, data: bytes, now: float) -> DNSRecord | None:
    command = handler.handle(data, now, udp=True)
    if isinstance(command, Forward):
        return None
    assert isinstance(command, Reply)
    return DNSRecord.parse(command.data)


SOA = "example.test. 3600 IN SOA ns.example.test. admin.example.test. 1 7200 900 86400 60"


def test_positive_answer_is_served_with_ttls_counting_down_until_they_run_out() -> None:
    handler = make_handler()
    data = query("www.example.test")
    first = forward_and_complete(
        handler, data, upstream_reply(data, "www.example.test. 100 IN A 203.0.113.80"), 1000.0
    )
    assert [(str(rr.rdata), rr.ttl) for rr in first.rr] == [("203.0.113.80", 100)]
    assert first.header.aa == 0
    later = from_cache(handler, query("www.example.test", qid=77), 1040.5)
    assert later is not None and later.header.id == 77
    assert [(str(rr.rdata), rr.ttl) for rr in later.rr] == [("203.0.113.80", 60)]
    assert from_cache(handler, data, 1099.9) is not None
    assert from_cache(handler, data, 1100.0) is None  # expired: forwarded again
    assert handler.cache.stats.hits == 2


def test_entry_lives_as_long_as_its_smallest_ttl() -> None:
    handler = make_handler()
    data = query("multi.example.test")
    zone = "multi.example.test. 300 IN A 203.0.113.1\nmulti.example.test. 20 IN A 203.0.113.2"
    forward_and_complete(handler, data, upstream_reply(data, zone), 0.0)
    hit = from_cache(handler, data, 19.0)
    assert hit is not None and sorted(rr.ttl for rr in hit.rr) == [1, 281]
    assert from_cache(handler, data, 20.0) is None


def test_nxdomain_is_cached_for_min_of_soa_ttl_and_minimum() -> None:
    handler = make_handler()
    data = query("nope.example.test")
    reply = upstream_reply(data, rcode=RCODE.NXDOMAIN, auth=SOA)
    first = forward_and_complete(handler, data, reply, 0.0)
    assert first.header.rcode == RCODE.NXDOMAIN
    assert first.auth[0].ttl == 60  # the SOA's TTL becomes the negative TTL
    hit = from_cache(handler, data, 45.0)
    assert hit is not None and hit.header.rcode == RCODE.NXDOMAIN and hit.auth[0].ttl == 15
    assert from_cache(handler, data, 60.0) is None
    assert handler.cache.stats.negative_stored == 1


def test_nodata_is_cached_negatively() -> None:
    handler = make_handler()
    data = query("www.example.test", "AAAA")
    forward_and_complete(handler, data, upstream_reply(data, auth=SOA), 0.0)
    hit = from_cache(handler, data, 59.0)
    assert hit is not None and hit.header.rcode == RCODE.NOERROR and not hit.rr


def test_negative_answer_without_soa_and_servfail_are_not_cached() -> None:
    handler = make_handler()
    data = query("nosoa.example.test")
    forward_and_complete(handler, data, upstream_reply(data, rcode=RCODE.NXDOMAIN), 0.0)
    assert from_cache(handler, data, 0.0) is None
    failed = forward_and_complete(handler, data, upstream_reply(data, rcode=RCODE.SERVFAIL), 0.0)
    assert failed.header.rcode == RCODE.SERVFAIL
    assert from_cache(handler, data, 0.0) is None
    assert handler.stats.servfail == 1


def test_no_answer_at_all_is_servfail_and_not_cached() -> None:
    handler = make_handler()
    data = query("down.example.test", qid=5)
    command = handler.handle(data, 0.0, udp=True)
    assert isinstance(command, Forward)
    reply = DNSRecord.parse(handler.complete(command, None, 0.0, udp=True))
    assert (reply.header.id, reply.header.rcode, str(reply.q.qname)) == (
        5,
        RCODE.SERVFAIL,
        "down.example.test.",
    )
    assert isinstance(handler.handle(data, 0.0, udp=True), Forward)


def test_key_is_case_insensitive_and_the_reply_echoes_the_askers_case() -> None:
    handler = make_handler()
    data = query("WWW.Example.TEST")
    forward_and_complete(
        handler, data, upstream_reply(data, "www.example.test. 100 IN A 203.0.113.80"), 0.0
    )
    hit = from_cache(handler, query("www.EXAMPLE.test"), 1.0)
    assert hit is not None
    assert str(hit.q.qname) == "www.EXAMPLE.test."
    assert str(hit.rr[0].rname) == "www.EXAMPLE.test."


def test_key_separates_type_class_and_do_bit() -> None:
    handler = make_handler()
    data = query("www.example.test", edns=1232, do=True)
    forward_and_complete(
        handler, data, upstream_reply(data, "www.example.test. 100 IN A 203.0.113.80"), 0.0
    )
    assert from_cache(handler, query("www.example.test", edns=1232, do=True), 1.0) is not None
    assert from_cache(handler, query("www.example.test", edns=1232), 1.0) is None
    assert from_cache(handler, query("www.example.test", "AAAA", edns=1232, do=True), 1.0) is None
    assert from_cache(handler, query("www.example.test", edns=1232, do=True, qclass=3), 1.0) is None


def test_cache_is_bounded_and_evicts_the_oldest() -> None:
    cache = AnswerCache(max_entries=2)
    for i in range(3):
        name = f"n{i}.example.test"
        data = query(name)
        key = (b"\x02n" + str(i).encode() + b"\x07example\x04test\x00", 1, 1, False)
        cache.put(key, upstream_reply(data, f"{name}. 100 IN A 203.0.113.{i}"), 0.0)
    assert len(cache) == 2 and cache.stats.evicted == 1
    assert cache.get((b"\x02n0\x07example\x04test\x00", 1, 1, False), 1.0) is None
    assert cache.get((b"\x02n2\x07example\x04test\x00", 1, 1, False), 1.0) is not None


def test_ttls_are_capped() -> None:
    cache = AnswerCache(max_ttl=600)
    data = query("long.example.test")
    template = cache.put(
        (b"\x04long\x07example\x04test\x00", 1, 1, False),
        upstream_reply(data, "long.example.test. 999999 IN A 203.0.113.1"),
        0.0,
    )
    assert template.expires_at == 600.0
    assert [ttl for _, ttl in template.ttls] == [600]


def test_cacheable_ttl_rules() -> None:
    data = query("x.example.test")
    assert cacheable_ttl(upstream_reply(data, "x.example.test. 5 IN A 203.0.113.1")) == 5
    truncated = upstream_reply(data, "x.example.test. 5 IN A 203.0.113.1")
    truncated.header.tc = 1
    assert cacheable_ttl(truncated) is None
    assert cacheable_ttl(upstream_reply(data, rcode=RCODE.REFUSED)) is None
    assert QTYPE.SOA == 6
