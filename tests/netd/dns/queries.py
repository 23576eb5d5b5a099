"""Helpers shared by the DNS tests: building queries and zones with dnslib."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from dnslib import EDNS0, QTYPE, DNSHeader, DNSQuestion, DNSRecord

from foundation.config.model import ClusterSection, Config, NetworkSection
from foundation.records import NodeRecord
from netd.dns.handler import QueryHandler
from netd.dns.zone import Zone, ZoneSettings

CONFIG = Config(
    cluster=ClusterSection(name="picluster", domain="cluster.home"), network=NetworkSection()
)


def node(name: str, address: str | None) -> NodeRecord:
    """A node record as the registry would publish it."""
    return NodeRecord(
        name=name,
        address=IPv4Address(address) if address else None,
        mac=None,
        pod_cidr=IPv4Network("10.244.3.0/24") if address else None,
    )


def make_zone(*nodes: NodeRecord, subnet: str = "10.0.0.0/24") -> Zone:
    """The zone of the default config with these nodes."""
    settings = ZoneSettings.from_config(CONFIG)
    if subnet != "10.0.0.0/24":
        settings = ZoneSettings(
            settings.domain, settings.master_address, settings.master_names, IPv4Network(subnet)
        )
    return Zone(settings, nodes)


def make_handler(*nodes: NodeRecord) -> QueryHandler:
    """A handler over the default zone."""
    return QueryHandler(make_zone(*nodes))


def query(
    name: str,
    qtype: str = "A",
    qid: int = 4660,
    edns: int | None = None,
    do: bool = False,
    rd: bool = True,
    qclass: int = 1,
) -> bytes:
    """A query packed by dnslib (name kept in the given letter case)."""
    record = DNSRecord(
        DNSHeader(id=qid, rd=int(rd)), q=DNSQuestion(name, getattr(QTYPE, qtype), qclass)
    )
    if edns is not None:
        record.add_ar(EDNS0(udp_len=edns, flags="do" if do else ""))
    return bytes(record.pack())
