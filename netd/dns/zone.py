"""The cluster's authoritative data: pure, rebuilt from config and node records.

Names served (decision): under `cluster.domain`
- every node from the registry that has an address: `node-3.cluster.home A 10.0.0.3`
  (a node without an address exists but has no A record: NODATA);
- the master's own names `master`, the cluster's name (`picluster`) and
  `kubernetes` (the API server SAN), all → `master_address`. Nodes cannot take
  these names; a node record that tries is ignored.
- the apex has SOA and one NS, `master.<domain>`.
Reverse: PTR records under the octet-aligned in-addr.arpa zone that covers
`network.subnet` (a /24 gives `0.0.10.in-addr.arpa`; a /22 or /25 is rounded
down to the enclosing /16 or /24: these are private ranges that RFC 6303 says
must be answered locally anyway). The zone has its own SOA and NS.

A name that exists with other types gets NODATA (NOERROR, SOA in authority);
a name that does not exist gets NXDOMAIN with the SOA; empty non-terminals
(e.g. `0.10.in-addr.arpa` inside a /16 reverse zone) are NODATA. The SOA
serial goes up by one on every change so that secondary caches can tell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from dnslib import NS, PTR, QTYPE, RCODE, RR, SOA, A, DNSHeader, DNSLabel, DNSQuestion, DNSRecord

from foundation.config.model import Config
from foundation.records import NodeChange, NodeEvent, NodeRecord

Labels = tuple[bytes, ...]
CLASS_IN = 1
CLASS_ANY = 255
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def labels_of_wire(name: bytes) -> Labels:
    """Labels of an uncompressed wire-format name (as checked by wire.scan_query)."""
    labels = []
    offset = 0
    while name[offset]:
        length = name[offset]
        labels.append(name[offset + 1 : offset + 1 + length])
        offset += 1 + length
    return tuple(labels)


def labels_of_text(name: str) -> Labels:
    """Lower-case labels of a dotted name."""
    return tuple(part.encode("ascii") for part in name.lower().strip(".").split(".") if part)


def reverse_labels(address: IPv4Address) -> Labels:
    """Owner name of `address`'s PTR record."""
    return tuple(str(octet).encode() for octet in reversed(address.packed)) + (b"in-addr", b"arpa")


