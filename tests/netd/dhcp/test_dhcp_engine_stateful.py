"""Hypothesis drives the engine with random client behaviour, time, probes, restarts
(from the persisted records only) and garbage; it checks, from the engine's replies
alone, that no address is ever offered or acknowledged to two clients at once and
that every unexpired ACKed lease survives a restart."""

from __future__ import annotations

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from netd.dhcp import options as opt
from netd.dhcp.engine import Engine
from netd.dhcp.model import (
    Command,
    LeaseRecord,
    PacketReceived,
    Persist,
    ProbeAddress,
    ProbeResult,
    SendReply,
    Tick,
)
from netd.dhcp.wire import BOOTREQUEST, Packet
from tests.netd.dhcp.packets import client_packet, ip, mac, settings

SID = ip("10.0.0.1")
CLIENTS = 7
ADDRESSES = [ip(f"10.0.0.{n}") for n in (1, 9, 10, 11, 12, 13, 14)] + [ip("192.0.2.50")]
CLIENT_IDS = {n: b"\x01" + mac(n) for n in range(0, CLIENTS, 2)}  # half send option 61


def packet_for(n: int, mtype: int, **kw: object) -> Packet:
    return client_packet(mtype, mac(n), client_id=CLIENT_IDS.get(n), **kw)  # type: ignore[arg-type]


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.engine = Engine(settings(first="10.0.0.10", last="10.0.0.13", probe=True,
                                      second_subnet=True))
        self.journal: list[LeaseRecord] = []
        self.probes: list[ProbeAddress] = []
        # client -> (address, until, acked) as promised by the engine's replies
        self.claims: dict[int, tuple[bytes, float, bool]] = {}
        self.offers: dict[int, bytes] = {}

    def run(self, event: PacketReceived | ProbeResult | Tick) -> list[Command]:
        commands = self.engine.handle(event, self.now)
        for command in commands:
            if isinstance(command, Persist):
                self.journal.append(command.record)
            elif isinstance(command, ProbeAddress):
                self.probes.append(command)
            elif isinstance(command, SendReply):
                self.check_reply(command.packet)
        return commands

    def check_reply(self, reply: Packet) -> None:
        kind = opt.message_type(reply.options)
        if kind not in (opt.OFFER, opt.ACK) or reply.yiaddr == b"\0\0\0\0":
            return
        n = int.from_bytes(reply.chaddr[3:], "big")
        for other, (address, until, _acked) in self.claims.items():
            if other != n and address == reply.yiaddr and until > self.now:
                raise AssertionError(f"{reply.yiaddr.hex()} given to {n} while {other} holds it")
        if kind == opt.OFFER:
            self.offers[n] = reply.yiaddr
            self.claims[n] = (reply.yiaddr, self.now + self.engine.settings.offer_hold, False)
        else:
            lease = int.from_bytes(reply.options[opt.LEASE_TIME], "big")
            self.claims[n] = (reply.yiaddr, self.now + lease, True)

    @rule(n=st.integers(0, CLIENTS - 1), requested=st.none() | st.sampled_from(ADDRESSES),
          relayed=st.booleans())
    def discover(self, n: int, requested: bytes | None, relayed: bool) -> None:
        giaddr = ip("192.0.2.1") if relayed else b"\0\0\0\0"
        # RFC 2131 §4.4.1: a client sends DISCOVER only in INIT, having given up any lease.
        self.claims.pop(n, None)
        self.offers.pop(n, None)
        self.run(PacketReceived(packet_for(n, opt.DISCOVER, requested=requested, giaddr=giaddr)))

    @rule(n=st.integers(0, CLIENTS - 1))
    def select_offer(self, n: int) -> None:
        if n in self.offers:
            self.run(PacketReceived(packet_for(n, opt.REQUEST, requested=self.offers[n], server_id=SID)))

    @rule(n=st.integers(0, CLIENTS - 1), address=st.sampled_from(ADDRESSES))
    def init_reboot(self, n: int, address: bytes) -> None:
        self.run(PacketReceived(packet_for(n, opt.REQUEST, requested=address)))

    @rule(n=st.integers(0, CLIENTS - 1))
    def renew_keeps_every_unexpired_lease(self, n: int) -> None:
        claim = self.claims.get(n)
        if claim is None or not claim[2]:
            return
        address, until, _ = claim
        commands = self.run(PacketReceived(packet_for(n, opt.REQUEST, ciaddr=address)))
        if until > self.now:
            reply = [c.packet for c in commands if isinstance(c, SendReply)]
            assert reply and opt.message_type(reply[0].options) == opt.ACK, commands
            assert reply[0].yiaddr == address

    @rule(n=st.integers(0, CLIENTS - 1), decline=st.booleans())
    def give_back(self, n: int, decline: bool) -> None:
        claim = self.claims.get(n)
        if claim is None or not claim[2] or claim[1] <= self.now:
            return
        if decline:
            packet = packet_for(n, opt.DECLINE, requested=claim[0], server_id=SID)
        else:
            packet = packet_for(n, opt.RELEASE, ciaddr=claim[0], server_id=SID)
        self.run(PacketReceived(packet))
        del self.claims[n]
        self.offers.pop(n, None)

    @precondition(lambda self: bool(self.probes))
    @rule(index=st.integers(0, 50), in_use=st.booleans())
    def answer_probe(self, index: int, in_use: bool) -> None:
        probe = self.probes.pop(index % len(self.probes))
        self.run(ProbeResult(probe.token, in_use))

    @rule(seconds=st.sampled_from([1.0, 30.0, 61.0, 299.0, 601.0, 4000.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self.run(Tick())

    @rule()
    def restart_from_journal(self) -> None:
        self.engine = Engine(self.engine.settings.__class__(**{
            **self.engine.settings.__dict__,
            "subnets": settings(first="10.0.0.10", last="10.0.0.13", second_subnet=True).subnets,
        }))
        self.engine.restore(list(self.journal), self.now)
        self.probes.clear()  # the old process's probes died with it
        # Offers are not durable; ACKed leases must be.
        self.claims = {n: c for n, c in self.claims.items() if c[2]}
        self.offers.clear()

    @rule(mtype=st.integers(0, 10), n=st.integers(0, CLIENTS - 1),
          fields=st.dictionaries(st.sampled_from([50, 54, 61, 55, 57, 12, 51, 82]),
                                 st.binary(max_size=8), max_size=5),
          ciaddr=st.sampled_from([b"\0\0\0\0", *ADDRESSES]), op=st.sampled_from([1, 1, 2]))
    def garbage(self, mtype: int, n: int, fields: dict[int, bytes], ciaddr: bytes, op: int) -> None:
        options = {opt.MESSAGE_TYPE: bytes((mtype,)), **fields}
        # Garbage never impersonates a client that holds a claim (that would be a real takeover).
        chaddr = mac(100 + n)
        options.pop(opt.CLIENT_ID, None)
        self.run(PacketReceived(Packet(op=op, xid=5, chaddr=chaddr, ciaddr=ciaddr, options=options)))
        # A garbage client can get an ACK itself (a REQUEST with its ciaddr), and then give the
        # address back with a RELEASE or DECLINE of its own, as give_back does: once the engine
        # no longer holds the address for it, its claim is over.
        claim = self.claims.get(100 + n)
        if claim is not None and mtype in (opt.RELEASE, opt.DECLINE):
            holder = self.engine.table.by_address.get(int.from_bytes(claim[0], "big"))
            if holder is None or holder.mac != chaddr or not holder.holds(self.now):
                del self.claims[100 + n]
                self.offers.pop(100 + n, None)

    @invariant()
    def table_is_consistent(self) -> None:
        for address, client in self.engine.table.by_address.items():
            assert client.address == address


EngineMachine.TestCase.settings = hsettings(max_examples=400, stateful_step_count=50,
                                            deadline=None,
                                            suppress_health_check=[HealthCheck.too_slow])
TestEngineMachine = EngineMachine.TestCase


@hsettings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.binary(max_size=6),
                          st.dictionaries(st.integers(1, 254), st.binary(max_size=20), max_size=8),
                          st.binary(min_size=4, max_size=4), st.binary(min_size=4, max_size=4),
                          st.integers(0, 0xFFFF), st.sampled_from([BOOTREQUEST, 2])),
                max_size=25))
def test_engine_never_raises_on_arbitrary_packets(packets: list[tuple]) -> None:
    engine = Engine(settings(probe=True, second_subnet=True))
    now = 0.0
    for mtype, chaddr, options, ciaddr, giaddr, flags, op in packets:
        options = {**options, opt.MESSAGE_TYPE: bytes((mtype,))}
        packet = Packet(op=op, xid=1, chaddr=chaddr, ciaddr=ciaddr, giaddr=giaddr, flags=flags,
                        options=options)
        for command in engine.handle(PacketReceived(packet), now):
            if isinstance(command, ProbeAddress):
                engine.handle(ProbeResult(command.token, in_use=bool(flags & 1)), now)
            if isinstance(command, SendReply):
                command.packet.to_wire(command.max_size)
        now += 17
        engine.handle(Tick(), now)
