"""What to do with one incoming DNS message (sans-I/O: bytes and `now` in, a command out).

The server calls `handle(data, now, udp)` and carries out the command:
`Reply` (send these bytes), `Drop` (send nothing) or `Forward` (ask the
upstream resolvers, then call `complete` with their answer or None). Our own
zone is answered from pre-packed templates; other names from the cache or by
forwarding. Input never raises out of here: malformed queries get FORMERR when
a header can be read and are dropped otherwise, and both are counted.
"""

from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass, field

from dnslib import DNSError, DNSRecord

from netd.dns import wire
from netd.dns.cache import FORWARDED, ZONE, AnswerCache, CacheKey, TemplateMirror
from netd.dns.template import AnswerTemplate
from netd.dns.zone import Zone, labels_of_wire
from netd.quiet_log import QuietWarning

log = logging.getLogger(__name__)
RCODE_BADVERS = 16
_ZONE_TRANSFER_TYPES = (251, 252)  # IXFR, AXFR: not offered
_MAX_ZONE_TEMPLATES = 8192


@dataclass(frozen=True, slots=True)
class Reply:
    """Send `data` back to the client."""

    data: bytes
    """The reply message."""


@dataclass(frozen=True, slots=True)
class Drop:
    """Send nothing."""

    reason: str
    """Why (for counters and debug logs)."""


@dataclass(frozen=True, slots=True)
class Forward:
    """Resolve the question upstream, then call `QueryHandler.complete`."""

    query: wire.Query
    """The client's query."""
    key: CacheKey
    """Cache key of the question (also used to merge identical questions in flight)."""


Command = Reply | Drop | Forward


@dataclass
class HandlerStats:
    """Counters of what happened to queries."""

    queries: int = 0
    """Messages handled."""
    authoritative: int = 0
    """Answered from our zone."""
    cache_hits: int = 0
    """Answered from the cache."""
    forwarded: int = 0
    """Sent on to the upstream resolvers."""
    servfail: int = 0
    """SERVFAIL replies (upstreams down or broken)."""
    formerr: int = 0
    """Malformed queries answered with FORMERR."""
    dropped: int = 0
    """Messages dropped unanswered (too short to answer, or responses)."""
    notimp: int = 0
    """Opcodes or types we do not offer."""
    badvers: int = 0
    """EDNS versions other than 0."""
    truncated: int = 0
    """UDP replies cut to header + question with TC set."""


