"""The thin asyncio loop around the lease engine.

One loop turn = read up to BATCH datagrams (the kernel socket buffer is the bounded
queue) and hand each to the engine. Under load the socket is read on a timer every
READ_PACE instead of on each datagram's wake-up (NAPI-style), so a turn carries several
datagrams; when a timed read finds nothing, the loop waits on the socket again. Offers, NAKs, INFORM answers and probes leave at
once. Lease records, ACKs and bus events are held for the group commit: ONE journal
write + fsync for everything held, at most every COMMIT_INTERVAL (so at a high rate
many turns share an fsync), and only then do the ACKs and events follow. An ACK is
never sent for a lease that is not on disk.

Storm safety: per-client rate limit (by chaddr, per second), bounded batch, bounded
probe backlog (in the engine), malformed datagrams dropped and counted. The only
catch-all `except` of netd.dhcp is in `_turn`: it logs the traceback, counts, and
the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable
from ipaddress import IPv4Address

from foundation.errors import EnvironmentProblem
from foundation.records import LeaseEvent
from netd.dhcp.engine import Engine
from netd.dhcp.journal import Journal
from netd.dhcp.model import (
    Command,
    Event,
    PacketReceived,
    Persist,
    ProbeAddress,
    ProbeResult,
    Publish,
    SendReply,
    Tick,
)
from netd.dhcp.rawlink import LinkSender, Prober, udp_datagram
from netd.dhcp.wire import MalformedPacket, parse
from netd.quiet_log import QuietWarning

log = logging.getLogger(__name__)

SERVER_PORT = 67
BATCH = 32
READ_PACE = 0.002
"""Seconds between socket reads while datagrams keep coming: a datagram waits at most this
long (clients retransmit after seconds), and at 4,000 leases/s a wake-up reads ~16
datagrams instead of 1-2; each wake-up costs tens of microseconds of loop and epoll
overhead. At 4,000 leases/s offered (bench_dhcp --quick, ours-noprobe): per-datagram
wake-ups 80-84 us of CPU per lease, 1 ms pace 62-68 us, 2 ms pace 55-58 us."""
TICK_SECONDS = 1.0
COMPACT_MIN_RECORDS = 100000
COMMIT_INTERVAL = 0.004
"""Seconds between group commits: at most ~250 fsyncs/s; an ACK waits at most this long
(clients retransmit after 4 s, so 4 ms is invisible to them). A commit costs ~130 us of
CPU (fsync, timer, loop turn) whatever its size: at 4,000 leases/s, 1 ms -> 4 ms cut the
server's CPU per lease from ~105 to ~84 us (bench_dhcp --quick)."""
COMMIT_MAX_HELD = 192
"""Commit at once when this many commands are held (an ACK is 3: record, reply, event):
bounds the burst of ACKs that leave after one fsync (bursts overflow socket buffers)."""