def reverse_apex(subnet: IPv4Network) -> Labels:
    """The octet-aligned reverse zone enclosing `subnet` (at least a /8)."""
    octets = max(subnet.prefixlen // 8, 1)
    network = subnet.network_address.packed[:octets]
    return tuple(str(octet).encode() for octet in reversed(network)) + (b"in-addr", b"arpa")


@dataclass(frozen=True)
class ZoneSettings:
    """What the zone needs from cluster.yaml."""

    domain: str
    """The cluster domain, e.g. cluster.home."""
    master_address: IPv4Address
    """Where the master's names point."""
    master_names: tuple[str, ...]
    """Single labels that name the master (master, the cluster name, kubernetes)."""
    subnet: IPv4Network
    """The LAN; its reverse zone is served."""
    ttl: int = 30
    """TTL of A and PTR records: short, because leases move names around."""
    negative_ttl: int = 30
    """SOA minimum: how long others may cache NXDOMAIN/NODATA (RFC 2308)."""
    soa_ttl: int = 300
    """TTL of SOA and NS records."""

    @classmethod
    def from_config(cls, config: Config) -> ZoneSettings:
        """Settings from an appliance Config."""
        cluster, network = config.cluster, config.network
        names = ["master", cluster.name.lower(), "kubernetes"]
        return cls(
            domain=cluster.domain.lower().strip("."),
            master_address=network.master_address,
            master_names=tuple(dict.fromkeys(n for n in names if _LABEL.match(n))),
            subnet=network.subnet,
        )


class Zone:
    """Authoritative records for the cluster domain and the LAN's reverse zone."""

    def __init__(
        self, settings: ZoneSettings, nodes: Iterable[NodeRecord], serial: int = 1
    ) -> None:
        self.settings = settings
        self.serial = serial
        self.apexes: tuple[Labels, ...] = (
            labels_of_text(settings.domain),
            reverse_apex(settings.subnet),
        )
        self._nodes: dict[str, NodeRecord] = {}
        self._rrsets: dict[Labels, dict[int, list[RR]]] = {}
        self._existing: set[Labels] = set()
        self.replace_all(nodes, bump=False)

    def replace_all(self, nodes: Iterable[NodeRecord], bump: bool = True) -> None:
        """Take a fresh snapshot of every node (start, Resync)."""
        self._nodes = {node.name.lower(): node for node in nodes}
        self._rebuild(bump)

    def apply(self, event: NodeEvent) -> bool:
        """Follow one node event; True if the zone changed."""
        name = event.node.name.lower()
        before = self._nodes.get(name)
        if event.change is NodeChange.REMOVED:
            if before is None:
                return False
            del self._nodes[name]
        else:
            if before == event.node:
                return False
            self._nodes[name] = event.node
        self._rebuild(bump=True)
        return True

    def apex_of(self, qname: Labels) -> Labels | None:
        """The apex of the zone `qname` falls in, None when it is not ours."""
        for apex in self.apexes:
            if len(qname) >= len(apex) and qname[len(qname) - len(apex) :] == apex:
                return apex
        return None

    def answer(self, qname: Labels, qtype: int, qclass: int) -> DNSRecord | None:
        """The authoritative reply for a lower-case question, None if the name is not ours."""
        apex = self.apex_of(qname)
        if apex is None:
            return None
        reply = DNSRecord(
            DNSHeader(qr=1, aa=1, ra=1),
            q=DNSQuestion(DNSLabel(qname), qtype, qclass),
        )
        if qclass not in (CLASS_IN, CLASS_ANY):
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return reply
        rrsets = self._rrsets.get(qname)
        if rrsets is None and qname not in self._existing:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self._soa(apex, negative=True))
            return reply
        rrsets = rrsets or {}
        if qtype == QTYPE.ANY:
            found = [rr for rtype in sorted(rrsets) for rr in rrsets[rtype]]
        else:
            found = list(rrsets.get(qtype, []))
        if not found:
            reply.add_auth(self._soa(apex, negative=True))
            return reply
        for rr in found:
            reply.add_answer(rr)
        if qtype == QTYPE.NS:
            for rr in self._rrsets.get(self._master_labels(), {}).get(QTYPE.A, []):
                reply.add_ar(rr)
        return reply

    def _master_labels(self) -> Labels:
        return (b"master", *self.apexes[0])

    def _soa(self, apex: Labels, negative: bool = False) -> RR:
        """The SOA; in negative answers its TTL is the negative TTL (RFC 2308 §3)."""
        s = self.settings
        return RR(
            DNSLabel(apex),
            QTYPE.SOA,
            ttl=min(s.soa_ttl, s.negative_ttl) if negative else s.soa_ttl,
            rdata=SOA(
                DNSLabel(self._master_labels()),
                DNSLabel((b"hostmaster", *self.apexes[0])),
                (self.serial, 3600, 600, 86400, s.negative_ttl),
            ),
        )

    def _rebuild(self, bump: bool) -> None:
        if bump:
            self.serial = (self.serial + 1) & 0xFFFFFFFF
        s = self.settings
        domain = self.apexes[0]
        rrsets: dict[Labels, dict[int, list[RR]]] = {}

        def add(owner: Labels, rtype: int, rdata: object, ttl: int) -> None:
            rr = RR(DNSLabel(owner), rtype, ttl=ttl, rdata=rdata)
            rrsets.setdefault(owner, {}).setdefault(rtype, []).append(rr)

        for apex in self.apexes:
            rrsets.setdefault(apex, {})[QTYPE.SOA] = [self._soa(apex)]
            add(apex, QTYPE.NS, NS(DNSLabel(self._master_labels())), s.soa_ttl)
        for name in s.master_names:
            add((name.encode(), *domain), QTYPE.A, A(str(s.master_address)), s.ttl)
        if s.master_address in s.subnet:
            add(
                reverse_labels(s.master_address),
                QTYPE.PTR,
                PTR(DNSLabel(self._master_labels())),
                s.ttl,
            )
        existing: set[Labels] = set()
        for name in sorted(self._nodes):
            node = self._nodes[name]
            if not _LABEL.match(name) or name in s.master_names:
                continue  # the registry only hands out valid labels; never shadow the master
            owner = (name.encode(), *domain)
            existing.add(owner)
            if node.address is None:
                continue
            add(owner, QTYPE.A, A(str(node.address)), s.ttl)
            if node.address in s.subnet:
                add(reverse_labels(node.address), QTYPE.PTR, PTR(DNSLabel(owner)), s.ttl)
        # Every owner and every name between an owner and its apex exists.
        for owner in list(rrsets) + list(existing):
            owner_apex = self.apex_of(owner)
            depth = len(owner_apex) if owner_apex else len(owner)
            for cut in range(0, len(owner) - depth + 1):
                existing.add(owner[cut:])
        self._rrsets = rrsets
        self._existing = existing
