"""The C DNS answer cache and its Python twin give the same answer to every query.

Random caches (zone and forwarded entries, some that do not fit their key),
random queries against them (letter case flipped, EDNS or not, other flags,
opcodes and types, truncated, mutated), random clocks: C and twin agree byte
for byte, and a few fixed cases pin down what the answer is.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native._loader import load
from native.dns_answer import FORWARDED, ZONE, AnswerCacheTwin, NativeAnswerCache
from tests.native.dns_packets import CLASSES, LABELS, QTYPES, flip_case, query, reply, wire_name
from tests.native.scale import examples


@pytest.fixture(scope="module")
def native_ok() -> None:
    assert load() is not None, "the extension must be built for these tests (pip install -e .)"


def both() -> tuple[NativeAnswerCache, AnswerCacheTwin]:
    native = load()
    assert native is not None
    return NativeAnswerCache(native, seed=7), AnswerCacheTwin()


ENTRY = st.tuples(
    st.sampled_from((ZONE, FORWARDED)),
    st.integers(0, 3),  # which name of the pool
    st.sampled_from(QTYPES),
    st.sampled_from(CLASSES),
    st.booleans(),  # DO
    st.lists(st.integers(0, 0xFFFFFFFF), max_size=4),  # TTLs
    st.floats(0, 1e6),  # stored_at
    st.floats(0, 1e5) | st.just(float("inf")),  # lifetime
    st.sampled_from(("ok",) * 6 + ("other-name", "upper", "short", "bad-offset")),
)

QUERY = st.tuples(
    st.integers(-3, 11).map(lambda i: None if i < 0 else i),  # the entry it asks for, or random
    st.integers(0, 3),  # else a name of the pool
    st.integers(0, (1 << 64) - 1),  # case flips
    st.sampled_from(QTYPES),
    st.sampled_from(CLASSES),
    st.integers(0, 0xFFFF),  # ID
    st.integers(0, 9).flatmap(
        lambda i: st.integers(0, 0xFFFF) if i == 0 else st.sampled_from(
            (0x0000, 0x0100, 0x0110, 0x0130, 0x01F0) * 3 + (0x8100, 0x0900, 0x2100))
    ),
    st.none() | st.tuples(st.sampled_from((0, 512, 1232, 4096, 700)), st.sampled_from((0, 0, 1)),
                          st.booleans(), st.binary(max_size=8)),
    st.sampled_from(("as-is",) * 8 + ("truncate", "mutate", "append")),
    st.integers(0, 1 << 16),  # where to truncate or mutate
    st.floats(0, 1e5),  # seconds after the entry was stored
)


def _entry_bytes(names: list[bytes], entry: tuple) -> tuple:  # type: ignore[type-arg]
    kind, which, qtype, qclass, do, ttls, stored, lifetime, shape = entry
    expires = stored + lifetime
    qname = names[which % len(names)]
    packed, offsets = reply(qname, qtype, qclass, ttls, flags=0x8580 if kind == ZONE else 0x8180)
    if shape == "other-name":
        packed, _ = reply(names[(which + 1) % len(names)], qtype, qclass, ttls)
    elif shape == "upper":
        qname = qname.upper()
    elif shape == "short":
        packed = packed[: len(qname) + 14]
    elif shape == "bad-offset" and offsets:
        offsets = (*offsets[:-1], len(packed) - 2)
    return kind, qname, qtype, qclass, do, packed, offsets, stored, expires


def _query_bytes(
    pool: list[list[bytes]], entries: list[tuple], q: tuple  # type: ignore[type-arg]
) -> tuple[bytes, float | None]:
    """The query, and a clock relative to the entry it asks for (None if random)."""
    entry, which, flips, qtype, qclass, qid, flags, edns, shape, where, after = q
    now = None
    if entry is not None and entries:
        kind, which, qtype, qclass, do, _ttls, stored, _expires, _shape = entries[entry % len(entries)]
        if edns is not None:
            edns = (edns[0], edns[1], do, edns[3])
        now = stored + after
    labels = [flip_case(label, flips >> i) for i, label in enumerate(pool[which % len(pool)])]
    data = query(labels, qtype, qclass, qid, flags, edns)
    if shape == "truncate":
        return data[: where % (len(data) + 1)], now
    if shape == "mutate":
        at = where % len(data)
        return data[:at] + bytes([(data[at] + 1 + where // 256) % 256]) + data[at + 1 :], now
    if shape == "append":
        return data + bytes([where % 256]), now
    return data, now


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(LABELS, min_size=1, max_size=4),
    st.lists(ENTRY, max_size=12),
    st.lists(QUERY, min_size=1, max_size=12),
    st.lists(st.floats(0, 3e6, allow_nan=False) | st.sampled_from((0.0, 1e6 + 0.5)), min_size=1,
             max_size=3),
    st.sampled_from((0, 100, 512, 1232, 4096, 65535)),
)
def test_c_and_twin_answer_alike(
    native_ok: None,
    pool: list[list[bytes]],
    entries: list[tuple],  # type: ignore[type-arg]
    queries: list[tuple],  # type: ignore[type-arg]
    clocks: list[float],
    our_payload: int,
) -> None:
    names = [wire_name([label.lower() for label in labels]) for labels in pool]
    c, twin = both()
    for entry in entries:
        args = _entry_bytes(names, entry)
        assert c.put(*args) == twin.put(*args)
    assert (c.count(ZONE), c.count(FORWARDED)) == (twin.count(ZONE), twin.count(FORWARDED))
    for q in queries:
        data, relative = _query_bytes(pool, entries, q)
        for now in clocks if relative is None else [relative, *clocks]:
            assert c.answer(data, now, our_payload) == twin.answer(data, now, our_payload)


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=600), st.floats(allow_nan=True, allow_infinity=True))
def test_random_bytes_are_answered_alike(native_ok: None, data: bytes, now: float) -> None:
    c, twin = both()
    qname = data[12:] if len(data) > 12 else b"\x00"
    for cache in (c, twin):
        cache.put(FORWARDED, b"\x01a\x00", 1, 1, False, *reply(b"\x01a\x00", 1, 1, [60]), 0.0, 1e9)
        cache.put(ZONE, qname, 1, 1, False, *reply(qname, 1, 1, [30]), 0.0, float("inf"))
    assert c.answer(data, now, 1232) == twin.answer(data, now, 1232)


def test_a_hit_is_rewritten_for_the_asker(native_ok: None) -> None:
    name = wire_name([b"node-3", b"cluster", b"home"])
    packed, offsets = reply(name, 1, 1, [300, 20], flags=0x8180)  # not authoritative
    for cache in both():
        assert cache.put(FORWARDED, name, 1, 1, False, packed, offsets, 1000.0, 1300.0)
        asked = query([b"NoDe-3", b"Cluster", b"HOME"], 1, 1, qid=0xBEEF, flags=0x0110,
                      edns=(4096, 0, False, b""))
        hit = cache.answer(asked, 1100.9, 1232)
        assert hit is not None
        data, kind = hit
        assert kind == FORWARDED
        assert data[:2] == b"\xbe\xef"
        assert data[2:4] == bytes([0x81, 0x90])  # QR RD, RA CD
        assert data[12 : 12 + len(name)] == asked[12 : 12 + len(name)]  # the asker's case
        assert [struct.unpack_from(">I", data, o)[0] for o in offsets] == [200, 0]  # aged 100 s
        assert data[10:12] == b"\x00\x01" and data.endswith(
            b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00")  # our OPT: 1232, no DO
        assert cache.answer(asked, 1300.0, 1232) is None  # expired: Python's to drop and refetch


def test_the_zone_is_looked_up_first_and_ignores_do(native_ok: None) -> None:
    name = wire_name([b"master", b"cluster", b"home"])
    for cache in both():
        cache.put(FORWARDED, name, 1, 1, True, *reply(name, 1, 1, [5]), 0.0, 1e9)
        cache.put(ZONE, name, 1, 1, True, *reply(name, 1, 1, [30], flags=0x8580), 0.0,
                  float("inf"))
        hit = cache.answer(query([b"master", b"cluster", b"home"], 1, 1,
                                 edns=(1232, 0, True, b"")), 50.0, 1232)
        assert hit is not None and hit[1] == ZONE
        assert cache.remove(ZONE, name, 1, 1, False)
        hit = cache.answer(query([b"master", b"cluster", b"home"], 1, 1,
                                 edns=(1232, 0, True, b"")), 50.0, 1232)
        assert hit is not None and hit[1] == FORWARDED
        cache.clear(FORWARDED)
        assert (cache.count(ZONE), cache.count(FORWARDED)) == (0, 0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: query([b"a"], 1, 1, flags=0x8100),  # a response
        lambda: query([b"a"], 1, 1, flags=0x0900),  # opcode 1
        lambda: query([b"a"], 1, 1, edns=(1232, 1, False, b"")),  # EDNS version 1: BADVERS
        lambda: query([b"a"], 1, 1)[:-1],  # cut short
        lambda: query([b"a"], 1, 1) + b"\x00",  # a stray byte
        lambda: query([b"a"], 1, 1, edns=(100, 0, False, b"x" * 600)),  # answer over 512
    ],
)
def test_what_python_must_answer_is_handed_back(native_ok: None, make) -> None:  # type: ignore[no-untyped-def]
    name = wire_name([b"a"])
    for cache in both():
        cache.put(FORWARDED, name, 1, 1, False, *reply(name, 1, 1, [60] * 40), 0.0, 1e9)
        assert cache.answer(make(), 1.0, 1232) is None


def test_entries_that_do_not_fit_their_key_are_refused(native_ok: None) -> None:
    name = wire_name([b"a"])
    packed, offsets = reply(name, 1, 1, [60])
    for cache in both():
        assert not cache.put(FORWARDED, wire_name([b"b"]), 1, 1, False, packed, offsets, 0, 1)
        assert not cache.put(FORWARDED, name, 28, 1, False, packed, offsets, 0, 1)
        assert not cache.put(FORWARDED, name, 1, 1, False, packed, (len(packed) - 3,), 0, 1)
        assert not cache.put(FORWARDED, b"\x01A\x00", 1, 1, False, packed, offsets, 0, 1)
        assert not cache.put(FORWARDED, b"\xc0\x0c", 1, 1, False, packed, offsets, 0, 1)
        assert cache.count(FORWARDED) == 0
        with pytest.raises(ValueError, match="table"):
            cache.put(5, name, 1, 1, False, packed, offsets, 0, 1)
