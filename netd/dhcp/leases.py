"""In-memory lease table of the engine: one compact record per client, indexed by
identity and by address, with an expiry heap so reclaiming is O(log n) per lease.

A client keeps its address as *affinity* after its lease ends (released or
expired): it gets the same address back unless the pool had to hand it to
someone else. Records use __slots__ and addresses are ints, so 50,000 clients
fit in a few tens of MB.
"""

from __future__ import annotations

import heapq

OFFERED = 1
"""An address is held for a client between DISCOVER and REQUEST (includes probing)."""
BOUND = 2
"""The client holds an ACKed lease."""
RELEASED = 3
"""The client gave the address back (affinity kept)."""
EXPIRED = 4
"""The lease ran out (affinity kept)."""
STATE_NAMES = {OFFERED: "offered", BOUND: "bound", RELEASED: "released", EXPIRED: "expired"}
CLIENT_ID_PREFIX = b"\xff"
TYPE1_CLIENT_ID = CLIENT_ID_PREFIX + b"\x01"


def identity_key(client_id: bytes | None, mac: bytes) -> bytes:
    """A client is its client-id when it sends one, else its hardware address (RFC 4361 §6.3).

    A unicast Ethernet MAC is its own key (no second bytes object per client: 50,000 of
    them cost 2 MB); every other key starts with an odd byte (0xff for a client-id, 'm' for
    other hardware addresses), which a unicast MAC's first octet never is.
    """
    if client_id is not None:
        return CLIENT_ID_PREFIX + client_id
    if len(mac) == 6 and not mac[0] & 1:
        return mac
    return b"m" + mac


class Client:
    """One client the server knows: its identity, name and (held or remembered) address."""

    __slots__ = ("key", "_mac", "name", "hostname", "address", "state", "expires", "probe_token")

    def __init__(self, key: bytes, mac: bytes, name: str | int) -> None:
        self.key = key
        """identity_key() of this client (it also carries the client-id, see `client_id`)."""
        # Most client-ids are hardware type 1 + the MAC (RFC 2132 §9.14): then the MAC is
        # read from the key instead of being stored twice (2 MB per 50,000 clients).
        self._mac: bytes | None = None if key[2:] == mac and key[:2] == TYPE1_CLIENT_ID else mac
        self.name = name
        """Node name: a reservation's name, or the number n of node_name_pattern (an int
        costs half the memory of the string; Engine.node_name formats it)."""
        self.hostname: str | None = None
        """Option 12, only when it was a valid DNS label."""
        self.address: int | None = None
        """Held (OFFERED/BOUND) or remembered (RELEASED/EXPIRED) address."""
        self.state = EXPIRED
        """OFFERED, BOUND, RELEASED or EXPIRED."""
        self.expires = 0.0
        """When the offer hold or the lease ends (unix time)."""
        self.probe_token = 0
        """Non-zero while an address probe for this client is outstanding."""

    @property
    def mac(self) -> bytes:
        """Hardware address (chaddr)."""
        return self._mac if self._mac is not None else self.key[2:]

    @property
    def client_id(self) -> bytes | None:
        """Option 61, if the client sends one (kept inside the key, not twice)."""
        return self.key[1:] if self.key[:1] == CLIENT_ID_PREFIX else None

    def holds(self, now: float) -> bool:
        """True while this client's address may not go to anyone else."""
        return self.address is not None and self.state in (OFFERED, BOUND) and self.expires > now


class LeaseTable:
    """Clients by identity and by address, plus the expiry heap."""

    def __init__(self) -> None:
        self.clients: dict[bytes, Client] = {}
        self.by_address: dict[int, Client] = {}
        # Heap of (ceil(expires) << 32 | address): one int per entry keeps 50,000 leases small.
        self._expiry: list[int] = []

    def get(self, key: bytes) -> Client | None:
        """The client with this identity, if known."""
        return self.clients.get(key)

    def add(self, client: Client) -> None:
        """Start tracking a client."""
        self.clients[client.key] = client

    def rekey(self, client: Client, key: bytes) -> None:
        """A client known by its MAC began sending a client-id: move it to its new identity."""
        del self.clients[client.key]
        client.key = key
        self.clients[key] = client

    def holder(self, address: int) -> Client | None:
        """The client that holds or remembers `address`."""
        return self.by_address.get(address)

    def assign(self, client: Client, address: int, state: int, expires: float) -> int | None:
        """Give `address` to `client` (taking it from whoever remembered it); return the
        address the client let go of, if it moved, so the caller can put it back in the pool.

        Only leases go on the expiry heap; offers lapse lazily (see Engine._reclaim_lapsed_offers),
        which keeps one heap entry per lease instead of two.
        """
        released = None
        old = client.address
        if old is not None and old != address and self.by_address.get(old) is client:
            del self.by_address[old]
            released = old
        previous = self.by_address.get(address)
        if previous is not None and previous is not client:
            previous.address = None
        client.address = address
        client.state = state
        client.expires = expires
        self.by_address[address] = client
        if state != OFFERED:
            heapq.heappush(self._expiry, (int(expires) + 1) << 32 | address)
        return released

    def lapsed_offers(self, now: float) -> list[Client]:
        """Clients whose offer hold ran out (a full scan: used only when a pool runs dry)."""
        return [c for c in self.by_address.values() if c.state == OFFERED and c.expires <= now
                and not c.probe_token]

    def forget_address(self, client: Client) -> None:
        """Drop the client's hold and affinity (e.g. after DECLINE)."""
        if client.address is not None and self.by_address.get(client.address) is client:
            del self.by_address[client.address]
        client.address = None
        client.state = EXPIRED
        client.expires = 0.0

    def due(self, now: float) -> list[Client]:
        """Clients whose lease ran out by `now` (each returned once)."""
        found = []
        heap = self._expiry
        limit = int(now) << 32 | 0xFFFFFFFF
        while heap and heap[0] <= limit:
            address = heapq.heappop(heap) & 0xFFFFFFFF
            client = self.by_address.get(address)
            if client is not None and client.state == BOUND and client.expires <= now:
                found.append(client)
        return found

    def bound_count(self, now: float) -> int:
        """How many clients hold an unexpired lease."""
        return sum(1 for c in self.clients.values() if c.state == BOUND and c.expires > now)
