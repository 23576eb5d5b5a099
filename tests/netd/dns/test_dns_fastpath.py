"""The fast path answers exactly what the Python path answers, for every query it answers at all.

A QueryHandler over a zone of nodes, with forwarded answers in its cache
(positive with CNAMEs, NXDOMAIN with SOA, too large for 512 bytes), mirrored
into the fast path's cache (C, and native's pure-Python twin). For random
queries (names of the zone, cached and unknown, letter case flipped, every
type, EDNS or not, DO, other flags, truncated or mutated bytes) at random
times, whenever the fast path answers, the handler's own reply to the same
bytes at the same moment is byte for byte the same; and the handler's
counters come out the same whichever path answered.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dnslib import CNAME, QTYPE, RCODE, RR, SOA, TXT, A, DNSHeader, DNSLabel, DNSQuestion, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from native._loader import load
from netd.dns.fastpath import FastPath
from netd.dns.handler import Forward, QueryHandler, Reply
from netd.dns.zone import labels_of_wire
from tests.netd.dns.queries import make_handler, node, query

NODES = [node(f"node-{n}", f"10.0.0.{10 + n}") for n in range(1, 6)] + [node("node-9", None)]
FORWARDED = {
    "www.example.test": "a",
    "cdn.example.test": "cname",
    "nope.example.test": "nxdomain",
    "big.example.test": "big",  # ~1 KB: over 512, under our 1232
    "empty.example.test": "nodata",
}
ZONE_NAMES = ["node-1.cluster.home", "node-3.cluster.home", "node-9.cluster.home", "master.cluster.home",
              "cluster.home", "kubernetes.cluster.home", "nosuch.cluster.home", "12.0.0.10.in-addr.arpa",
              "1.0.0.10.in-addr.arpa", "0.10.in-addr.arpa"]
NAMES = ZONE_NAMES + list(FORWARDED) + ["other.example.net"]
TYPES = ["A"] * 6 + ["AAAA", "PTR", "TXT"] * 2 + ["ANY", "NS", "SOA", "CNAME", "MX", "AXFR"]
START = 1000.0


def upstream_answer(command: Forward) -> DNSRecord:
    """What an upstream resolver would say to the forwarded question."""
    qname, qtype, qclass, _ = command.key
    name = DNSLabel(labels_of_wire(qname))
    answer = DNSRecord(DNSHeader(id=1, qr=1, rd=1, ra=1), q=DNSQuestion(name, qtype, qclass))
    kind = FORWARDED.get(str(name).rstrip(".").lower(), "a")
    soa = RR("example.test", QTYPE.SOA, ttl=900, rdata=SOA("ns.example.test", "h.example.test",
                                                             (1, 2, 3, 4, 60)))
    if kind == "nxdomain":
        answer.header.rcode = RCODE.NXDOMAIN
        answer.add_auth(soa)
    elif kind == "nodata" or qtype not in (QTYPE.A, QTYPE.TXT, QTYPE.ANY):
        answer.add_auth(soa)
    elif kind == "big":
        answer.add_answer(RR(name, QTYPE.TXT, ttl=300, rdata=TXT(["x" * 250] * 4)))
    elif kind == "cname":
        answer.add_answer(RR(name, QTYPE.CNAME, ttl=120, rdata=CNAME("edge.example.test")))
        answer.add_answer(RR("edge.example.test", QTYPE.A, ttl=45, rdata=A("203.0.113.9")))
    else:
        answer.add_answer(RR(name, QTYPE.A, ttl=300, rdata=A("203.0.113.5")))
    return answer


def fast_paths() -> Iterator[tuple[str, FastPath]]:
    allowed = ()
    native = FastPath.native(1232, allowed)
    assert native is not None and load() is not None, "the extension must be built (pip install -e .)"
    yield "c", native
    yield "twin", FastPath.twin(1232, allowed)


def primed(fast_path: FastPath) -> QueryHandler:
    """A handler mirrored into `fast_path`, its cache filled by asking each forwarded name once."""
    handler = make_handler(*NODES)
    handler.mirror_to(fast_path)
    for name in FORWARDED:
        for qtype in ("A", "TXT", "AAAA"):
            for edns, do in ((None, False), (1232, False), (1232, True)):
                command = handler.handle(query(name, qtype, edns=edns, do=do), START, udp=True)
                if isinstance(command, Forward):
                    handler.complete(command, upstream_answer(command), START, udp=True)
    return handler


def _flip(name: str, mask: int) -> str:
    return "".join(c.upper() if mask >> (i % 60) & 1 else c for i, c in enumerate(name))


QUERY = st.tuples(
    st.sampled_from(NAMES), st.integers(0, (1 << 60) - 1), st.sampled_from(TYPES),
    st.integers(0, 0xFFFF), st.none() | st.sampled_from([512, 1232, 4096, 600, 100]), st.booleans(),
    st.booleans(), st.sampled_from(["as-is"] * 12 + ["cut", "poke", "class"]), st.integers(0, 1 << 20),
)


def _bytes(q: tuple) -> bytes:  # type: ignore[type-arg]
    name, mask, qtype, qid, edns, do, rd, shape, where = q
    data = query(_flip(name, mask), qtype, qid=qid, edns=edns, do=do, rd=rd,
                 qclass=3 if shape == "class" else 1)
    if shape == "cut":
        return data[: where % len(data)]
    if shape == "poke":
        at = where % len(data)
        return data[:at] + bytes([where >> 8 & 0xFF]) + data[at + 1 :]
    return data


@pytest.mark.parametrize("which", ["c", "twin"])
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(QUERY, st.floats(0, 40) | st.floats(0, 400)), min_size=1, max_size=40))
def test_every_fast_answer_is_the_python_answer(which: str, asked: list[tuple]) -> None:  # type: ignore[type-arg]
    fast_path = dict(fast_paths())[which]
    handler = primed(fast_path)
    for q, after in asked + [(q, after + 1.5) for q, after in asked]:  # again: templates now made
        data, now = _bytes(q), START + after
        fast = fast_path.cache.answer(data, now, handler.our_payload)
        command = handler.handle(data, now, udp=True)
        if fast is not None:
            assert isinstance(command, Reply) and command.data == fast[0]


@pytest.mark.parametrize("which", ["c", "twin"])
def test_cluster_names_and_cached_names_are_answered_fast(which: str) -> None:
    fast_path = dict(fast_paths())[which]
    handler = primed(fast_path)
    for name, qtype in [("node-3.cluster.home", "A"), ("12.0.0.10.in-addr.arpa", "PTR"),
                        ("nosuch.cluster.home", "A"), ("node-9.cluster.home", "A")]:
        data = query(name.upper(), qtype, edns=1232)
        assert fast_path.cache.answer(data, START, 1232) is None  # not asked yet: no template
        first = handler.handle(data, START, udp=True)
        fast = fast_path.cache.answer(data, START + 5, 1232)
        assert isinstance(first, Reply) and fast is not None and fast[0] == first.data
    for name in ("www.example.test", "cdn.example.test", "nope.example.test", "empty.example.test"):
        data = query(name, "A", qid=77)
        fast = fast_path.cache.answer(data, START + 30.5, 1232)
        python = handler.handle(data, START + 30.5, udp=True)
        assert fast is not None and isinstance(python, Reply) and fast[0] == python.data
    # Too large for a plain 512-byte client: the Python path truncates it.
    assert fast_path.cache.answer(query("big.example.test", "TXT"), START, 1232) is None
    assert fast_path.cache.answer(query("big.example.test", "TXT", edns=4096), START, 1232) is not None


@pytest.mark.parametrize("which", ["c", "twin"])
def test_the_copy_follows_the_zone_expiry_and_eviction(which: str) -> None:
    fast_path = dict(fast_paths())[which]
    handler = primed(fast_path)
    data = query("node-1.cluster.home")
    handler.handle(data, START, udp=True)
    assert fast_path.cache.answer(data, START, 1232) is not None
    handler.zone_changed()  # node events: every zone template forgotten, in C too
    assert fast_path.cache.answer(data, START, 1232) is None
    www = query("www.example.test")
    assert fast_path.cache.answer(www, START + 299, 1232) is not None
    assert fast_path.cache.answer(www, START + 300, 1232) is None  # expired: Python refetches
    assert isinstance(handler.handle(www, START + 300, udp=True), Forward)
    handler.cache.max_entries = 1
    command = handler.handle(query("new.example.test"), START, udp=True)
    assert isinstance(command, Forward)
    handler.complete(command, upstream_answer(command), START, udp=True)  # evicts all but one
    assert fast_path.cache.count(1) == len(handler.cache) == 1
    assert fast_path.cache.answer(query("cdn.example.test"), START, 1232) is None
