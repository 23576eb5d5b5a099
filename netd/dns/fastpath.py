"""The DNS fast path: C answers the cache hits of a whole batch of datagrams, Python the rest.

`FastPath` keeps a copy of the handler's templates (zone answers and
forwarded answers) in native's answer cache: it is the handler's
TemplateMirror, told of every template stored, dropped or cleared, so the
copy never answers what the handler would not. `serve(sock, now)` reads a
batch with recvmmsg, answers the hits with sendmmsg (GIL released), and
returns the misses, which the server hands to QueryHandler exactly as
without the fast path. The Python path stays the reference: it answers
everything the fast path does not, and everything when the extension is
missing. `FastPath.twin` runs the same logic on native's pure-Python twins
(tests).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from native import dns_answer, dns_serve
from netd.dns.cache import FORWARDED, ZONE, CacheKey
from netd.dns.template import AnswerTemplate

_KINDS = {ZONE: dns_answer.ZONE, FORWARDED: dns_answer.FORWARDED}
"""The handler's table names -> native's table numbers."""


@dataclass
class FastPathStats:
    """Counters of the fast path (the handler's own counters include its answers too)."""

    batches: int = 0
    """Receive calls that returned datagrams."""
    datagrams: int = 0
    """Datagrams read."""
    answered: int = 0
    """Answered in C."""
    handed_on: int = 0
    """Handed to the Python path."""
    unmirrored: int = 0
    """Templates the C cache would not take (they are answered by Python)."""


@dataclass
class FastPath:
    """Native answer cache + batched UDP I/O, mirroring a QueryHandler's templates."""

    cache: dns_answer.AnswerCache
    """The copy of the templates (C, or the twin in tests)."""
    server: dns_serve.NativeBatchServer | dns_serve.BatchServerTwin
    """The batch loop over `cache`."""
    stats: FastPathStats = field(default_factory=FastPathStats)
    """Counters."""

    @classmethod
    def native(cls, our_payload: int, allowed: Iterable[IPv4Network]) -> FastPath | None:
        """The C fast path, or None when the extension is not loaded (native logs why, once)."""
        cache = dns_answer.native_answer_cache()
        if cache is None:
            return None
        return cls(cache, dns_serve.NativeBatchServer(cache, our_payload, allowed))

    @classmethod
    def twin(cls, our_payload: int, allowed: Iterable[IPv4Network]) -> FastPath:
        """The same fast path on native's pure-Python twins."""
        cache = dns_answer.AnswerCacheTwin()
        return cls(cache, dns_serve.BatchServerTwin(cache, our_payload, allowed))

    # TemplateMirror

    def stored(self, table: str, key: CacheKey, template: AnswerTemplate) -> None:
        kind = _KINDS[table]
        qname, qtype, qclass, dnssec_ok = key
        offsets = tuple(offset for offset, _ in template.ttls)
        if not self.cache.put(kind, qname, qtype, qclass, dnssec_ok, template.packed, offsets,
                              template.stored_at, template.expires_at):
            self.cache.remove(kind, qname, qtype, qclass, dnssec_ok)  # no older copy either
            self.stats.unmirrored += 1

    def dropped(self, table: str, key: CacheKey) -> None:
        qname, qtype, qclass, dnssec_ok = key
        self.cache.remove(_KINDS[table], qname, qtype, qclass, dnssec_ok)

    def cleared(self, table: str) -> None:
        self.cache.clear(_KINDS[table])

    # I/O

    def serve(self, sock: socket.socket, now: float) -> dns_serve.Batch:
        """One batch from `sock`: the hits answered, the misses returned in `Batch.misses`."""
        batch = self.server.serve(sock, now)
        if batch.received:
            self.stats.batches += 1
            self.stats.datagrams += batch.received
            self.stats.answered += batch.answered_zone + batch.answered_forwarded
            self.stats.handed_on += len(batch.misses or ())
        return batch
