"""The sans-I/O lease engine, driven by plain calls with an explicit `now`."""

from __future__ import annotations

import logging
from dataclasses import replace
from ipaddress import IPv4Address

import pytest

from foundation.records import LeaseChange
from netd.dhcp import options as opt
from netd.dhcp.engine import Engine
from netd.dhcp.model import (
    Command,
    PacketReceived,
    Persist,
    ProbeAddress,
    ProbeResult,
    Publish,
    Reservation,
    SendReply,
    Tick,
)
from netd.dhcp.pool import ip_int
from netd.dhcp.wire import FLAG_BROADCAST, Packet
from tests.netd.dhcp.packets import client_packet, ip, mac, settings

SID = ip("10.0.0.1")


def replies(commands: list[Command]) -> list[SendReply]:
    return [c for c in commands if isinstance(c, SendReply)]


def only_reply(commands: list[Command]) -> Packet:
    found = replies(commands)
    assert len(found) == 1, commands
    return found[0].packet


def mtype(packet: Packet) -> int | None:
    return opt.message_type(packet.options)


def dora(engine: Engine, chaddr: bytes, now: float = 1000.0, **kw: object) -> Packet:
    """DISCOVER/OFFER/REQUEST/ACK; returns the ACK."""
    offer = only_reply(engine.handle(PacketReceived(client_packet(opt.DISCOVER, chaddr, **kw)), now))  # type: ignore[arg-type]
    assert mtype(offer) == opt.OFFER
    request = client_packet(opt.REQUEST, chaddr, requested=offer.yiaddr, server_id=SID, **kw)  # type: ignore[arg-type]
    ack = only_reply(engine.handle(PacketReceived(request), now))
    assert mtype(ack) == opt.ACK and ack.yiaddr == offer.yiaddr
    return ack


def test_dora_grants_first_pool_address_and_persists_before_publishing() -> None:
    engine = Engine(settings())
    offer_cmds = engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(1))), 1000.0)
    offer = only_reply(offer_cmds)
    assert offer.yiaddr == ip("10.0.0.10")
    assert not any(isinstance(c, Persist) for c in offer_cmds)  # offers are not durable
    request = client_packet(opt.REQUEST, mac(1), requested=offer.yiaddr, server_id=SID)
    commands = engine.handle(PacketReceived(request), 1000.0)
    persist = [c for c in commands if isinstance(c, Persist)]
    published = [c.event for c in commands if isinstance(c, Publish)]
    assert len(persist) == 1 and persist[0].record.address == ip_int(offer.yiaddr)
    assert published[0].change is LeaseChange.GRANTED and published[0].node_name == "node-1"
    assert published[0].address == IPv4Address("10.0.0.10") and published[0].expires == 1600.0
    ack = only_reply(commands)
    assert ack.options[opt.SERVER_ID] == SID
    assert ack.options[opt.LEASE_TIME] == opt.pack_u32(600)
    assert ack.options[opt.RENEWAL_TIME] == opt.pack_u32(300)
    assert ack.options[opt.REBINDING_TIME] == opt.pack_u32(525)


def test_reply_goes_to_mac_unless_broadcast_asked_or_relayed_or_renewing() -> None:
    engine = Engine(settings(second_subnet=True))
    to_mac = replies(engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(1))), 0))[0]
    assert to_mac.destination.mac == mac(1) and to_mac.destination.ip == ip("10.0.0.10")
    flagged = client_packet(opt.DISCOVER, mac(2), flags=FLAG_BROADCAST)
    bcast = replies(engine.handle(PacketReceived(flagged), 0))[0]
    assert bcast.destination.ip == b"\xff" * 4 and bcast.destination.mac is None
    relayed = client_packet(opt.DISCOVER, mac(3), giaddr=ip("192.0.2.1"))
    relay = replies(engine.handle(PacketReceived(relayed), 0))[0]
    assert relay.destination.ip == ip("192.0.2.1") and relay.destination.port == 67
    assert relay.packet.yiaddr == ip("192.0.2.10")  # subnet chosen by giaddr
    ack = dora(engine, mac(4), now=0)
    renew = client_packet(opt.REQUEST, mac(4), ciaddr=ack.yiaddr)
    unicast = replies(engine.handle(PacketReceived(renew), 10))[0]
    assert unicast.destination.ip == ack.yiaddr and unicast.destination.port == 68
    assert unicast.destination.mac is None


def test_unknown_relay_is_dropped() -> None:
    engine = Engine(settings())
    relayed = client_packet(opt.DISCOVER, mac(3), giaddr=ip("198.51.100.1"))
    assert engine.handle(PacketReceived(relayed), 0) == []
    assert engine.stats["ignored_unknown_relay"] == 1


