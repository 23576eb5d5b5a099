"""The daemon's link to the registry: lease events in, node events out.

The registry (SQLite) is the one source of truth. The DHCP service publishes
LeaseEvents; this link records them in batches (one transaction, one fsync
per batch) and then publishes a NodeEvent for every node that changed, which
DNS and routes follow. It also records the master itself (slice 0 of the pod
network) and answers `ctx.known_nodes()` snapshots.

SQLite work runs on one dedicated thread so that an fsync never stalls the
asyncio loop that answers DHCP and DNS.

Changes other processes commit (the CLI's `nodes forget`, approve, rename;
the API's writes) reach the daemon this way: every POLL_INTERVAL the link
asks SQLite for `PRAGMA data_version`, which changes exactly when another
connection committed. Only then does it list the nodes, compare them with
what it last published and publish the difference (REMOVED for a forgotten
node, UPSERTED for a changed one). No IPC, no signal: the registry stays the
one channel, and the CLI needs no running daemon to do its job.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address, IPv4Network

from foundation import registry
from foundation.records import LeaseEvent, NodeChange, NodeEvent, NodeRecord
from netd.bus import Resync
from netd.quiet_log import QuietWarning
from netd.service import NetdContext

log = logging.getLogger(__name__)

MASTER_NAME = "master"
"""The master's node name in the registry (DNS answers it too)."""

BATCH_LIMIT = 512
"""Most lease events recorded in one transaction."""

GATHER_SECONDS = 0.05
"""How long the link lets lease events gather after the first one before it records them:
one registry transaction (one fsync) per gathering instead of one per DHCP group commit.
A new node reaches DNS and routes this much later, which no client notices (its ACK does
not wait for the registry: the DHCP journal is what makes the lease durable). At 4,000 new
clients/s this cut the daemon's CPU per lease from ~120 us to ~94 us (bench_dhcp --quick)."""

CACHE_KIB = 512
"""SQLite page cache of the daemon's registry connection (the default is 2,000 KiB)."""

POLL_INTERVAL = 0.5
"""Seconds between checks for registry commits made by other processes (e.g. `nodes forget`)."""


def node_changes(before: Mapping[str, NodeRecord], after: Mapping[str, NodeRecord]) -> list[NodeEvent]:
    """The node events that turn the view `before` into `after` (removals first, then by name)."""
    removed = [NodeEvent(NodeChange.REMOVED, before[name]) for name in sorted(before.keys() - after.keys())]
    upserted = [NodeEvent(NodeChange.UPSERTED, after[name]) for name in sorted(after)
                if before.get(name) != after[name]]
    return removed + upserted


CompactNode = int | tuple[int, str]
"""A NodeRecord without its name, packed into one int: bits 0-32 the address (bit 32 set
when there is one), 33-71 the pod CIDR (network << 6 | prefix, bit 38 set when there is
one), 72 up the MAC (bytes << 5 | length, then a presence bit). A MAC that is not in
canonical lower-case colon form rides along as text: (packed without it, MAC)."""


def compact_node(record: NodeRecord) -> CompactNode:
    """The record in a fraction of the memory (no address objects, no strings)."""
    packed = 0
    if record.address is not None:
        packed = int(record.address) | 1 << 32
    pod = record.pod_cidr
    if pod is not None:
        packed |= (int(pod.network_address) << 6 | pod.prefixlen | 1 << 38) << 33
    mac = record.mac
    if mac is None:
        return packed
    try:
        raw = bytes.fromhex(mac.replace(":", ""))
    except ValueError:
        raw = None
    if raw is None or raw.hex(":") != mac or len(raw) > 31:
        return packed, mac
    return packed | ((int.from_bytes(raw, "big") << 5 | len(raw)) << 1 | 1) << 72


def expand_node(name: str, row: CompactNode) -> NodeRecord:
    """The NodeRecord `compact_node` was made from."""
    mac: str | None = None
    if isinstance(row, tuple):
        row, mac = row
    address = IPv4Address(row & 0xFFFFFFFF) if row >> 32 & 1 else None
    pod = row >> 33 & (1 << 39) - 1
    pod_cidr = IPv4Network((pod >> 6 & 0xFFFFFFFF, pod & 63)) if pod >> 38 & 1 else None
    packed_mac = row >> 72
    if packed_mac & 1:
        length = packed_mac >> 1 & 31
        mac = (packed_mac >> 6).to_bytes(length, "big").hex(":")
    return NodeRecord(name=name, address=address, mac=mac, pod_cidr=pod_cidr)


class KnownNodes:
    """Every node as last published, kept compact: the link remembers each node the DHCP
    server ever named, and 50,000 NodeRecords with their address objects cost ~27 MB
    where names and packed ints cost ~7 MB (bench_dhcp's memory figure holds that many)."""

    def __init__(self) -> None:
        self._rows: dict[str, CompactNode] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, name: str) -> NodeRecord | None:
        """The node called `name` as last published, or None."""
        row = self._rows.get(name)
        return expand_node(name, row) if row is not None else None

    def update(self, records: list[NodeRecord]) -> None:
        """Remember records just published."""
        for record in records:
            self._rows[record.name] = compact_node(record)

    def replace_with(self, current: list[NodeRecord]) -> list[NodeEvent]:
        """The node events that turn the known view into `current`, which becomes the view."""
        before = {name: expand_node(name, row) for name, row in self._rows.items()}
        events = node_changes(before, {record.name: record for record in current})
        self._rows = {record.name: compact_node(record) for record in current}
        return events


