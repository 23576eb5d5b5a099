"""Cache of forwarded answers, kept as patchable wire templates (pure; explicit `now`).

Keyed on (lower-case qname, qtype, qclass, DO bit). Positive answers live as
long as their smallest TTL; negative answers (NXDOMAIN, and NODATA: NOERROR
without answers) as long as min(SOA TTL, SOA minimum) of the SOA in the
authority section, and are not cached without one (RFC 2308 §5). TTLs count
down on the way out (AnswerTemplate.render). SERVFAIL and other errors are
never cached. The cache is bounded; when full, the oldest entry goes first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from dnslib import QTYPE, RCODE, DNSLabel, DNSRecord

from netd.dns.template import AnswerTemplate
from netd.dns.zone import labels_of_wire

CacheKey = tuple[bytes, int, int, bool]
"""(lower-case wire qname, qtype, qclass, DO bit)."""
ZONE = "zone"
FORWARDED = "forwarded"


class TemplateMirror(Protocol):
    """Something that keeps a copy of the handler's templates (netd.dns.fastpath's C cache).

    Told of every template stored, dropped or cleared, in the order it happens, so that the
    copy answers exactly what the handler would. Zone keys carry DO False (the zone ignores it).
    """

    def stored(self, table: str, key: CacheKey, template: AnswerTemplate) -> None:
        """`template` now answers `key` in `table` (ZONE or FORWARDED)."""

    def dropped(self, table: str, key: CacheKey) -> None:
        """`key` no longer has a template in `table`."""

    def cleared(self, table: str) -> None:
        """`table` is empty."""


def negative_ttl(reply: DNSRecord) -> int | None:
    """How long a negative reply may be cached: min(SOA TTL, SOA minimum), None without SOA."""
    for rr in reply.auth:
        if rr.rtype == QTYPE.SOA:
            return int(min(rr.ttl, rr.rdata.times[4]))
    return None


def cacheable_ttl(reply: DNSRecord) -> int | None:
    """The lifetime of `reply` in the cache, None if it must not be cached."""
    rcode = reply.header.rcode
    if reply.header.tc:
        return None
    if rcode == RCODE.NXDOMAIN or (rcode == RCODE.NOERROR and not reply.rr):
        return negative_ttl(reply)
    if rcode != RCODE.NOERROR:
        return None
    ttls = [rr.ttl for rr in reply.rr + reply.auth + reply.ar if rr.rtype != QTYPE.OPT]
    return min(ttls) if ttls else None


@dataclass
class CacheStats:
    """Counters of the answer cache."""

    hits: int = 0
    """Answers served from the cache."""
    misses: int = 0
    """Lookups that found nothing fresh."""
    stored: int = 0
    """Answers stored."""
    negative_stored: int = 0
    """Of those, NXDOMAIN/NODATA answers."""
    evicted: int = 0
    """Entries pushed out because the cache was full."""


@dataclass
class AnswerCache:
    """Forwarded answers by question, as wire templates."""

    max_entries: int = 10000
    """Bound on entries; the oldest is evicted first."""
    max_ttl: int = 86400
    """Longest time any answer is kept, whatever its TTL says."""
    stats: CacheStats = field(default_factory=CacheStats)
    """Counters."""
    mirror: TemplateMirror | None = None
    """Told of every entry stored and dropped (the fast path's copy), or None."""
    _entries: OrderedDict[CacheKey, AnswerTemplate] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> Iterator[tuple[CacheKey, AnswerTemplate]]:
        """Every entry, oldest first (fresh or not)."""
        return iter(list(self._entries.items()))

    def get(self, key: CacheKey, now: float) -> AnswerTemplate | None:
        """A fresh template for `key`, or None (an expired entry is dropped)."""
        entry = self._entries.get(key)
        if entry is not None and now < entry.expires_at:
            self.stats.hits += 1
            return entry
        if entry is not None:
            del self._entries[key]
            if self.mirror is not None:
                self.mirror.dropped(FORWARDED, key)
        self.stats.misses += 1
        return None

    def put(self, key: CacheKey, reply: DNSRecord, now: float) -> AnswerTemplate:
        """Turn an upstream reply into a template, store it if it may be cached, and return it."""
        ttl = cacheable_ttl(reply)
        if ttl is not None:
            ttl = min(ttl, self.max_ttl)
            if reply.header.rcode == RCODE.NXDOMAIN or not reply.rr:
                for rr in reply.auth:  # RFC 2308 §5: the SOA's TTL is the negative TTL
                    if rr.rtype == QTYPE.SOA:
                        rr.ttl = ttl
        qname = DNSLabel(labels_of_wire(key[0]))
        reply.q.qname = qname
        for rr in reply.rr + reply.auth + reply.ar:
            if rr.rtype != QTYPE.OPT:
                rr.ttl = min(rr.ttl, self.max_ttl)
            if rr.rname == qname:  # case-insensitive: compressed against the question, so the
                rr.rname = qname  # asker's letter case shows in the answers too
        reply.header.aa = 0  # a cached answer is not authoritative
        reply.header.ra = 1
        expires = now + ttl if ttl else now
        template = AnswerTemplate.from_record(reply, now, expires)
        if ttl:
            self._entries.pop(key, None)
            self._entries[key] = template
            if self.mirror is not None:
                self.mirror.stored(FORWARDED, key, template)
            self.stats.stored += 1
            if reply.header.rcode != RCODE.NOERROR or not reply.rr:
                self.stats.negative_stored += 1
            while len(self._entries) > self.max_entries:
                evicted, _ = self._entries.popitem(last=False)
                self.stats.evicted += 1
                if self.mirror is not None:
                    self.mirror.dropped(FORWARDED, evicted)
        return template