def test_renew_rebind_and_init_reboot_keep_the_address() -> None:
    engine = Engine(settings())
    ack = dora(engine, mac(1), now=0)
    renew = client_packet(opt.REQUEST, mac(1), ciaddr=ack.yiaddr)
    commands = engine.handle(PacketReceived(renew), 300)
    assert mtype(only_reply(commands)) == opt.ACK
    assert [c.event.change for c in commands if isinstance(c, Publish)] == [LeaseChange.RENEWED]
    rebind = client_packet(opt.REQUEST, mac(1), ciaddr=ack.yiaddr, flags=FLAG_BROADCAST)
    assert mtype(only_reply(engine.handle(PacketReceived(rebind), 500))) == opt.ACK
    reboot = client_packet(opt.REQUEST, mac(1), requested=ack.yiaddr)
    assert only_reply(engine.handle(PacketReceived(reboot), 600)).yiaddr == ack.yiaddr


def test_authoritative_naks() -> None:
    engine = Engine(settings(second_subnet=True))
    a = dora(engine, mac(1), now=0)
    other_subnet = client_packet(opt.REQUEST, mac(2), requested=ip("192.0.2.50"))
    nak = replies(engine.handle(PacketReceived(other_subnet), 1))[0]
    assert mtype(nak.packet) == opt.NAK and nak.destination.ip == b"\xff" * 4
    assert nak.packet.yiaddr == b"\0" * 4
    stolen = client_packet(opt.REQUEST, mac(2), requested=a.yiaddr)
    assert mtype(only_reply(engine.handle(PacketReceived(stolen), 1))) == opt.NAK
    renew_other = client_packet(opt.REQUEST, mac(2), ciaddr=a.yiaddr)
    assert mtype(only_reply(engine.handle(PacketReceived(renew_other), 1))) == opt.NAK
    outside_pool = client_packet(opt.REQUEST, mac(2), requested=ip("10.0.0.1"))
    assert mtype(only_reply(engine.handle(PacketReceived(outside_pool), 1))) == opt.NAK
    wrong_selecting = client_packet(opt.REQUEST, mac(1), requested=ip("10.0.0.15"), server_id=SID)
    assert mtype(only_reply(engine.handle(PacketReceived(wrong_selecting), 1))) == opt.NAK
    relayed = client_packet(opt.REQUEST, mac(3), requested=ip("10.0.0.12"), giaddr=ip("192.0.2.1"))
    nak = replies(engine.handle(PacketReceived(relayed), 1))[0]
    assert nak.destination.ip == ip("192.0.2.1") and nak.packet.flags & FLAG_BROADCAST
    assert engine.stats["nak"] == 6


def test_init_reboot_of_unknown_client_for_free_address_is_adopted() -> None:
    engine = Engine(settings())
    reboot = client_packet(opt.REQUEST, mac(9), requested=ip("10.0.0.17"))
    ack = only_reply(engine.handle(PacketReceived(reboot), 0))
    assert mtype(ack) == opt.ACK and ack.yiaddr == ip("10.0.0.17")
    # and nobody else is offered it afterwards
    for n in range(10):
        offer = only_reply(engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(20 + n))), 1))
        assert offer.yiaddr != ip("10.0.0.17")


def test_selecting_another_server_frees_our_offer() -> None:
    engine = Engine(settings(first="10.0.0.10", last="10.0.0.10"))
    offer = only_reply(engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(1))), 0))
    chose_other = client_packet(opt.REQUEST, mac(1), requested=ip("10.0.0.99"), server_id=ip("10.0.0.2"))
    assert engine.handle(PacketReceived(chose_other), 1) == []
    second = only_reply(engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(2))), 2))
    assert second.yiaddr == offer.yiaddr


def test_release_then_rediscover_gets_the_same_address() -> None:
    engine = Engine(settings())
    ack = dora(engine, mac(1), now=0)
    release = client_packet(opt.RELEASE, mac(1), ciaddr=ack.yiaddr, server_id=SID)
    commands = engine.handle(PacketReceived(release), 5)
    assert replies(commands) == []
    assert [c.event.change for c in commands if isinstance(c, Publish)] == [LeaseChange.RELEASED]
    assert dora(engine, mac(1), now=6).yiaddr == ack.yiaddr


