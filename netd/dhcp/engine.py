"""The sans-I/O DHCPv4 lease engine (RFC 2131 §4.3, RFC 4361 §6.3): events in, commands out.

`Engine.handle(event, now)` never reads a clock, touches a socket or the disk;
it returns SendReply / ProbeAddress / Persist / Publish commands for the loop.

Decisions (and why):
- Authoritative: a REQUEST for an address outside the client's subnet, held by
  another client, reserved for another, or quarantined is NAKed. A REQUEST in
  INIT-REBOOT/RENEWING/REBINDING from a client we have no record of, for a free
  address of our pool, is ACKed and the client adopted (as dnsmasq's
  dhcp-authoritative does) so a lost lease file heals instead of stranding nodes.
- Rapid commit (option 80, RFC 4039) is ignored: with probing and durable
  leases a 2-message exchange buys nothing on a 4-node LAN; clients fall back to DORA.
- Replies (options asked for, echo of 61/82, where they go) are built in netd.dhcp.replies.
- Relayed messages (giaddr set) are served from the subnet containing giaddr;
  a giaddr in no subnet of ours is dropped.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from ipaddress import IPv4Address

from foundation.records import LeaseChange, LeaseEvent
from netd.dhcp import leases, replies
from netd.dhcp import options as opt
from netd.dhcp.leases import Client, LeaseTable, identity_key
from netd.dhcp.model import (
    DECLINED,
    Command,
    EngineSettings,
    Event,
    LeaseRecord,
    PacketReceived,
    Persist,
    ProbeAddress,
    ProbeResult,
    Publish,
    Reservation,
    SendReply,
    Tick,
)
from netd.dhcp.pool import Subnet, ip_bytes, ip_int, ip_text
from netd.dhcp.wire import BOOTREQUEST, ZERO_IP, Packet
from netd.quiet_log import QuietWarning

log = logging.getLogger(__name__)

MAX_PROBE_ATTEMPTS = 4


class Engine:
    """Lease state of every client plus the RFC 2131 server state machine."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.table = LeaseTable()
        self.stats: Counter[str] = Counter()
        """Counters (packets by type, naks, pool_exhausted, hostname_rejected, ...)."""
        self._pending: dict[int, tuple[Client, Packet, Subnet, int]] = {}
        self._next_token = 1
        self._name_counter = 1
        self._next_offer_scan = 0.0
        self._probe_tokens = float(settings.probe_burst)
        self._probe_refilled_at: float | None = None
        self._warn_exhausted = QuietWarning(log)
        self._warn_declined = QuietWarning(log)
        self._warn_conflict = QuietWarning(log)
        self._warn_unprobed = QuietWarning(log, lines=1)
        prefix, _, suffix = settings.name_pattern.partition("{n}")
        self._name_regex = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix))
        self._reserved_names = {r.name for r in settings.reservations}
        self._by_res_mac = {r.mac: r for r in settings.reservations if r.mac}
        self._by_res_cid = {r.client_id: r for r in settings.reservations if r.client_id}
        self._fixed = {r.address: r for r in settings.reservations if r.address is not None}
        for subnet in settings.subnets:
            subnet.reply_templates.clear()  # built from params, which are set here
            subnet.params = {
                code: value for code, value in (
                    (opt.SUBNET_MASK, subnet.mask),
                    (opt.ROUTER, subnet.router.packed if subnet.router is not None else b""),
                    (opt.DNS_SERVERS, settings.dns_servers),
                    (opt.DOMAIN_NAME, settings.domain),
                    (opt.BROADCAST_ADDRESS, subnet.broadcast),
                ) if value
            }

    # ----- entry points -----

    def handle(self, event: Event, now: float) -> list[Command]:
        """Process one event at time `now`; return what the loop must do."""
        if isinstance(event, PacketReceived):
            return self._packet(event.packet, now)
        if isinstance(event, ProbeResult):
            return self._probe_result(event, now)
        if isinstance(event, Tick):
            return self._tick(now)
        raise TypeError(f"unknown engine event {event!r}")

    def restore(self, records: list[LeaseRecord], now: float) -> None:
        """Rebuild the lease table from the journal (records in write order, later wins)."""
        table = self.table
        for record in records:
            key = identity_key(record.client_id, record.mac)
            client = table.get(key)
            if record.state == DECLINED:
                subnet = self._subnet_of(record.address)
                if subnet is not None:
                    subnet.pool.quarantine[record.address] = record.expires
                holder = table.holder(record.address)
                if holder is not None:
                    table.forget_address(holder)
                continue
            if client is None:
                client = Client(key, record.mac, self._compact_name(record.name))
                table.add(client)
            client.hostname = record.hostname
            self._assign(client, record.address, record.state, record.expires)
        for client in table.clients.values():
            if client.address is None:
                continue
            if client.state == leases.BOUND and client.expires > now:
                continue
            client.state = leases.RELEASED if client.state == leases.RELEASED else leases.EXPIRED
            subnet = self._subnet_of(client.address)
            if subnet is not None:
                subnet.pool.release(client.address)

    def snapshot(self) -> list[LeaseRecord]:
        """Every durable fact, for journal compaction."""
        records = []
        for client in self.table.clients.values():
            if client.address is None or client.state == leases.OFFERED:
                continue
            records.append(self._record(client, client.state))
        for subnet in self.settings.subnets:
            for address, until in subnet.pool.quarantine.items():
                records.append(LeaseRecord(DECLINED, address, b"", None, "", None, until))
        return records

    # ----- packets -----

    def _packet(self, packet: Packet, now: float) -> list[Command]:
        stats = self.stats
        mtype = opt.message_type(packet.options)
        if packet.op != BOOTREQUEST or mtype is None:
            stats["ignored_not_dhcp_request"] += 1
            return []
        stats[opt.MESSAGE_NAMES.get(mtype, "unknown_type")] += 1
        if not packet.chaddr and opt.client_id(packet.options) is None:
            stats["ignored_no_identity"] += 1
            return []
        subnet = self._select_subnet(packet)
        if subnet is None:
            stats["ignored_unknown_relay"] += 1
            return []
        if mtype == opt.DISCOVER:
            return self._discover(packet, subnet, now, attempt=0)
        if mtype == opt.REQUEST:
            return self._request(packet, subnet, now)
        if mtype == opt.DECLINE:
            return self._decline(packet, now)
        if mtype == opt.RELEASE:
            return self._release(packet, now)
        if mtype == opt.INFORM:
            return self._inform(packet, subnet)
        stats["ignored_server_message"] += 1
        return []

    def _select_subnet(self, packet: Packet) -> Subnet | None:
        if packet.giaddr == ZERO_IP:
            return self.settings.subnets[0]
        return self._subnet_of(ip_int(packet.giaddr))

    def _subnet_of(self, address: int) -> Subnet | None:
        for subnet in self.settings.subnets:
            if subnet.contains(address):
                return subnet
        return None

    def _discover(self, packet: Packet, subnet: Subnet, now: float, attempt: int) -> list[Command]:
        client = self._client(packet, create=True)
        assert client is not None
        if client.probe_token:
            return []  # a retransmission while we probe: the offer follows the probe
        choice = self._choose_address(client, packet, subnet, now)
        if choice is None:
            self.stats["pool_exhausted"] += 1
            self._warn_exhausted.warn(now, "DHCP pool %s exhausted: no offer for %s",
                                      subnet.network, opt.colon_hex(packet.chaddr))
            return []
        address, never_used = choice
        self._assign(client, address, leases.OFFERED, now + self.settings.offer_hold)
        if never_used and self.settings.probe and self._probe_allowed(now):
            token = self._next_token
            self._next_token += 1
            client.probe_token = token
            self._pending[token] = (client, packet, subnet, attempt)
            on_link = subnet is self.settings.subnets[0]  # the LAN: ARP; behind a relay: ICMP
            return [ProbeAddress(token, IPv4Address(address), on_link)]
        return [self._reply(packet, opt.OFFER, client, subnet, self._lease_time(packet))]

    def _choose_address(self, client: Client, packet: Packet, subnet: Subnet,
                        now: float) -> tuple[int, bool] | None:
        """(address, never used before) for an offer, or None if the pool is exhausted."""
        table, pool = self.table, subnet.pool
        fixed = self._reservation(client)
        if fixed is not None and fixed.address is not None:
            return (fixed.address, False) if subnet.contains(fixed.address) else None
        own = client.address
        if own is not None and table.holder(own) is client and pool.usable(own) \
                and own not in self._fixed:
            return own, False
        requested = opt.address(packet.options, opt.REQUESTED_IP)
        if requested is not None:
            wanted = ip_int(requested)
            if pool.usable(wanted) and wanted not in self._fixed and table.holder(wanted) is None:
                return wanted, True
        fresh = pool.next_never_used(table.by_address)
        if fresh is not None:
            return fresh, True
        if not pool.reusable:
            self._reclaim_lapsed_offers(now)
        while pool.reusable:
            address = pool.reusable.popleft()
            holder = table.holder(address)
            if not pool.usable(address) or address in self._fixed:
                continue
            if holder is not None and holder.holds(now):
                continue
            return address, holder is None
        return None

    def _request(self, packet: Packet, subnet: Subnet, now: float) -> list[Command]:
        server_id = opt.address(packet.options, opt.SERVER_ID)
        requested = opt.address(packet.options, opt.REQUESTED_IP)
        if server_id is not None:  # SELECTING
            client = self._client(packet, create=False)
            if server_id != self.settings.server_id:
                if client is not None and client.state == leases.OFFERED and client.address is not None:
                    self.stats["offer_declined_for_other_server"] += 1
                    address = client.address
                    client.state, client.expires = leases.EXPIRED, 0.0
                    subnet.pool.release(address)
                return []
            chosen = ip_int(requested if requested is not None else packet.ciaddr)
            if client is not None and client.address == chosen and self.table.holder(chosen) is client \
                    and subnet.contains(chosen) and chosen not in subnet.pool.quarantine:
                return self._ack(packet, client, subnet, now)
            return self._nak(packet, "requested address is not the one offered")
        if packet.ciaddr != ZERO_IP:  # RENEWING (unicast) or REBINDING (broadcast)
            return self._verify(packet, subnet, ip_int(packet.ciaddr), now)
        if requested is not None:  # INIT-REBOOT
            return self._verify(packet, subnet, ip_int(requested), now)
        self.stats["ignored_request_without_address"] += 1
        return []

    def _verify(self, packet: Packet, subnet: Subnet, address: int, now: float) -> list[Command]:
        """INIT-REBOOT / RENEWING / REBINDING: ACK the client's own address, NAK anything else."""
        if not subnet.contains(address):
            return self._nak(packet, "address not on this network")
        cid = opt.client_id(packet.options)
        fixed = self._reservation_of(cid, packet.chaddr)
        if fixed is not None and fixed.address is not None and fixed.address != address:
            return self._nak(packet, "client has another fixed address")
        client = self._client(packet, create=False)
        holder = self.table.holder(address)
        if client is not None and holder is client and address not in subnet.pool.quarantine:
            return self._ack(packet, client, subnet, now)
        # Not on record as this client's: adopt it only if it is plainly free.
        if client is not None and client.holds(now) and client.address != address:
            return self._nak(packet, "client holds another address")
        if fixed is not None and fixed.address == address:
            client = self._client(packet, create=True)
            assert client is not None
            self._assign(client, address, leases.OFFERED, now + self.settings.offer_hold)
            return self._ack(packet, client, subnet, now)
        if holder is not None and holder is not client and holder.holds(now):
            return self._nak(packet, "address belongs to another client")
        pool = subnet.pool
        if not pool.usable(address) or address in self._fixed:
            return self._nak(packet, "address not available")
        client = self._client(packet, create=True)
        assert client is not None
        self.stats["adopted"] += 1
        self._assign(client, address, leases.OFFERED, now + self.settings.offer_hold)
        return self._ack(packet, client, subnet, now)

    def _ack(self, packet: Packet, client: Client, subnet: Subnet, now: float) -> list[Command]:
        assert client.address is not None
        renewed = client.state == leases.BOUND and client.expires > now
        lease_time = self._lease_time(packet)
        hostname, rejected = opt.hostname_label(packet.options)
        if rejected:
            self.stats["hostname_rejected"] += 1
        elif hostname is not None:
            client.hostname = hostname
        self._assign(client, client.address, leases.BOUND, now + lease_time)
        record = self._record(client, leases.BOUND)
        change = LeaseChange.RENEWED if renewed else LeaseChange.GRANTED
        reply = self._reply(packet, opt.ACK, client, subnet, lease_time)
        reply.after_commit = True
        return [Persist(record), reply, Publish(self._event(change, client, client.expires))]

    def _nak(self, packet: Packet, why: str) -> list[Command]:
        self.stats["nak"] += 1
        return [replies.nak(packet, self.settings.server_id, why)]

    def _decline(self, packet: Packet, now: float) -> list[Command]:
        server_id = opt.address(packet.options, opt.SERVER_ID)
        requested = opt.address(packet.options, opt.REQUESTED_IP)
        client = self._client(packet, create=False)
        if server_id not in (None, self.settings.server_id) or requested is None or client is None \
                or client.address != ip_int(requested) or client.state not in (leases.OFFERED, leases.BOUND):
            self.stats["ignored_decline"] += 1
            return []
        address = client.address
        subnet = self._subnet_of(address)
        until = now + self.settings.decline_probation
        if subnet is not None:
            subnet.pool.quarantine[address] = until
        self._warn_declined.warn(now, "address %s declined by %s: quarantined", ip_text(address),
                                 self.node_name(client))
        event = self._event(LeaseChange.DECLINED, client, 0.0)
        self.table.forget_address(client)
        record = LeaseRecord(DECLINED, address, client.mac, client.client_id,
                             self.node_name(client), client.hostname, until)
        return [Persist(record), Publish(event)]

    def _release(self, packet: Packet, now: float) -> list[Command]:
        server_id = opt.address(packet.options, opt.SERVER_ID)
        client = self._client(packet, create=False)
        if server_id not in (None, self.settings.server_id) or client is None \
                or client.address != ip_int(packet.ciaddr) or client.state != leases.BOUND:
            self.stats["ignored_release"] += 1
            return []
        client.state, client.expires = leases.RELEASED, now
        subnet = self._subnet_of(client.address)
        if subnet is not None:
            subnet.pool.release(client.address)
        return [Persist(self._record(client, leases.RELEASED)),
                Publish(self._event(LeaseChange.RELEASED, client, 0.0))]

    def _inform(self, packet: Packet, subnet: Subnet) -> list[Command]:
        reply = self._reply(packet, opt.ACK, None, subnet, None)
        return [reply]

    # ----- probes and time -----

    def _probe_result(self, result: ProbeResult, now: float) -> list[Command]:
        pending = self._pending.pop(result.token, None)
        if pending is None:
            return []
        client, packet, subnet, attempt = pending
        if client.probe_token != result.token:
            return []
        client.probe_token = 0
        if client.address is None or client.state != leases.OFFERED:
            return []
        if not result.in_use:
            client.expires = now + self.settings.offer_hold  # the hold starts when the offer leaves
            return [self._reply(packet, opt.OFFER, client, subnet, self._lease_time(packet))]
        self.stats["probe_conflict"] += 1
        self._warn_conflict.warn(now, "address %s answered a probe: quarantined",
                                 ip_text(client.address))
        subnet.pool.quarantine[client.address] = now + self.settings.decline_probation
        self.table.forget_address(client)
        if attempt + 1 >= MAX_PROBE_ATTEMPTS:
            return []
        return self._discover(packet, subnet, now, attempt + 1)

    def _probe_allowed(self, now: float) -> bool:
        """Take one probe from the token bucket (settings.probe_burst / probe_rate)."""
        settings = self.settings
        last = self._probe_refilled_at
        self._probe_refilled_at = now
        if last is not None and now > last:
            self._probe_tokens = min(float(settings.probe_burst),
                                     self._probe_tokens + (now - last) * settings.probe_rate)
        if self._probe_tokens >= 1.0:
            self._probe_tokens -= 1.0
            return True
        self.stats["probe_skipped_load"] += 1
        self._warn_unprobed.warn(now, "more than %d new clients a second: offering new addresses "
                                 "unprobed (probe_skipped_load counts them)", int(settings.probe_rate))
        return False

    def _tick(self, now: float) -> list[Command]:
        commands: list[Command] = []
        for client in self.table.due(now):
            client.state = leases.EXPIRED
            assert client.address is not None
            subnet = self._subnet_of(client.address)
            if subnet is not None:
                subnet.pool.release(client.address)
            self.stats["expired"] += 1
            commands.append(Publish(self._event(LeaseChange.EXPIRED, client, 0.0)))
        for subnet in self.settings.subnets:
            subnet.pool.release_quarantined(now)
        return commands

    # ----- helpers -----

    def _assign(self, client: Client, address: int, state: int, expires: float) -> None:
        moved_from = self.table.assign(client, address, state, expires)
        if moved_from is not None:
            subnet = self._subnet_of(moved_from)
            if subnet is not None:
                subnet.pool.release(moved_from)

    def _reclaim_lapsed_offers(self, now: float) -> bool:
        """Put addresses of offers nobody took back into their pools (rate-limited full scan)."""
        if now < self._next_offer_scan:
            return False
        self._next_offer_scan = now + 1.0  # a full scan at most once a second
        lapsed = self.table.lapsed_offers(now)
        for client in lapsed:
            assert client.address is not None
            client.state = leases.EXPIRED
            subnet = self._subnet_of(client.address)
            if subnet is not None:
                subnet.pool.release(client.address)
        return bool(lapsed)

    def _client(self, packet: Packet, create: bool) -> Client | None:
        """The client sending `packet`: by client-id, falling back to its MAC (RFC 4361 §6.3)."""
        cid = opt.client_id(packet.options)
        key = identity_key(cid, packet.chaddr)
        table = self.table
        client = table.get(key)
        if client is None and cid is not None:
            by_mac = table.get(identity_key(None, packet.chaddr))
            if by_mac is not None:
                table.rekey(by_mac, key)
                client = by_mac
        if client is None and create:
            client = Client(key, packet.chaddr, self._name_for(cid, packet.chaddr))
            table.add(client)
        if client is not None:
            reservation = self._reservation(client)
            if reservation is not None and client.name != reservation.name:
                client.name = reservation.name
        return client

    def _reservation(self, client: Client) -> Reservation | None:
        return self._reservation_of(client.client_id, client.mac)

    def _reservation_of(self, cid: bytes | None, mac: bytes) -> Reservation | None:
        """A reservation for this client-id, else for this MAC (RFC 4361 §6.3 fallback)."""
        if cid is not None:
            found = self._by_res_cid.get(cid)
            if found is not None:
                return found
        return self._by_res_mac.get(mac)

    def node_name(self, client: Client) -> str:
        """The client's node name as text."""
        name = client.name
        return name if isinstance(name, str) else self.settings.name_pattern.format(n=name)

    def _name_for(self, cid: bytes | None, mac: bytes) -> str | int:
        """A reservation's name, else the next pattern number (after every name ever persisted)."""
        reservation = self._reservation_of(cid, mac)
        if reservation is not None:
            return reservation.name
        while True:
            n = self._name_counter
            self._name_counter += 1
            if self.settings.name_pattern.format(n=n) not in self._reserved_names:
                return n

    def _compact_name(self, name: str) -> str | int:
        """A restored name: pattern names become their number (and are never handed out again)."""
        found = self._name_regex.fullmatch(name)
        if found is None or name in self._reserved_names:
            return name
        n = int(found.group(1))
        self._name_counter = max(self._name_counter, n + 1)
        return n if self.settings.name_pattern.format(n=n) == name else name

    def _lease_time(self, packet: Packet) -> int:
        settings = self.settings
        asked = opt.u32(packet.options, opt.LEASE_TIME)
        if asked is None:
            return settings.lease_time
        return max(settings.min_lease_time, min(asked, settings.max_lease_time))

    def _reply(self, packet: Packet, mtype: int, client: Client | None, subnet: Subnet,
               lease_time: int | None) -> SendReply:
        yiaddr = ip_bytes(client.address) if client is not None and client.address is not None else ZERO_IP
        return replies.reply(packet, mtype, self.settings.server_id, subnet, yiaddr,
                             self.node_name(client) if client is not None else None, lease_time)

    def _record(self, client: Client, state: int) -> LeaseRecord:
        assert client.address is not None
        return LeaseRecord(state, client.address, client.mac, client.client_id,
                           self.node_name(client), client.hostname, client.expires)

    def _event(self, change: LeaseChange, client: Client, expires: float) -> LeaseEvent:
        assert client.address is not None
        cid = client.client_id
        return LeaseEvent(
            change=change, address=IPv4Address(client.address), mac=client.mac.hex(":"),
            client_id=cid.hex(":") if cid is not None else None,
            node_name=self.node_name(client), hostname=client.hostname, expires=expires,
        )
