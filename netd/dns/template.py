"""Pre-packed answers, patched per query: the server's hot path.

An `AnswerTemplate` is a reply packed once by dnslib for a lower-case
question, with ID 0, no OPT record and the offsets of its TTL fields. Serving
a query copies it, writes the client's ID, RD/CD bits and question bytes
(so the letter case is echoed exactly, and names compressed against the
question follow it), counts TTLs down by the time the answer has spent in
the cache, adds our OPT record if the client sent one, and truncates (TC)
when the result exceeds what the client accepts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dnslib import DNSRecord

from netd.dns import wire

_TTL = struct.Struct(">I")
_COUNTS = struct.Struct(">HHHH")
_U16 = struct.Struct(">H")


@dataclass(frozen=True, slots=True)
class AnswerTemplate:
    """One packed reply ready to be patched for a matching query."""

    packed: bytes
    """The reply with ID 0, RD/CD clear, lower-case question and no OPT record."""
    question_end: int
    """Offset just past the question section."""
    ttls: tuple[tuple[int, int], ...]
    """(offset, TTL when stored) of every TTL field."""
    stored_at: float
    """When the template was made (TTLs count down from here)."""
    expires_at: float
    """When it must no longer be served (inf for our own zone)."""

    @classmethod
    def from_record(
        cls, reply: DNSRecord, now: float, expires_at: float, count_down: bool = True
    ) -> AnswerTemplate:
        """Pack `reply` (its question must already be lower-case) into a template.

        `count_down=False` for our own zone: its TTLs are served as they are.
        """
        reply.header.id = 0
        reply.header.rd = 0
        reply.header.cd = 0
        reply.ar = [rr for rr in reply.ar if rr.rtype != wire.TYPE_OPT]
        packed = reply.pack()
        question_end = wire.skip_name(packed, wire.HEADER_LEN) + 4
        return cls(
            packed=packed,
            question_end=question_end,
            ttls=tuple(wire.ttl_offsets(packed)) if count_down else (),
            stored_at=now,
            expires_at=expires_at,
        )

    @property
    def rcode(self) -> int:
        """The reply's response code."""
        return self.packed[3] & 0xF

    def render(self, query: wire.Query, now: float, limit: int | None, our_payload: int) -> bytes:
        """The reply to `query`; `limit` is the client's UDP size, None over TCP."""
        out = bytearray(self.packed)
        out[0:2] = query.id
        out[2] |= (query.flags >> 8) & 0x01  # RD
        out[3] |= query.flags & wire.FLAG_CD
        out[wire.HEADER_LEN : self.question_end] = query.question
        elapsed = int(now - self.stored_at)
        if elapsed > 0:
            for offset, ttl in self.ttls:
                _TTL.pack_into(out, offset, max(ttl - elapsed, 0))
        if query.edns is not None:
            arcount = _U16.unpack_from(out, 10)[0] + 1
            _U16.pack_into(out, 10, arcount & 0xFFFF)
            out += wire.opt_record(our_payload, query.edns.do)
        if limit is not None and len(out) > limit:
            return self._truncated(out, query, our_payload)
        return bytes(out)

    def _truncated(self, out: bytearray, query: wire.Query, our_payload: int) -> bytes:
        """Header and question only, TC set: the client retries over TCP (RFC 7766)."""
        head = bytearray(out[: self.question_end])
        head[2] |= wire.FLAG_TC >> 8
        _COUNTS.pack_into(head, 4, 1, 0, 0, 1 if query.edns is not None else 0)
        if query.edns is not None:
            head += wire.opt_record(our_payload, query.edns.do)
        return bytes(head)