def test_decline_quarantines_until_probation_ends() -> None:
    engine = Engine(settings(first="10.0.0.10", last="10.0.0.11"))
    ack = dora(engine, mac(1), now=0)
    decline = client_packet(opt.DECLINE, mac(1), requested=ack.yiaddr, server_id=SID)
    commands = engine.handle(PacketReceived(decline), 1)
    assert [c.event.change for c in commands if isinstance(c, Publish)] == [LeaseChange.DECLINED]
    assert dora(engine, mac(1), now=2, lease_time=7200).yiaddr == ip("10.0.0.11")
    assert engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(2))), 3) == []
    engine.handle(Tick(), 3700)
    assert only_reply(engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(2))), 3701)).yiaddr \
        == ack.yiaddr


def test_pool_exhaustion_gives_no_offer_and_counts() -> None:
    engine = Engine(settings(first="10.0.0.10", last="10.0.0.12"))
    addresses = {dora(engine, mac(n), now=0).yiaddr for n in range(3)}
    assert len(addresses) == 3
    assert engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(99))), 1) == []
    assert engine.stats["pool_exhausted"] == 1


def test_a_discover_storm_on_an_exhausted_pool_is_counted_not_logged_line_by_line(
        caplog: pytest.LogCaptureFixture) -> None:
    engine = Engine(settings(first="10.0.0.10", last="10.0.0.12"))
    for n in range(3):
        dora(engine, mac(n), now=0)
    with caplog.at_level(logging.WARNING, logger="netd.dhcp.engine"):
        for n in range(500):
            assert engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(1000 + n))), 1) == []
        lines = [r.getMessage() for r in caplog.records if "exhausted" in r.getMessage()]
        assert engine.stats["pool_exhausted"] == 500
        assert len(lines) == 10
        # a minute later the next line tells how many were held back
        engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(2000))), 61)
        last = [r.getMessage() for r in caplog.records if "exhausted" in r.getMessage()][-1]
        assert "and 490 more like it held back since the last such line" in last


def test_expired_leases_are_reclaimed_and_published() -> None:
    engine = Engine(settings(first="10.0.0.10", last="10.0.0.10"))
    ack = dora(engine, mac(1), now=0)
    commands = engine.handle(Tick(), 601)
    assert [c.event.change for c in commands if isinstance(c, Publish)] == [LeaseChange.EXPIRED]
    assert dora(engine, mac(2), now=602).yiaddr == ack.yiaddr
    # the first client lost it: its INIT-REBOOT is NAKed
    reboot = client_packet(opt.REQUEST, mac(1), requested=ack.yiaddr)
    assert mtype(only_reply(engine.handle(PacketReceived(reboot), 603))) == opt.NAK


def test_reservations_by_mac_and_client_id() -> None:
    reservations = [
        Reservation("master-b", mac(1), None, ip_int(ip("10.0.0.5"))),
        Reservation("pi-cid", None, b"\x01" + mac(2), None),
        Reservation("node-1", mac(3), None, None),
    ]
    engine = Engine(settings(reservations=reservations))
    by_mac = dora(engine, mac(1), now=0, client_id=b"\xff\x00\x01\x02")  # MAC matches despite a client-id
    assert by_mac.yiaddr == ip("10.0.0.5")
    wrong = client_packet(opt.REQUEST, mac(1), requested=ip("10.0.0.14"))
    assert mtype(only_reply(engine.handle(PacketReceived(wrong), 1))) == opt.NAK
    by_cid = client_packet(opt.DISCOVER, mac(50), client_id=b"\x01" + mac(2), params=b"\x0c")
    offer = only_reply(engine.handle(PacketReceived(by_cid), 1))
    assert offer.options[opt.HOSTNAME] == b"pi-cid"
    stranger = dora(engine, mac(60), now=2, params=b"\x0c")
    assert stranger.options[opt.HOSTNAME] == b"node-2"  # node-1 is reserved, so skipped
    assert stranger.yiaddr != ip("10.0.0.5")


def test_client_id_falls_back_to_the_mac_record() -> None:
    engine = Engine(settings())
    ack = dora(engine, mac(1), now=0)
    with_cid = dora(engine, mac(1), now=5, client_id=b"\x01" + mac(1))
    assert with_cid.yiaddr == ack.yiaddr
    assert with_cid.options[opt.CLIENT_ID] == b"\x01" + mac(1)  # echoed (RFC 6842)


def test_only_requested_parameters_and_max_size() -> None:
    engine = Engine(settings())
    ack = dora(engine, mac(1), now=0, params=b"\x03\x06\x2a", extra={82: b"\x01\x03abc"})
    assert set(ack.options) == {53, 54, 51, 58, 59, 3, 6, 82}
    plain = dora(engine, mac(2), now=0)
    assert {1, 3, 6, 15, 28} <= set(plain.options)
    sent = replies(engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(3), max_size=1400)), 0))
    assert sent[0].max_size == 1372