@dataclass
class QueryHandler:
    """Turns DNS messages into commands; owns the zone templates and the answer cache."""

    zone: Zone
    """Our authoritative data."""
    cache: AnswerCache = field(default_factory=AnswerCache)
    """Forwarded answers."""
    our_payload: int = 1232
    """UDP payload size we advertise and never exceed (the DNS Flag Day 2020 value)."""
    stats: HandlerStats = field(default_factory=HandlerStats)
    """Counters."""
    _zone_templates: dict[tuple[bytes, int, int], AnswerTemplate] = field(default_factory=dict)
    _warn_unusable: QuietWarning = field(default_factory=lambda: QuietWarning(log))
    _mirror: TemplateMirror | None = None

    def mirror_to(self, mirror: TemplateMirror | None) -> None:
        """Keep `mirror` (the fast path's copy) told of every template from now on, starting
        with those already made; None stops it."""
        self._mirror = mirror
        self.cache.mirror = mirror
        if mirror is None:
            return
        for (qname, qtype, qclass), template in self._zone_templates.items():
            mirror.stored(ZONE, (qname, qtype, qclass, False), template)
        for key, template in self.cache.items():
            mirror.stored(FORWARDED, key, template)

    def zone_changed(self) -> None:
        """Forget pre-packed zone answers after the zone changed."""
        self._zone_templates.clear()
        if self._mirror is not None:
            self._mirror.cleared(ZONE)

    def handle(self, data: bytes, now: float, udp: bool) -> Command:
        """The command for one incoming message."""
        self.stats.queries += 1
        if len(data) < wire.HEADER_LEN or data[2] & 0x80:
            self.stats.dropped += 1  # unreadable, or a response: never answer those
            return Drop("short" if len(data) < wire.HEADER_LEN else "response")
        try:
            query = wire.scan_query(data)
        except wire.MalformedMessage:
            self.stats.formerr += 1
            return Reply(wire.error_reply(data, wire.RCODE_FORMERR))
        if query.opcode != wire.OPCODE_QUERY or query.qtype in _ZONE_TRANSFER_TYPES:
            self.stats.notimp += 1
            return Reply(self._header_only(query, wire.RCODE_NOTIMP))
        if query.edns is not None and query.edns.version != 0:
            self.stats.badvers += 1
            return Reply(self._header_only(query, RCODE_BADVERS))
        limit = self._udp_limit(query) if udp else None
        zone_key = (query.qname, query.qtype, query.qclass)
        template = self._zone_templates.get(zone_key)
        if template is None:
            template = self._zone_template(query)
        if template is not None:
            self.stats.authoritative += 1
            return Reply(self._render(template, query, now, limit))
        key = (query.qname, query.qtype, query.qclass, query.edns is not None and query.edns.do)
        cached = self.cache.get(key, now)
        if cached is not None:
            self.stats.cache_hits += 1
            return Reply(self._render(cached, query, now, limit))
        self.stats.forwarded += 1
        return Forward(query, key)

    def complete(self, command: Forward, answer: DNSRecord | None, now: float, udp: bool) -> bytes:
        """The reply to a forwarded query once the upstreams answered (None: they did not)."""
        query = command.query
        if answer is None:
            self.stats.servfail += 1
            return self._header_only(query, wire.RCODE_SERVFAIL)
        try:
            template = self.cache.put(command.key, answer, now)
        except (
            DNSError,
            ValueError,
            struct.error,
        ) as error:  # parsed, but dnslib cannot re-pack it
            self._warn_unusable.warn(now, "unusable upstream answer for %r: %s", answer.q.qname, error)
            self.stats.servfail += 1
            return self._header_only(query, wire.RCODE_SERVFAIL)
        if template.rcode == wire.RCODE_SERVFAIL:
            self.stats.servfail += 1
        return self._render(template, query, now, self._udp_limit(query) if udp else None)

    def _zone_template(self, query: wire.Query) -> AnswerTemplate | None:
        reply = self.zone.answer(labels_of_wire(query.qname), query.qtype, query.qclass)
        if reply is None:
            return None
        template = AnswerTemplate.from_record(reply, 0.0, math.inf, count_down=False)
        if len(self._zone_templates) >= _MAX_ZONE_TEMPLATES:
            self._zone_templates.clear()  # random NXDOMAIN names must not grow memory forever
            if self._mirror is not None:
                self._mirror.cleared(ZONE)
        self._zone_templates[(query.qname, query.qtype, query.qclass)] = template
        if self._mirror is not None:
            self._mirror.stored(ZONE, (query.qname, query.qtype, query.qclass, False), template)
        return template

    def _render(
        self, template: AnswerTemplate, query: wire.Query, now: float, limit: int | None
    ) -> bytes:
        data = template.render(query, now, limit, self.our_payload)
        if limit is not None and len(data) < len(template.packed) and data[2] & 0x02:
            self.stats.truncated += 1
        return data

    def _udp_limit(self, query: wire.Query) -> int:
        return min(query.udp_limit(), max(self.our_payload, wire.PLAIN_UDP_LIMIT))

    def _header_only(self, query: wire.Query, rcode: int) -> bytes:
        payload = self.our_payload if query.edns is not None else None
        header = (
            query.id
            + (query.flags & 0xFFFF).to_bytes(2, "big")
            + b"\x00\x01\x00\x00\x00\x00\x00\x00"
        )
        return wire.error_reply(header + query.question, rcode, payload)