class RegistryLink:
    """Records lease events in the registry and publishes the resulting node events."""

    name = "registry"

    def __init__(self, ctx: NetdContext, poll_interval: float = POLL_INTERVAL,
                 gather: float = GATHER_SECONDS) -> None:
        self._ctx = ctx
        self._poll_interval = poll_interval
        self._gather = gather
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry")
        self._conn: sqlite3.Connection | None = None
        self._queue = ctx.bus.subscribe()
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._known = KnownNodes()
        """Every node as last published (updated on the registry thread only)."""
        self._data_version: int | None = None
        self.failures = 0
        """Lease events the registry refused (logged, at most 10 lines a minute; never fatal)."""
        self._warn_refused = QuietWarning(log)

    async def start(self) -> None:
        """Open the registry, record the master, and start following lease events."""
        await self._run(self._open)
        self._task = asyncio.create_task(self._follow(), name="registry-link")
        self._watch = asyncio.create_task(self._watch_others(), name="registry-watch")

    async def stop(self) -> None:
        """Record what is queued, then close the registry."""
        for task in (self._watch, self._task):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        pending = self._drain()
        if pending:
            await self._record(pending)
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    def known_nodes(self) -> list[NodeRecord]:
        """Snapshot of every node (blocking; called from services at start and on Resync)."""
        return self._executor.submit(self._list).result()

    async def _run(self, function, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _open(self) -> None:
        config = self._ctx.config
        self._conn = registry.open_registry(self._ctx.state_dir, check_same_thread=False)
        # The daemon's writes touch a few index pages per node; SQLite's default 2 MB page
        # cache would fill with pages of a large registry that are rarely read again.
        self._conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        registry.ensure_master(
            self._conn, name=MASTER_NAME, address=config.network.master_address,
            pod_cidr=config.kubernetes.pod_cidr, node_cidr_mask=config.kubernetes.node_cidr_mask,
            now=time.time(),
        )  # fmt: skip
        self._changes_from_others()  # the starting view (services take their snapshot after this)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _list(self) -> list[NodeRecord]:
        assert self._conn is not None, "registry link not started"
        return registry.list_node_records(self._conn)

    def _record_batch(self, events: list[LeaseEvent]) -> list[NodeRecord]:
        assert self._conn is not None, "registry link not started"
        config = self._ctx.config
        records, failures = registry.record_lease_events(
            self._conn, events, pod_cidr=config.kubernetes.pod_cidr,
            node_cidr_mask=config.kubernetes.node_cidr_mask, now=time.time(),
        )  # fmt: skip
        for event, error in failures:
            self.failures += 1
            self._warn_refused.warn(time.monotonic(), "registry refused lease event for %s (%s): %s",
                                    event.address, event.mac, error)
        self._known.update(records)
        return records

    def _changes_from_others(self) -> list[NodeEvent]:
        """Node events for what other connections committed since the last call (none: cheap)."""
        assert self._conn is not None, "registry link not started"
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        if version == self._data_version:
            return []
        self._data_version = version
        return self._known.replace_with(registry.list_node_records(self._conn))

    def _drain(self) -> list[LeaseEvent]:
        events: list[LeaseEvent] = []
        while not self._queue.empty() and len(events) < BATCH_LIMIT:
            item = self._queue.get_nowait()
            if isinstance(item, LeaseEvent):
                events.append(item)
        return events

    async def _record(self, events: list[LeaseEvent]) -> None:
        records = await self._run(self._record_batch, events)
        for record in records:
            self._ctx.bus.publish(NodeEvent(NodeChange.UPSERTED, record))

    async def _watch_others(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                for event in await self._run(self._changes_from_others):
                    if event.change is NodeChange.REMOVED:
                        log.info("registry: node %s was removed by another process", event.node.name)
                    self._ctx.bus.publish(event)
            except Exception:  # a busy or failing registry must not stop the daemon; retried next poll
                log.exception("checking the registry for changes by other processes failed")

    async def _follow(self) -> None:
        while True:
            first = await self._queue.get()
            if isinstance(first, Resync):
                # We fell behind the DHCP server: the missed leases stay in its journal and
                # reach the registry again at their next renewal (at most lease_time / 2).
                self.failures += 1
                log.warning("registry link fell behind lease events; they are recorded at renewal")
                continue
            if not isinstance(first, LeaseEvent):
                continue
            if self._queue.qsize() < BATCH_LIMIT:
                await asyncio.sleep(self._gather)
            batch = [first, *self._drain()]
            try:
                await self._record(batch)
            except Exception:  # the daemon keeps serving; the error is logged and counted
                self.failures += len(batch)
                log.exception("recording %d lease events failed", len(batch))