def test_reply_templates_stay_bounded_and_exact_under_hostile_parameter_lists() -> None:
    """Option 55 is the client's to choose: a new list per packet must neither grow the
    per-shape reply cache without bound nor leak one client's shape into another's reply."""
    from netd.dhcp.replies import TEMPLATE_LIMIT
    engine = Engine(settings(last="10.0.0.250"))
    subnet = engine.settings.subnets[0]
    for n in range(TEMPLATE_LIMIT - 16):
        asked = bytes((n * 7 + k) % 254 + 1 for k in range(1 + n % 40))
        offer = only_reply(engine.handle(PacketReceived(client_packet(
            opt.DISCOVER, mac(1000 + n), params=asked)), 0))
        have = {code for code in asked if code in subnet.params or code == opt.HOSTNAME}
        assert set(offer.options) == {53, 54, 51, 58, 59} | have
        if opt.HOSTNAME in have:
            assert offer.options[opt.HOSTNAME] == f"node-{n + 1}".encode()
    for n in range(200):  # the pool is full by now: INFORMs still get answers
        asked = bytes((n * 11 + k) % 254 + 1 for k in range(1 + n % 30))
        answer = only_reply(engine.handle(PacketReceived(client_packet(
            opt.INFORM, mac(3000 + n), params=asked, ciaddr=ip("10.0.0.251"))), 0))
        assert set(answer.options) == {53, 54} | {code for code in asked if code in subnet.params}
    assert len(subnet.reply_templates) == TEMPLATE_LIMIT


def test_hostnames_are_validated() -> None:
    engine = Engine(settings())
    good = [c for c in engine.handle(PacketReceived(client_packet(
        opt.REQUEST, mac(1), requested=ip("10.0.0.10"), hostname=b"MyPi")), 0) if isinstance(c, Publish)]
    assert good[0].event.hostname == "mypi"
    bad = [c for c in engine.handle(PacketReceived(client_packet(
        opt.REQUEST, mac(2), requested=ip("10.0.0.11"), hostname=b"evil;rm -rf")), 0)
        if isinstance(c, Publish)]
    assert bad[0].event.hostname is None and engine.stats["hostname_rejected"] == 1


def test_names_follow_first_contact_order() -> None:
    engine = Engine(settings())
    names = []
    for n in (5, 3, 9):
        commands = engine.handle(PacketReceived(client_packet(
            opt.REQUEST, mac(n), requested=ip(f"10.0.0.{10 + n}"))), 0)
        names += [c.event.node_name for c in commands if isinstance(c, Publish)]
    assert names == ["node-1", "node-2", "node-3"]


def test_probe_before_offering_a_never_used_address() -> None:
    engine = Engine(settings(probe=True))
    commands = engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(1))), 0)
    assert len(commands) == 1 and isinstance(commands[0], ProbeAddress)
    probe = commands[0]
    assert probe.address == IPv4Address("10.0.0.10") and probe.on_link
    # retransmitted DISCOVER while probing: no second probe, no offer
    assert engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(1))), 1) == []
    # somebody else is already there: quarantine and probe the next one
    commands = engine.handle(ProbeResult(probe.token, in_use=True), 1)
    assert isinstance(commands[0], ProbeAddress) and commands[0].address == IPv4Address("10.0.0.11")
    offer = only_reply(engine.handle(ProbeResult(commands[0].token, in_use=False), 2))
    assert offer.yiaddr == ip("10.0.0.11") and engine.stats["probe_conflict"] == 1
    # a known address (the client's own) is not probed again
    assert isinstance(engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(1))), 3)[0], SendReply)


def test_probes_are_budgeted_so_a_discover_storm_is_not_an_arp_storm() -> None:
    budgeted = replace(settings("10.0.0.10", "10.0.0.250", probe=True), probe_burst=3, probe_rate=2.0)
    engine = Engine(budgeted)

    def first_command(n: int, now: float) -> Command:
        return engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(n))), now)[0]

    # the burst: every new address is probed
    assert all(isinstance(first_command(n, 0.0), ProbeAddress) for n in range(3))
    # past it: offered at once, unprobed, and counted
    offers = [first_command(n, 0.0) for n in range(3, 8)]
    assert all(isinstance(c, SendReply) and c.packet.options[opt.MESSAGE_TYPE] == bytes([opt.OFFER])
               for c in offers)
    assert engine.stats["probe_skipped_load"] == 5
    assert len({c.packet.yiaddr for c in offers if isinstance(c, SendReply)}) == 5
    # the bucket refills at probe_rate: half a second later one probe may leave, not two
    assert isinstance(first_command(8, 0.5), ProbeAddress)
    assert isinstance(first_command(9, 0.5), SendReply)
    # and never beyond the burst, however long the quiet was
    assert [isinstance(first_command(n, 100.0), ProbeAddress) for n in range(10, 14)] \
        == [True, True, True, False]