class DhcpServer:
    """Serves DHCP on one interface with `engine`, persisting through `journal`."""

    def __init__(self, engine: Engine, journal: Journal, publish: Callable[[LeaseEvent], None],
                 interface: str, probe_timeout: float = 0.2, client_rate: int = 30,
                 compact_after: int = COMPACT_MIN_RECORDS) -> None:
        self.engine = engine
        self.compact_after = compact_after
        self.journal = journal
        self.publish = publish
        self.interface = interface
        self.probe_timeout = probe_timeout
        self.client_rate = client_rate
        self.stats: Counter[str] = Counter()
        """Loop counters: received, recv_failed, malformed, rate_limited, sent, send_failed,
        errors, commits."""
        self._rates: Counter[bytes] = Counter()
        self._server_ip = engine.settings.server_id
        self._sock: socket.socket | None = None
        self._link: LinkSender | None = None
        self._prober: Prober | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._compaction: asyncio.Future[None] | None = None
        self._held: list[Command] = []
        self._commit_timer: asyncio.TimerHandle | None = None
        self._last_commit = 0.0
        self._next_read: asyncio.Handle | None = None
        """The timed read while datagrams keep coming (None: waiting on the socket)."""
        self._failed = QuietWarning(log, level=logging.ERROR)
        """An event the engine raised on (a bug): a traceback, but not one per packet."""

    async def start(self) -> None:
        """Bind UDP 67 on the interface and start serving."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.interface.encode())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.setblocking(False)
            sock.bind(("0.0.0.0", SERVER_PORT))
            self._link = LinkSender(self.interface)
            self._prober = Prober(self.interface, self.probe_timeout, self._probe_done)
        except OSError as error:
            sock.close()
            if self._link is not None:
                self._link.close()
            raise EnvironmentProblem(
                f"cannot serve DHCP on {self.interface!r} (UDP port 67): {error.strerror}; check "
                "network.lan_interface in cluster.yaml, run as root, and stop any other DHCP "
                "server on this interface") from error
        self._sock = sock
        loop.add_reader(sock.fileno(), self._on_readable)
        self._ticker = asyncio.create_task(self._tick_forever(), name="dhcp-tick")
        log.info("DHCP serving on %s (%d clients known)", self.interface,
                 len(self.engine.table.clients))

    async def stop(self) -> None:
        """Stop reading, finish a running compaction, close sockets."""
        log.info("DHCP counters: %s; engine: %s", dict(self.stats), dict(self.engine.stats))
        if self._next_read is not None:
            self._next_read.cancel()
            self._next_read = None
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._commit_timer is not None:
            self._commit_timer.cancel()
        if self._held:
            self._commit()  # ACKs already decided go out (durably) before we stop
        if self._compaction is not None:
            await self._compaction
        if self._prober is not None:
            self._prober.close()
        if self._link is not None:
            self._link.close()

    # ----- the loop -----

    def _on_readable(self) -> None:
        """The socket woke us: read, then switch to timed reads while datagrams keep coming."""
        sock = self._sock
        if sock is None:
            return
        if self._read():
            loop = asyncio.get_running_loop()
            loop.remove_reader(sock.fileno())
            self._next_read = loop.call_later(READ_PACE, self._timed_read)

    def _timed_read(self) -> None:
        self._next_read = None
        sock = self._sock
        if sock is None:
            return
        count = self._read()
        loop = asyncio.get_running_loop()
        if count >= BATCH:  # behind: read again as soon as the loop has looked at the rest
            self._next_read = loop.call_soon(self._timed_read)
        elif count:
            self._next_read = loop.call_later(READ_PACE, self._timed_read)
        else:  # quiet: wait on the socket again
            loop.add_reader(sock.fileno(), self._on_readable)

    def _read(self) -> int:
        """Read up to BATCH datagrams and run the engine over them; how many were read."""
        sock = self._sock
        assert sock is not None
        count = 0
        events: list[Event] = []
        stats, rates, limit = self.stats, self._rates, self.client_rate
        for _ in range(BATCH):
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                break
            except OSError as error:  # e.g. the interface went down: keep the loop alive
                stats["recv_failed"] += 1
                log.debug("DHCP socket read failed: %s", error)
                break
            count += 1
            stats["received"] += 1
            chaddr = data[28:34]
            rates[chaddr] += 1
            if rates[chaddr] > limit:
                stats["rate_limited"] += 1
                continue
            try:
                events.append(PacketReceived(parse(data)))
            except MalformedPacket:
                stats["malformed"] += 1
        if events:
            self._turn(events)
        return count

    def _probe_done(self, results: list[tuple[int, bool]]) -> None:
        self._turn([ProbeResult(token, in_use) for token, in_use in results])

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self._rates.clear()
            if self._prober is not None:
                self._prober.refresh_mac()
            self._turn([Tick()])
            self._maybe_compact()

    def _turn(self, events: list[Event]) -> None:
        """Engine over every event (offers and NAKs leave at once), then one group commit,
        then the ACKs and everything else that must follow it."""
        now = time.time()
        held: list[Command] = []
        for event in events:
            try:
                for command in self.engine.handle(event, now):
                    if isinstance(command, SendReply) and not command.after_commit:
                        self._send(command)
                    elif isinstance(command, ProbeAddress):
                        assert self._prober is not None
                        self._prober.probe(command.token, command.address, command.on_link)
                    else:
                        held.append(command)
            except Exception:  # the one catch-all: log (ten a minute), count, keep serving
                self.stats["errors"] += 1
                self._failed.warn(now, "DHCP engine failed on %r", event, exc_info=True)
        if held:
            self._held += held
            self._schedule_commit()

    def _schedule_commit(self) -> None:
        """Commit now, or (if one happened less than COMMIT_INTERVAL ago) when it is up, so
        ACKs decided in the meantime share the fsync (like PostgreSQL's commit_delay);
        at once when COMMIT_MAX_HELD commands are waiting."""
        if len(self._held) >= COMMIT_MAX_HELD:
            if self._commit_timer is not None:
                self._commit_timer.cancel()
            self._commit()
            return
        if self._commit_timer is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_commit + COMMIT_INTERVAL - loop.time()
        if wait <= 0:
            self._commit()
        else:
            self._commit_timer = loop.call_later(wait, self._commit)

    def _commit(self) -> None:
        self._commit_timer = None
        held, self._held = self._held, []
        self._last_commit = asyncio.get_running_loop().time()
        try:
            self._execute(held)
        except Exception:
            self.stats["errors"] += 1
            log.exception("DHCP server failed carrying out %d commands", len(held))

    def _execute(self, commands: list[Command]) -> None:
        records = [c.record for c in commands if isinstance(c, Persist)]
        if records:
            self.journal.append(records)  # raises -> no ACK of this turn leaves
            self.stats["commits"] += 1
        for command in commands:
            if isinstance(command, SendReply):
                self._send(command)
            elif isinstance(command, ProbeAddress):
                assert self._prober is not None
                self._prober.probe(command.token, command.address, command.on_link)
            elif isinstance(command, Publish):
                self.publish(command.event)

    def _send(self, reply: SendReply) -> None:
        payload = reply.packet.to_wire(reply.max_size)
        destination = reply.destination
        try:
            if destination.mac is not None and self._link is not None:
                datagram = udp_datagram(self._server_ip, destination.ip, SERVER_PORT,
                                        destination.port, payload)
                self._link.send(datagram, destination.mac)
            elif self._sock is not None:
                self._sock.sendto(payload, (socket.inet_ntoa(destination.ip), destination.port))
            self.stats["sent"] += 1
        except OSError as error:
            self.stats["send_failed"] += 1
            log.debug("reply to %s not sent: %s", IPv4Address(destination.ip), error)

    def _maybe_compact(self) -> None:
        if self._compaction is not None and not self._compaction.done():
            return
        if self.journal.appended < max(self.compact_after, len(self.engine.table.clients)):
            return
        generation, old = self.journal.start_compaction()
        records = self.engine.snapshot()
        log.info("lease journal compaction: generation %d, %d records", generation, len(records))
        self._compaction = asyncio.get_running_loop().run_in_executor(
            None, self.journal.finish_compaction, generation, old, records)
        self._compaction.add_done_callback(self._compaction_done)

    def _compaction_done(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.stats["errors"] += 1
            log.error("lease snapshot failed (journals kept, retried later): %s", future.exception())
