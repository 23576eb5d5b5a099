"""What goes into and out of the sans-I/O lease engine: settings, events, commands,
and the durable lease record written to the journal."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address

from foundation.config.model import Config
from foundation.records import LeaseEvent
from netd.dhcp.options import from_colon_hex
from netd.dhcp.pool import Pool, Subnet, ip_int
from netd.dhcp.wire import Packet


@dataclass(frozen=True)
class Reservation:
    """A name, and optionally a fixed address, pinned to a MAC or a client-id."""

    name: str
    """Node name."""
    mac: bytes | None
    """Hardware address to match (chaddr)."""
    client_id: bytes | None
    """Option 61 to match."""
    address: int | None
    """Fixed address, or None for one from the pool."""


@dataclass
class EngineSettings:
    """Everything the engine needs to know about the network it serves."""

    server_id: bytes
    """Our address on the LAN (option 54), 4 bytes."""
    subnets: list[Subnet]
    """Served subnets; the first one is the directly attached LAN (non-relayed clients)."""
    dns_servers: bytes = b""
    """Option 6 value (concatenated addresses)."""
    domain: bytes = b""
    """Option 15 value."""
    lease_time: int = 600
    """Lease length when the client does not ask for one (seconds)."""
    max_lease_time: int = 7200
    """Longest lease granted (seconds)."""
    min_lease_time: int = 60
    """Shortest lease granted, so a hostile client cannot make us churn (seconds)."""
    reservations: list[Reservation] = field(default_factory=list)
    """Reservations from cluster.yaml `nodes:`."""
    name_pattern: str = "node-{n}"
    """Names of new clients, `{n}` counting from 1 in order of first contact."""
    offer_hold: float = 60.0
    """How long an offered address stays held for the client (seconds)."""
    decline_probation: float = 3600.0
    """How long a declined or conflicting address is kept out of the pool (seconds)."""
    probe: bool = True
    """Probe never-used addresses (ARP or ICMP) before offering them."""
    probe_burst: int = 256
    """Probes that may leave at once (a token bucket): a whole rack of Pis booting together
    is probed address by address. The bucket also bounds the probes outstanding at any
    time (burst + rate x probe timeout)."""
    probe_rate: float = 64.0
    """Probes per second once the burst is spent. Past it (a DISCOVER storm: hundreds of
    new clients a second) new addresses are offered unprobed, as dnsmasq does in its
    high-load mode, because every probe is a broadcast that every host on the LAN must
    handle: a storm of spoofed MACs must not become an ARP storm. The client's own
    conflict check (RFC 5227) and DECLINE still keep a squatted address out."""

    @classmethod
    def from_config(cls, config: Config) -> EngineSettings:
        """Settings for the single LAN subnet of cluster.yaml."""
        net = config.network
        reservations = [
            Reservation(
                name=node.name,
                mac=from_colon_hex(node.mac) if node.mac else None,
                client_id=from_colon_hex(node.client_id) if node.client_id else None,
                address=ip_int(node.address) if node.address else None,
            )
            for node in config.nodes
        ]
        excluded = {ip_int(net.master_address)} | {r.address for r in reservations if r.address}
        pool = Pool(first=ip_int(net.dhcp_range[0]), last=ip_int(net.dhcp_range[1]), excluded=excluded)
        subnet = Subnet(network=net.subnet, router=net.master_address, pool=pool)
        return cls(
            server_id=net.master_address.packed,
            subnets=[subnet],
            dns_servers=net.master_address.packed,
            domain=config.cluster.domain.encode("ascii"),
            lease_time=net.lease_time,
            max_lease_time=net.max_lease_time,
            min_lease_time=min(60, net.lease_time),
            reservations=reservations,
            name_pattern=net.node_name_pattern,
        )


# ----- events (into the engine) -----

@dataclass(slots=True)
class PacketReceived:
    """A parsed DHCP message arrived on the LAN interface."""

    packet: Packet
    """The message."""


@dataclass(slots=True)
class ProbeResult:
    """The loop finished probing an address the engine asked about."""

    token: int
    """ProbeAddress.token this answers."""
    in_use: bool
    """Something answered: the address is taken."""


@dataclass(slots=True)
class Tick:
    """Time passed: reclaim expired leases and offers, end quarantines."""


Event = PacketReceived | ProbeResult | Tick


# ----- commands (out of the engine) -----

@dataclass(slots=True)
class Destination:
    """Where a reply goes (RFC 2131 §4.1)."""

    ip: bytes
    """Destination address (255.255.255.255 for broadcast)."""
    port: int
    """67 to a relay, 68 to a client."""
    mac: bytes | None = None
    """Set when the client has no address yet: send an Ethernet frame straight to this MAC."""


@dataclass(slots=True)
class SendReply:
    """Send a reply; an ACK that grants a lease only after the turn's records are on disk."""

    packet: Packet
    """The reply."""
    destination: Destination
    """Where to."""
    max_size: int
    """Largest DHCP payload the client accepts."""
    after_commit: bool = False
    """True for lease ACKs: hold until the group commit. Offers, NAKs and INFORM answers
    promise nothing durable, so they leave at once (which also spreads replies out)."""


@dataclass(slots=True)
class ProbeAddress:
    """Check whether anybody answers on `address`; report a ProbeResult with `token`."""

    token: int
    """Echoed in the ProbeResult."""
    address: IPv4Address
    """Address to probe."""
    on_link: bool
    """True: ARP on the LAN interface; False (behind a relay): ICMP echo."""


@dataclass(slots=True)
class LeaseRecord:
    """One durable lease fact; the journal replays them in order, later ones win."""

    state: int
    """leases.BOUND, leases.RELEASED or DECLINED."""
    address: int
    """The address."""
    mac: bytes
    """Client hardware address."""
    client_id: bytes | None
    """Client identifier (option 61), if sent."""
    name: str
    """Node name."""
    hostname: str | None
    """Validated option 12."""
    expires: float
    """Lease end (BOUND/RELEASED) or end of quarantine (DECLINED)."""


DECLINED = 5
"""LeaseRecord.state of a declined address (in quarantine until `expires`)."""


@dataclass(slots=True)
class Persist:
    """Append this record to the journal; it must be fsync'd before this turn's replies leave."""

    record: LeaseRecord
    """What to write."""


@dataclass(slots=True)
class Publish:
    """Publish a lease event on the daemon's bus (after the turn's records are durable)."""

    event: LeaseEvent
    """The event."""


Command = SendReply | ProbeAddress | Persist | Publish