def test_restore_from_records_keeps_leases_and_quarantine() -> None:
    engine = Engine(settings())
    records = []
    for n in range(3):
        commands = engine.handle(PacketReceived(client_packet(
            opt.REQUEST, mac(n), requested=ip(f"10.0.0.{10 + n}"))), 0)
        records += [c.record for c in commands if isinstance(c, Persist)]
    decline = client_packet(opt.DECLINE, mac(2), requested=ip("10.0.0.12"), server_id=SID)
    records += [c.record for c in engine.handle(PacketReceived(decline), 1) if isinstance(c, Persist)]
    restarted = Engine(settings())
    restarted.restore(records, now=10)
    for n in range(2):
        renew = client_packet(opt.REQUEST, mac(n), ciaddr=ip(f"10.0.0.{10 + n}"))
        assert mtype(only_reply(restarted.handle(PacketReceived(renew), 11))) == opt.ACK
    offer = only_reply(restarted.handle(PacketReceived(client_packet(opt.DISCOVER, mac(7))), 12))
    assert offer.yiaddr == ip("10.0.0.13")  # .12 is quarantined, .10 and .11 held
    assert len(restarted.snapshot()) == 3  # two leases and the quarantine; offers are not durable
    nameless = dora(restarted, mac(8), now=13, params=b"\x0c")
    assert nameless.options[opt.HOSTNAME] == b"node-5"  # node-4 was given (in memory) to mac(7)


def test_inform_answers_parameters_without_a_lease() -> None:
    engine = Engine(settings())
    inform = client_packet(opt.INFORM, mac(1), ciaddr=ip("10.0.0.99"), params=b"\x06")
    sent = replies(engine.handle(PacketReceived(inform), 0))[0]
    assert sent.destination.ip == ip("10.0.0.99") and opt.LEASE_TIME not in sent.packet.options
    assert sent.packet.options[opt.DNS_SERVERS] == ip("10.0.0.1")


def test_requested_lease_time_is_clamped() -> None:
    engine = Engine(settings())
    assert dora(engine, mac(1), now=0, lease_time=10**6).options[opt.LEASE_TIME] == opt.pack_u32(7200)
    assert dora(engine, mac(2), now=0, lease_time=1).options[opt.LEASE_TIME] == opt.pack_u32(60)


def test_lapsed_offers_are_reclaimed_when_the_pool_runs_dry() -> None:
    engine = Engine(settings(first="10.0.0.10", last="10.0.0.10"))
    offer = only_reply(engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(1))), 0))
    assert engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(2))), 59) == []  # still held
    later = only_reply(engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(2))), 61))
    assert later.yiaddr == offer.yiaddr
    # the first client's late REQUEST is refused: the address is someone else's offer now
    late = client_packet(opt.REQUEST, mac(1), requested=offer.yiaddr, server_id=SID)
    assert mtype(only_reply(engine.handle(PacketReceived(late), 62))) == opt.NAK


def test_a_client_moving_to_another_address_returns_the_old_one_to_the_pool() -> None:
    engine = Engine(settings(first="10.0.0.10", last="10.0.0.11"))
    offer = only_reply(engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(1))), 0))
    assert offer.yiaddr == ip("10.0.0.10")
    reboot = client_packet(opt.REQUEST, mac(1), requested=ip("10.0.0.11"))
    assert mtype(only_reply(engine.handle(PacketReceived(reboot), 1))) == opt.NAK  # holds .10
    assert mtype(only_reply(engine.handle(PacketReceived(reboot), 61))) == opt.ACK  # offer lapsed
    assert only_reply(engine.handle(PacketReceived(client_packet(opt.DISCOVER, mac(2))), 62)).yiaddr \
        == ip("10.0.0.10")


def test_identity_keys_never_collide() -> None:
    from netd.dhcp.leases import identity_key

    unicast = bytes.fromhex("02aabbccddee")
    assert identity_key(None, unicast) is unicast
    keys = {identity_key(None, unicast), identity_key(b"\xaa\xbb\xcc\xdd\xee", unicast),
            identity_key(None, bytes.fromhex("ffaabbccddee")), identity_key(None, b"\x01\x02"),
            identity_key(b"\x01" + unicast, unicast)}
    assert len(keys) == 5
    assert identity_key(unicast[1:], b"") != identity_key(None, b"\xff" + unicast[1:])
