"""DNS answers rewritten from a wire cache: the C cache (`NativeAnswerCache`) and its twin.

Both hold packed replies for lower-case questions in two tables, ZONE (our
own names, looked up first, DO bit ignored) and FORWARDED (cached upstream
answers, keyed with the DO bit), and answer a query only when it is plainly
well formed and its entry is fresh: ID, RD and CD copied, the question as
asked (letter case included), TTLs aged by whole seconds since the entry was
stored, our OPT record added when the client sent one. Anything else gives
None and the caller's own path answers it. `AnswerCacheTwin` is the
pure-Python twin: the same results for every input (tests/native prove it).
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from typing import Protocol

from native._loader import Native, load

ZONE = 0
"""Table of our authoritative answers."""
FORWARDED = 1
"""Table of cached upstream answers."""
SLOT = 65535
"""Largest datagram read (what recvfrom(65535) reads)."""

_HEADER_LEN = 12
_TYPE_OPT = 41
_OPT_LEN = 11
_PLAIN_UDP_LIMIT = 512
_MAX_NAME = 255
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class AnswerCache(Protocol):
    """What the C cache and its twin both offer."""

    def put(self, kind: int, qname: bytes, qtype: int, qclass: int, dnssec_ok: bool,
            packed: bytes, ttl_offsets: tuple[int, ...], stored_at: float,
            expires_at: float) -> bool:
        """Store (or replace) a packed reply; False when it does not fit its key (not stored)."""

    def remove(self, kind: int, qname: bytes, qtype: int, qclass: int, dnssec_ok: bool) -> bool:
        """Drop an entry; False if there was none."""

    def clear(self, kind: int) -> None:
        """Drop every entry of one table."""

    def count(self, kind: int) -> int:
        """Entries in one table."""

    def answer(self, query: bytes, now: float, our_payload: int) -> tuple[bytes, int] | None:
        """(reply, table) for `query`, or None when the caller must answer it."""


def _check_kind(kind: int) -> None:
    if kind not in (ZONE, FORWARDED):
        raise ValueError(f"table must be ZONE (0) or FORWARDED (1), not {kind!r}")


def _check_u16(name: str, value: int) -> None:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} is a 16-bit value, got {value!r}")


def _plain_name(name: bytes) -> bool:
    offset = 0
    while offset < len(name):
        length = name[offset]
        if length == 0:
            return offset + 1 == len(name)
        if length & 0xC0:
            return False
        offset += length + 1
    return False


@dataclass(frozen=True, slots=True)
class _Entry:
    packed: bytes
    question_end: int
    ttls: tuple[tuple[int, int], ...]
    stored_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class _Query:
    question_end: int
    lower: bytes
    qtype: int
    qclass: int
    edns: bool
    dnssec_ok: bool
    edns_payload: int


def _parse_query(d: bytes) -> _Query | None:
    """Twin of dns_answer.c's parse_query: the query's facts if the fast path may answer it."""
    n = len(d)
    if n < _HEADER_LEN:
        return None
    flags = _U16.unpack_from(d, 2)[0]
    if flags & 0x8000 or (flags >> 11) & 0xF:
        return None
    if d[4:10] != b"\x00\x01\x00\x00\x00\x00":
        return None
    arcount = _U16.unpack_from(d, 10)[0]
    if arcount > 1:
        return None
    offset, total = _HEADER_LEN, 0
    while True:
        if offset >= n:
            return None
        length = d[offset]
        if length == 0:
            break
        if length & 0xC0:
            return None
        total += length + 1
        if total > 254:
            return None
        offset += length + 1
    name_end = offset + 1
    if name_end + 4 > n:
        return None
    qtype, qclass = struct.unpack_from(">HH", d, name_end)
    question_end = name_end + 4
    if qtype in (251, 252):
        return None
    lower = d[_HEADER_LEN:name_end].lower()
    if arcount == 0:
        if question_end != n:
            return None
        return _Query(question_end, lower, qtype, qclass, False, False, 0)
    offset = question_end
    if offset + _OPT_LEN > n or d[offset] != 0 or _U16.unpack_from(d, offset + 1)[0] != _TYPE_OPT:
        return None
    ttl = _U32.unpack_from(d, offset + 5)[0]
    if (ttl >> 16) & 0xFF:
        return None
    if offset + _OPT_LEN + _U16.unpack_from(d, offset + 9)[0] != n:
        return None
    payload = _U16.unpack_from(d, offset + 3)[0]
    return _Query(question_end, lower, qtype, qclass, True, bool(ttl & 0x8000), payload)


def _render(e: _Entry, query: bytes, q: _Query, now: float, our_payload: int) -> bytes | None:
    length = len(e.packed) + (_OPT_LEN if q.edns else 0)
    client = q.edns_payload if q.edns and q.edns_payload > _PLAIN_UDP_LIMIT else _PLAIN_UDP_LIMIT
    limit = min(client, max(our_payload, _PLAIN_UDP_LIMIT))
    if length > limit or length > SLOT or q.question_end != e.question_end:
        return None
    out = bytearray(e.packed)
    out[0:2] = query[0:2]
    out[2] |= query[2] & 0x01
    out[3] |= query[3] & 0x10
    out[_HEADER_LEN : e.question_end] = query[_HEADER_LEN : e.question_end]
    age = now - e.stored_at
    if age >= 1.0:
        elapsed = 1 << 32 if age >= 4294967296.0 else int(age)
        for offset, ttl in e.ttls:
            _U32.pack_into(out, offset, max(ttl - elapsed, 0))
    if q.edns:
        _U16.pack_into(out, 10, (_U16.unpack_from(out, 10)[0] + 1) & 0xFFFF)
        out += b"\x00" + struct.pack(">HHIH", _TYPE_OPT, our_payload, 0x8000 if q.dnssec_ok else 0, 0)
    return bytes(out)


class AnswerCacheTwin:
    """Pure-Python twin of NativeAnswerCache."""

    def __init__(self) -> None:
        self._tables: tuple[dict[tuple[bytes, int, int, bool], _Entry], ...] = ({}, {})

    def put(self, kind: int, qname: bytes, qtype: int, qclass: int, dnssec_ok: bool,
            packed: bytes, ttl_offsets: tuple[int, ...], stored_at: float,
            expires_at: float) -> bool:
        _check_kind(kind)
        _check_u16("qtype", qtype)
        _check_u16("qclass", qclass)
        if not 0 < len(qname) <= _MAX_NAME or not _plain_name(qname) or len(packed) > SLOT:
            return False
        if qname != qname.lower():
            return False
        question_end = _HEADER_LEN + len(qname) + 4
        if (
            len(packed) < question_end
            or packed[4:6] != b"\x00\x01"
            or packed[_HEADER_LEN : _HEADER_LEN + len(qname)] != qname
            or packed[question_end - 4 : question_end] != struct.pack(">HH", qtype, qclass)
        ):
            return False
        if len(ttl_offsets) > len(packed) // 4:
            return False
        if any(not question_end <= offset <= len(packed) - 4 for offset in ttl_offsets):
            return False
        ttls = tuple((offset, _U32.unpack_from(packed, offset)[0]) for offset in ttl_offsets)
        key = (qname, qtype, qclass, dnssec_ok and kind == FORWARDED)
        self._tables[kind][key] = _Entry(bytes(packed), question_end, ttls, stored_at, expires_at)
        return True

    def remove(self, kind: int, qname: bytes, qtype: int, qclass: int, dnssec_ok: bool) -> bool:
        _check_kind(kind)
        key = (bytes(qname), qtype, qclass, dnssec_ok and kind == FORWARDED)
        return self._tables[kind].pop(key, None) is not None

    def clear(self, kind: int) -> None:
        _check_kind(kind)
        self._tables[kind].clear()

    def count(self, kind: int) -> int:
        _check_kind(kind)
        return len(self._tables[kind])

    def answer(self, query: bytes, now: float, our_payload: int) -> tuple[bytes, int] | None:
        _check_u16("our_payload", our_payload)
        q = _parse_query(query)
        if q is None:
            return None
        kind = ZONE
        entry = self._tables[ZONE].get((q.lower, q.qtype, q.qclass, False))
        if entry is None:
            kind = FORWARDED
            entry = self._tables[FORWARDED].get((q.lower, q.qtype, q.qclass, q.dnssec_ok))
        if entry is None or not now < entry.expires_at:
            return None
        reply = _render(entry, query, q, now, our_payload)
        return None if reply is None else (reply, kind)


class NativeAnswerCache:
    """The cache in C (native/src/dns_answer.c); owned by one thread (the event loop's)."""

    def __init__(self, native: Native, seed: int | None = None) -> None:
        self.native = native
        ffi, lib = native.ffi, native.lib
        raw = lib.appl_dns_cache_new(secrets.randbits(64) if seed is None else seed)
        if raw == ffi.NULL:
            raise MemoryError("no memory for the DNS answer cache")
        self.handle = ffi.gc(raw, lib.appl_dns_cache_free)
        """The C cache (for NativeBatchServer)."""
        self._out = ffi.new("uint8_t[]", SLOT)
        self._kind = ffi.new("int *")

    def put(self, kind: int, qname: bytes, qtype: int, qclass: int, dnssec_ok: bool,
            packed: bytes, ttl_offsets: tuple[int, ...], stored_at: float,
            expires_at: float) -> bool:
        _check_kind(kind)
        _check_u16("qtype", qtype)
        _check_u16("qclass", qclass)
        ffi, lib = self.native.ffi, self.native.lib
        if any(not 0 <= offset <= 0xFFFFFFFF for offset in ttl_offsets):
            return False
        offsets = ffi.new("uint32_t[]", list(ttl_offsets)) if ttl_offsets else ffi.NULL
        result = lib.appl_dns_cache_put(
            self.handle, kind, ffi.from_buffer(qname), len(qname), qtype, qclass, int(dnssec_ok),
            ffi.from_buffer(packed), len(packed), offsets, len(ttl_offsets), stored_at, expires_at,
        )
        if result == lib.APPL_DNS_ENOMEM:
            raise MemoryError("no memory for a DNS answer cache entry")
        return bool(result == lib.APPL_DNS_OK)

    def remove(self, kind: int, qname: bytes, qtype: int, qclass: int, dnssec_ok: bool) -> bool:
        _check_kind(kind)
        _check_u16("qtype", qtype)
        _check_u16("qclass", qclass)
        ffi, lib = self.native.ffi, self.native.lib
        result = lib.appl_dns_cache_remove(
            self.handle, kind, ffi.from_buffer(qname), len(qname), qtype, qclass, int(dnssec_ok)
        )
        return bool(result == lib.APPL_DNS_OK)

    def clear(self, kind: int) -> None:
        _check_kind(kind)
        self.native.lib.appl_dns_cache_clear(self.handle, kind)

    def count(self, kind: int) -> int:
        _check_kind(kind)
        return int(self.native.lib.appl_dns_cache_count(self.handle, kind))

    def answer(self, query: bytes, now: float, our_payload: int) -> tuple[bytes, int] | None:
        _check_u16("our_payload", our_payload)
        ffi, lib = self.native.ffi, self.native.lib
        length = lib.appl_dns_answer(self.handle, ffi.from_buffer(query), len(query), now,
                                     our_payload, self._out, SLOT, self._kind)
        if length == 0:
            return None
        return bytes(ffi.buffer(self._out, length)), int(self._kind[0])


def native_answer_cache() -> NativeAnswerCache | None:
    """A C answer cache, or None when the extension is not loaded (one warning)."""
    native = load()
    return None if native is None else NativeAnswerCache(native)
