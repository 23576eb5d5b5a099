"""Pure reading and patching of DNS messages on the wire (no sockets, no clock).

The hot path does not build a full object tree per query: `scan_query` is a
cursor-style reader that checks a query's shape and returns the few facts the
server needs (ID, flags, the question as sent, EDNS). Everything that builds
messages from records goes through dnslib's codec; this module only reads
headers and walks resource records to find TTL fields that a cached answer
must count down. One error escapes: `MalformedMessage`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_LEN = 12
TYPE_OPT = 41
CLASS_IN = 1
OPCODE_QUERY = 0
RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
RCODE_REFUSED = 5
FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
FLAG_RD = 0x0100
FLAG_RA = 0x0080
FLAG_CD = 0x0010
EDNS_DO = 0x8000
PLAIN_UDP_LIMIT = 512
"""Largest UDP answer a client without EDNS0 accepts (RFC 1035)."""
MIN_EDNS_UDP = 512
"""Payload sizes below this in a client's OPT record are treated as 512 (RFC 6891)."""

_HEADER = struct.Struct(">HHHHHH")
_U16 = struct.Struct(">H")
_RR_FIXED = struct.Struct(">HHIH")


class MalformedMessage(ValueError):
    """The bytes are not a DNS message of the expected shape."""


@dataclass(frozen=True, slots=True)
class Edns:
    """What a client's OPT record says."""

    payload: int
    """Advertised UDP payload size as sent (may be below 512)."""
    version: int
    """EDNS version (only 0 exists)."""
    do: bool
    """DNSSEC OK bit."""


@dataclass(frozen=True, slots=True)
class Query:
    """The facts of one well-formed query the server acts on."""

    id: bytes
    """The two ID bytes, copied into the reply."""
    flags: int
    """Header flags word as sent."""
    question: bytes
    """The question section exactly as sent (name in the client's letter case, type, class)."""
    qname: bytes
    """Question name in wire form, ASCII-lowercased: the lookup key."""
    qtype: int
    """Question type."""
    qclass: int
    """Question class."""
    edns: Edns | None
    """The client's OPT record, None without EDNS0."""

    @property
    def opcode(self) -> int:
        """Header opcode."""
        return (self.flags >> 11) & 0xF

    def udp_limit(self) -> int:
        """Largest UDP reply this client accepts."""
        if self.edns is None:
            return PLAIN_UDP_LIMIT
        return max(self.edns.payload, MIN_EDNS_UDP)


def header_counts(data: bytes) -> tuple[int, int, int, int, int, int]:
    """ID, flags, QD, AN, NS and AR counts of a message."""
    if len(data) < HEADER_LEN:
        raise MalformedMessage(f"message of {len(data)} bytes is shorter than a header")
    return _HEADER.unpack_from(data, 0)  # type: ignore[return-value]


def skip_name(data: bytes, offset: int) -> int:
    """Offset just after the (possibly compressed) name starting at `offset`."""
    return _name_end(data, offset, pointer_allowed=True)


def _read_plain_name(data: bytes, offset: int) -> int:
    """Like skip_name, but a question name must not be compressed (nothing precedes it)."""
    return _name_end(data, offset, pointer_allowed=False)


def _name_end(data: bytes, offset: int, pointer_allowed: bool) -> int:
    total = 0
    while True:
        if offset >= len(data):
            raise MalformedMessage("name runs past the end of the message")
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:
            # Told by the label byte, not by the byte the name ends on: a pointer's second
            # byte may be 0 too (0xC0 0x00), which must not pass for the root label.
            if not pointer_allowed:
                raise MalformedMessage("compressed name in the question")
            if offset + 2 > len(data):
                raise MalformedMessage("compression pointer cut short")
            return offset + 2
        if length & 0xC0:
            raise MalformedMessage(f"unknown label type {length:#x}")
        total += length + 1
        if total > 254:
            raise MalformedMessage("name longer than 255 bytes")
        offset += length + 1


