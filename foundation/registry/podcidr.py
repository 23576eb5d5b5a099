"""Pure pod-CIDR slicing: which `node_cidr_mask` slice of the pod network a node gets.

Slice i of 10.244.0.0/16 with mask 24 is 10.244.i.0/24. The master gets
slice 0; a node whose name ends in a number N (node-3) prefers slice N, so
addresses read naturally (10.244.3.0/24 is node-3's); otherwise, or when
that slice is taken, the lowest free slice from 1 up is used. No I/O here:
the registry calls this inside a write transaction with the taken slices.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Collection, Iterable
from ipaddress import IPv4Network

from foundation.errors import RegistryError

_TRAILING_NUMBER = re.compile(r"(\d+)$")


def slice_count(pod_cidr: IPv4Network, node_cidr_mask: int) -> int:
    """How many node slices the pod network holds."""
    if not pod_cidr.prefixlen <= node_cidr_mask <= 32:
        raise RegistryError(
            f"node_cidr_mask {node_cidr_mask} does not fit pod_cidr {pod_cidr} — "
            f"kubernetes.node_cidr_mask must be between {pod_cidr.prefixlen} and 32"
        )
    return 1 << (node_cidr_mask - pod_cidr.prefixlen)


def slice_at(pod_cidr: IPv4Network, node_cidr_mask: int, index: int) -> IPv4Network:
    """Slice number `index` (0-based) of the pod network."""
    if not 0 <= index < slice_count(pod_cidr, node_cidr_mask):
        raise ValueError(f"slice {index} is outside {pod_cidr} split into /{node_cidr_mask}")
    size = 1 << (32 - node_cidr_mask)
    return IPv4Network((int(pod_cidr.network_address) + index * size, node_cidr_mask))


def slice_index(pod_cidr: IPv4Network, node_cidr_mask: int, cidr: IPv4Network) -> int | None:
    """The index of `cidr` if it is exactly one slice of the pod network, else None."""
    if cidr.prefixlen != node_cidr_mask or not cidr.subnet_of(pod_cidr):
        return None
    return (int(cidr.network_address) - int(pod_cidr.network_address)) >> (32 - node_cidr_mask)


def overlapped_slices(pod_cidr: IPv4Network, node_cidr_mask: int, other: IPv4Network) -> range:
    """Indices of the slices of the pod network that `other` overlaps (empty if none)."""
    if not other.overlaps(pod_cidr):
        return range(0)
    host_bits = 32 - node_cidr_mask
    base = int(pod_cidr.network_address)
    first = max(int(other.network_address), base) - base
    last = min(int(other.broadcast_address), int(pod_cidr.broadcast_address)) - base
    return range(first >> host_bits, (last >> host_bits) + 1)


def taken_slices(pod_cidr: IPv4Network, node_cidr_mask: int, stored: Iterable[str]) -> set[int]:
    """Indices blocked by stored CIDR texts (`a.b.c.d/p`): `overlapped_slices` on plain ints.

    Runs for every allocation over every node, so it avoids building
    IPv4Network objects (a property test checks it against overlapped_slices).
    """
    taken: set[int] = set()
    for text in stored:
        taken.update(blocked_range(pod_cidr, node_cidr_mask, text))
    return taken


def blocked_range(pod_cidr: IPv4Network, node_cidr_mask: int, text: str) -> range:
    """Indices of the slices one stored CIDR text (`a.b.c.d/p`) overlaps (empty if none)."""
    host_bits = 32 - node_cidr_mask
    base = int(pod_cidr.network_address)
    top = int(pod_cidr.broadcast_address)
    address, _, prefix = text.partition("/")
    start = int.from_bytes(socket.inet_aton(address), "big")
    end = start | ((1 << (32 - int(prefix))) - 1)
    if end < base or start > top:
        return range(0)
    return range((max(start, base) - base) >> host_bits, ((min(end, top) - base) >> host_bits) + 1)


def supernet_texts(cidr: IPv4Network) -> list[str]:
    """`cidr` and every network containing it, as stored texts (`a.b.c.d/p`, p from 0 up).

    Plain int arithmetic: it runs for every allocation (a property test checks
    it against ipaddress' own supernet()).
    """
    start = int(cidr.network_address)
    texts = []
    for prefix in range(cidr.prefixlen + 1):
        network = start & ((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF)
        texts.append(f"{socket.inet_ntoa(network.to_bytes(4, 'big'))}/{prefix}")
    return texts


def preferred_index(node_name: str) -> int | None:
    """The slice a node's name asks for: N for a name ending in N (node-3 → 3), else None."""
    match = _TRAILING_NUMBER.search(node_name)
    return int(match.group(1)) if match else None


def choose_slice(
    pod_cidr: IPv4Network,
    node_cidr_mask: int,
    taken: Collection[int],
    preferred: int | None,
    lowest: int = 1,
) -> int:
    """Pick a free slice index: `preferred` if free and ≥ `lowest`, else the lowest free ≥ `lowest`.

    `lowest` is 0 for the master and 1 for workers (slice 0 stays the master's).
    Raises RegistryError when no slice is free.
    """
    count = slice_count(pod_cidr, node_cidr_mask)
    if preferred is not None and lowest <= preferred < count and preferred not in taken:
        return preferred
    for index in range(lowest, count):
        if index not in taken:
            return index
    raise no_free_slice(pod_cidr, node_cidr_mask)


def no_free_slice(pod_cidr: IPv4Network, node_cidr_mask: int) -> RegistryError:
    """The error of a pod network whose slices are all taken."""
    count = slice_count(pod_cidr, node_cidr_mask)
    return RegistryError(
        f"pod network {pod_cidr} has no free /{node_cidr_mask} slice left ({count} slices, "
        f"all taken) — widen kubernetes.pod_cidr or raise kubernetes.node_cidr_mask"
    )
