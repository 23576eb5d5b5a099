"""Address pools of the engine's subnets (pure bookkeeping, addresses as ints).

Allocation order for a client with no address of its own: first never-used
addresses (walked by a cursor, each is probed before it is offered), then
addresses that were used but whose holder let them go, oldest first (so a
returning client most likely still finds its old address free).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network


def ip_int(address: IPv4Address | bytes) -> int:
    """An address as an int."""
    return int(address) if isinstance(address, IPv4Address) else int.from_bytes(address, "big")


def ip_bytes(address: int) -> bytes:
    """An int address as 4 wire bytes."""
    return address.to_bytes(4, "big")


def ip_text(address: int) -> str:
    """An int address in dotted form."""
    return str(IPv4Address(address))


@dataclass
class Pool:
    """The dynamic range of one subnet."""

    first: int
    """First address of the range (inclusive)."""
    last: int
    """Last address of the range (inclusive)."""
    excluded: set[int] = field(default_factory=set)
    """Addresses never handed out dynamically (the server, fixed reservations)."""
    cursor: int = -1
    """Next never-used candidate; starts at `first`."""
    reusable: deque[int] = field(default_factory=deque)
    """Used addresses that became free, oldest first (entries re-checked when taken)."""
    quarantine: dict[int, float] = field(default_factory=dict)
    """Declined or conflicting addresses and when their probation ends."""

    def __post_init__(self) -> None:
        if self.cursor < 0:
            self.cursor = self.first

    def contains(self, address: int) -> bool:
        """True if `address` is in the dynamic range."""
        return self.first <= address <= self.last

    def usable(self, address: int) -> bool:
        """In range, not excluded and not quarantined."""
        return self.contains(address) and address not in self.excluded and address not in self.quarantine

    def next_never_used(self, used: Mapping[int, object]) -> int | None:
        """The next address nobody has ever held (per `used`), advancing the cursor."""
        while self.cursor <= self.last:
            address = self.cursor
            self.cursor += 1
            if address not in used and self.usable(address):
                return address
        return None

    def release(self, address: int) -> None:
        """A used address became free again."""
        if self.contains(address):
            self.reusable.append(address)

    def release_quarantined(self, now: float) -> list[int]:
        """End probation of addresses whose time is up; they become reusable."""
        done = [a for a, until in self.quarantine.items() if until <= now]
        for address in done:
            del self.quarantine[address]
            self.reusable.append(address)
        return done


@dataclass
class Subnet:
    """One subnet served: its network, what clients are told, and its pool."""

    network: IPv4Network
    """The subnet."""
    router: IPv4Address | None
    """Option 3 (None: not sent)."""
    pool: Pool
    """The dynamic range."""
    params: dict[int, bytes] = field(default_factory=dict)
    """Option values clients of this subnet may ask for (filled by the engine)."""
    first: int = 0
    """Network address as an int (derived)."""
    last: int = 0
    """Broadcast address as an int (derived)."""
    reply_templates: dict[tuple[int, bytes, int | None, bytes | None], dict[int, bytes]] = field(
        default_factory=dict, repr=False, compare=False)
    """Reply options by (message type, server id, lease time, option 55), kept by
    netd.dhcp.replies (most replies of a cluster share one or two shapes)."""

    def __post_init__(self) -> None:
        self.first = int(self.network.network_address)
        self.last = int(self.network.broadcast_address)

    def contains(self, address: int) -> bool:
        """True if `address` lies in this subnet."""
        return self.first <= address <= self.last

    @property
    def mask(self) -> bytes:
        """Option 1 value."""
        return self.network.netmask.packed

    @property
    def broadcast(self) -> bytes:
        """Option 28 value."""
        return self.network.broadcast_address.packed