def _rr_fixed(data: bytes, offset: int) -> tuple[int, int, int, int]:
    if offset + _RR_FIXED.size > len(data):
        raise MalformedMessage("resource record cut short")
    return _RR_FIXED.unpack_from(data, offset)  # type: ignore[return-value]


def scan_query(data: bytes) -> Query:
    """Check that `data` is a query with one question and return its facts."""
    msg_id, flags, qdcount, ancount, nscount, arcount = header_counts(data)
    if flags & FLAG_QR:
        raise MalformedMessage("a response, not a query")
    if qdcount != 1:
        raise MalformedMessage(f"{qdcount} questions; exactly one is supported")
    if ancount or nscount:
        raise MalformedMessage("a query with answer or authority records")
    name_end = _read_plain_name(data, HEADER_LEN)
    if name_end + 4 > len(data):
        raise MalformedMessage("question cut short")
    qtype, qclass = struct.unpack_from(">HH", data, name_end)
    question_end = name_end + 4
    edns: Edns | None = None
    offset = question_end
    for _ in range(arcount):
        offset = skip_name(data, offset)
        rtype, rclass, ttl, rdlength = _rr_fixed(data, offset)
        offset += _RR_FIXED.size + rdlength
        if offset > len(data):
            raise MalformedMessage("record data runs past the end of the message")
        if rtype == TYPE_OPT:
            if edns is not None:
                raise MalformedMessage("more than one OPT record")
            edns = Edns(payload=rclass, version=(ttl >> 16) & 0xFF, do=bool(ttl & EDNS_DO))
    if offset != len(data):
        raise MalformedMessage(f"{len(data) - offset} stray bytes after the last record")
    return Query(
        id=data[0:2],
        flags=flags,
        question=data[HEADER_LEN:question_end],
        qname=data[HEADER_LEN:name_end].lower(),
        qtype=qtype,
        qclass=qclass,
        edns=edns,
    )


def ttl_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset of the TTL field, TTL) of every record in a message except OPT."""
    _, _, qdcount, ancount, nscount, arcount = header_counts(data)
    offset = HEADER_LEN
    for _ in range(qdcount):
        offset = skip_name(data, offset) + 4
    found = []
    for _ in range(ancount + nscount + arcount):
        offset = skip_name(data, offset)
        rtype, _rclass, ttl, rdlength = _rr_fixed(data, offset)
        if rtype != TYPE_OPT:
            found.append((offset + 4, ttl))
        offset += _RR_FIXED.size + rdlength
    if offset > len(data):
        raise MalformedMessage("record data runs past the end of the message")
    return found


def opt_record(payload: int, do: bool, ext_rcode: int = 0) -> bytes:
    """Our OPT pseudo-record: root name, our UDP payload size, version 0, DO echoed."""
    ttl = (ext_rcode << 24) | (EDNS_DO if do else 0)
    return b"\x00" + struct.pack(">HHIH", TYPE_OPT, payload, ttl, 0)


def error_reply(data: bytes, rcode: int, edns_payload: int | None = None) -> bytes:
    """A header-only reply (plus the question when it can be read) with `rcode`.

    Used for FORMERR, NOTIMP, REFUSED and SERVFAIL; `data` must hold at least a header.
    """
    msg_id, flags, qdcount, _, _, _ = header_counts(data)
    question = b""
    if qdcount == 1:
        try:
            end = _read_plain_name(data, HEADER_LEN) + 4
            if end <= len(data):
                question = data[HEADER_LEN:end]
        except MalformedMessage:
            question = b""
    ext_rcode, rcode = rcode >> 4, rcode & 0xF
    keep = flags & (0x7800 | FLAG_RD | FLAG_CD)  # opcode, RD, CD
    reply_flags = FLAG_QR | FLAG_RA | keep | rcode
    opt = b"" if edns_payload is None else opt_record(edns_payload, False, ext_rcode)
    header = _HEADER.pack(msg_id, reply_flags, 1 if question else 0, 0, 0, 1 if opt else 0)
    return header + question + opt
