"""Pod-slice allocation for one batch of lease events, with what the batch already learned.

`nodes.allocate_pod_cidr` answers "which slice does this node get?" from
scratch every time. A batch of lease events asks it hundreds of times in one
transaction, so this book learns once per batch which prefix lengths are
stored (a few index seeks) and, only if a full view is needed, which slices
every stored CIDR blocks (one scan), and keeps both current as the batch
allocates. The answer is the same: the preferred slice if no other node's
stored CIDR overlaps it, else the lowest free one (podcidr.choose_slice over
the slices taken by all other nodes).
"""

from __future__ import annotations

import functools
import socket
import sqlite3
from collections import Counter
from ipaddress import IPv4Network

from foundation.registry import podcidr
from foundation.registry.schema import POD_PREFIX_EXPR

_NEXT_PREFIX = (
    f"SELECT {POD_PREFIX_EXPR} FROM nodes WHERE pod_cidr IS NOT NULL AND {POD_PREFIX_EXPR} > ? "
    f"ORDER BY {POD_PREFIX_EXPR} LIMIT 1"
)


@functools.lru_cache(maxsize=4096)
def stored_slice(pod_cidr: IPv4Network, node_cidr_mask: int, text: str) -> IPv4Network | None:
    """The stored CIDR `text` if it is exactly one slice of the pod network (kept), else None.

    Cached: every renewal asks it for the node's slice, and parsing a network costs more
    than the rest of a renewal's Python work.
    """
    network = IPv4Network(text)
    return network if podcidr.slice_index(pod_cidr, node_cidr_mask, network) is not None else None


class SliceBook:
    """The taken pod slices as one transaction sees them, learned lazily and kept current."""

    def __init__(self, cursor: sqlite3.Cursor, pod_cidr: IPv4Network, node_cidr_mask: int) -> None:
        # Caller checks that node_cidr_mask fits pod_cidr (slice_count raises otherwise).
        self._cursor = cursor
        self._pod = pod_cidr
        self._mask = node_cidr_mask
        self._count = podcidr.slice_count(pod_cidr, node_cidr_mask)
        self._base = int(pod_cidr.network_address)
        self._prefixes: set[int] | None = None
        """Prefix lengths of stored CIDRs (a superset: lengths that left stay here)."""
        self._holders: Counter[int] | None = None
        """Slice index → how many stored CIDRs overlap it (built only when needed)."""
        self._free_from = 1
        """Every worker slice below this is taken (valid while _holders is built)."""

    def allocate(self, node_id: int, old_text: str | None, name: str, master: bool) -> IPv4Network:
        """The slice for node `node_id` (0: a new node) now called `name`, noted as taken.

        `old_text` is the CIDR the node stores now (it blocks nothing for itself,
        and is released). Raises RegistryError when no slice is free. The caller
        must then write the returned slice (or abandon the whole transaction).
        """
        preferred = 0 if master else podcidr.preferred_index(name)
        lowest = 0 if master else 1
        wanted = preferred is not None and lowest <= preferred < self._count
        own = podcidr.blocked_range(self._pod, self._mask, old_text) if old_text else range(0)
        index = None
        if wanted:
            assert preferred is not None
            if self._holders is None:
                if self._preferred_free(preferred, node_id):
                    index = preferred
            elif not self._taken(preferred, own):
                index = preferred
        if index is None:
            if self._holders is None:
                self._learn_holders()
            if wanted and preferred is not None and not self._taken(preferred, own):
                index = preferred
            else:
                index = self._lowest_free(lowest, own)
        self._note(index, old_text, own)
        return podcidr.slice_at(self._pod, self._mask, index)

    def _preferred_free(self, preferred: int, node_id: int) -> bool:
        """No other stored CIDR overlaps the slice, by exact lookups (False: ask the full view).

        An overlapping CIDR either contains the slice (then it is the slice's supernet
        of one of the stored prefix lengths) or lies inside it (a longer prefix).
        """
        if self._prefixes is None:
            self._prefixes = self._learn_prefixes()
        if any(prefix > self._mask for prefix in self._prefixes):
            return False
        start = self._base + (preferred << (32 - self._mask))
        holders = [
            f"{socket.inet_ntoa((start & (0xFFFFFFFF << (32 - p)) & 0xFFFFFFFF).to_bytes(4, 'big'))}/{p}"
            for p in sorted(self._prefixes)
        ]
        if not holders:
            return True
        placeholders = ",".join("?" * len(holders))
        row = self._cursor.execute(
            f"SELECT 1 FROM nodes WHERE pod_cidr IN ({placeholders}) AND id != ? LIMIT 1",
            (*holders, node_id),
        ).fetchone()
        return row is None

    def _learn_prefixes(self) -> set[int]:
        """The distinct stored prefix lengths: one index seek each (usually one or two)."""
        prefixes: set[int] = set()
        last = -1
        while True:
            row = self._cursor.execute(_NEXT_PREFIX, (last,)).fetchone()
            if row is None:
                return prefixes
            last = int(row[0])
            prefixes.add(last)

    def _learn_holders(self) -> None:
        holders: Counter[int] = Counter()
        rows = self._cursor.execute("SELECT pod_cidr FROM nodes WHERE pod_cidr IS NOT NULL")
        for (text,) in rows:
            holders.update(podcidr.blocked_range(self._pod, self._mask, text))
        self._holders = holders
        self._free_from = 1

    def _taken(self, index: int, own: range) -> bool:
        assert self._holders is not None
        return self._holders[index] > (1 if index in own else 0)

    def _lowest_free(self, lowest: int, own: range) -> int:
        # Without a released range of its own, a worker may skip what is known taken.
        hinted = lowest == 1 and not own
        start = max(lowest, self._free_from) if hinted else lowest
        for index in range(start, self._count):
            if not self._taken(index, own):
                if hinted:
                    self._free_from = index
                return index
        if hinted:
            self._free_from = self._count
        raise podcidr.no_free_slice(self._pod, self._mask)

    def _note(self, index: int, old_text: str | None, own: range) -> None:
        if self._prefixes is not None:
            self._prefixes.add(self._mask)
        if self._holders is not None:
            self._holders[index] += 1
            if old_text is not None:
                self._holders.subtract(own)
                self._free_from = 1
