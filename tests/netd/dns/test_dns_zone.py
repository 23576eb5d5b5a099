"""The authoritative zone, asked through the handler as a client would (bytes in, bytes out)."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, DNSRecord

from foundation.records import NodeChange, NodeEvent
from netd.dns.handler import Reply
from netd.dns.zone import labels_of_text
from tests.netd.dns.queries import make_handler, make_zone, node, query


def ask(handler, data: bytes) -> DNSRecord:  # type: ignore[no-untyped-def]
    command = handler.handle(data, now=1000.0, udp=True)
    assert isinstance(command, Reply), command
    return DNSRecord.parse(command.data)


def test_node_name_answers_its_address_authoritatively() -> None:
    reply = ask(make_handler(node("node-3", "10.0.0.3")), query("node-3.cluster.home", qid=99))
    assert (reply.header.id, reply.header.aa, reply.header.rcode) == (99, 1, RCODE.NOERROR)
    assert [str(rr.rdata) for rr in reply.rr] == ["10.0.0.3"]
    assert reply.rr[0].ttl == 30


def test_question_case_is_echoed_exactly_in_question_and_answer() -> None:
    handler = make_handler(node("node-3", "10.0.0.3"))
    ask(handler, query("node-3.cluster.home"))  # makes the lower-case template first
    reply = ask(handler, query("NoDe-3.CLUSTER.home"))
    assert str(reply.q.qname) == "NoDe-3.CLUSTER.home."
    assert str(reply.rr[0].rname) == "NoDe-3.CLUSTER.home."


def test_master_names_point_at_the_master() -> None:
    handler = make_handler()
    for name in ("master", "picluster", "kubernetes"):
        reply = ask(handler, query(f"{name}.cluster.home"))
        assert [str(rr.rdata) for rr in reply.rr] == ["10.0.0.1"], name


def test_nxdomain_for_unknown_names_with_soa_and_negative_ttl() -> None:
    reply = ask(make_handler(node("node-3", "10.0.0.3")), query("node-9.cluster.home"))
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert reply.header.aa == 1
    assert not reply.rr
    assert [rr.rtype for rr in reply.auth] == [QTYPE.SOA]
    assert reply.auth[0].ttl == 30 and reply.auth[0].rdata.times[4] == 30


def test_nodata_for_existing_names_with_other_types() -> None:
    handler = make_handler(node("node-3", "10.0.0.3"))
    for name, qtype in [
        ("node-3.cluster.home", "AAAA"),
        ("cluster.home", "A"),
        ("kubernetes.cluster.home", "MX"),
    ]:
        reply = ask(handler, query(name, qtype))
        assert (reply.header.rcode, len(reply.rr)) == (RCODE.NOERROR, 0), name
        assert [rr.rtype for rr in reply.auth] == [QTYPE.SOA]


def test_node_without_address_exists_but_has_no_a_record() -> None:
    reply = ask(make_handler(node("node-4", None)), query("node-4.cluster.home"))
    assert (reply.header.rcode, len(reply.rr)) == (RCODE.NOERROR, 0)


def test_soa_and_ns_at_the_apex() -> None:
    handler = make_handler()
    soa = ask(handler, query("cluster.home", "SOA"))
    assert str(soa.rr[0].rdata.mname) == "master.cluster.home."
    assert str(soa.rr[0].rdata.rname) == "hostmaster.cluster.home."
    ns = ask(handler, query("cluster.home", "NS"))
    assert [str(rr.rdata) for rr in ns.rr] == ["master.cluster.home."]
    assert [str(rr.rdata) for rr in ns.ar] == ["10.0.0.1"]  # the name server's address along


def test_ptr_records_for_nodes_and_master() -> None:
    handler = make_handler(node("node-3", "10.0.0.3"))
    assert [str(rr.rdata) for rr in ask(handler, query("3.0.0.10.in-addr.arpa", "PTR")).rr] == [
        "node-3.cluster.home."
    ]
    assert [str(rr.rdata) for rr in ask(handler, query("1.0.0.10.IN-ADDR.arpa", "PTR")).rr] == [
        "master.cluster.home."
    ]
    missing = ask(handler, query("77.0.0.10.in-addr.arpa", "PTR"))
    assert missing.header.rcode == RCODE.NXDOMAIN
    assert str(missing.auth[0].rname) == "0.0.10.in-addr.arpa."
    apex = ask(handler, query("0.0.10.in-addr.arpa", "SOA"))
    assert apex.header.rcode == RCODE.NOERROR and apex.rr[0].rtype == QTYPE.SOA


def test_reverse_zone_of_a_slash_22_is_the_enclosing_slash_16_with_empty_non_terminals() -> None:
    zone = make_zone(node("node-3", "10.0.2.3"), subnet="10.0.0.0/22")
    assert zone.apex_of(labels_of_text("3.2.0.10.in-addr.arpa")) == labels_of_text(
        "0.10.in-addr.arpa"
    )
    ent = zone.answer(labels_of_text("2.0.10.in-addr.arpa"), QTYPE.PTR, 1)
    assert ent is not None and ent.header.rcode == RCODE.NOERROR and not ent.rr
    gone = zone.answer(labels_of_text("9.0.10.in-addr.arpa"), QTYPE.PTR, 1)
    assert gone is not None and gone.header.rcode == RCODE.NXDOMAIN


def test_names_outside_the_zone_are_not_ours() -> None:
    zone = make_zone()
    assert zone.answer(labels_of_text("www.example.test"), QTYPE.A, 1) is None
    assert zone.answer(labels_of_text("home"), QTYPE.A, 1) is None
    assert zone.answer(labels_of_text("xcluster.home"), QTYPE.A, 1) is None
    assert zone.answer(labels_of_text("3.1.0.10.in-addr.arpa"), QTYPE.PTR, 1) is None


def test_node_events_change_answers_at_once_and_bump_the_serial() -> None:
    handler = make_handler()
    assert ask(handler, query("node-5.cluster.home")).header.rcode == RCODE.NXDOMAIN
    serial = handler.zone.serial
    assert handler.zone.apply(NodeEvent(NodeChange.UPSERTED, node("node-5", "10.0.0.5")))
    handler.zone_changed()
    assert [str(rr.rdata) for rr in ask(handler, query("node-5.cluster.home")).rr] == ["10.0.0.5"]
    assert handler.zone.serial == serial + 1
    # The same record again is no change; a new address is.
    assert not handler.zone.apply(NodeEvent(NodeChange.UPSERTED, node("node-5", "10.0.0.5")))
    assert handler.zone.apply(NodeEvent(NodeChange.UPSERTED, node("node-5", "10.0.0.55")))
    handler.zone_changed()
    assert [str(rr.rdata) for rr in ask(handler, query("node-5.cluster.home")).rr] == ["10.0.0.55"]
    assert ask(handler, query("5.0.0.10.in-addr.arpa", "PTR")).header.rcode == RCODE.NXDOMAIN
    assert handler.zone.apply(NodeEvent(NodeChange.REMOVED, node("node-5", "10.0.0.55")))
    handler.zone_changed()
    assert ask(handler, query("node-5.cluster.home")).header.rcode == RCODE.NXDOMAIN
    assert ask(handler, query("55.0.0.10.in-addr.arpa", "PTR")).header.rcode == RCODE.NXDOMAIN
    assert not handler.zone.apply(NodeEvent(NodeChange.REMOVED, node("node-5", "10.0.0.55")))


def test_a_node_cannot_take_the_masters_names() -> None:
    reply = ask(make_handler(node("kubernetes", "10.0.0.9")), query("kubernetes.cluster.home"))
    assert [str(rr.rdata) for rr in reply.rr] == ["10.0.0.1"]


def test_any_returns_every_record_of_the_name() -> None:
    reply = ask(make_handler(), query("cluster.home", "ANY"))
    assert sorted(QTYPE[rr.rtype] for rr in reply.rr) == ["NS", "SOA"]


def test_other_classes_are_refused_in_our_zone() -> None:
    reply = ask(make_handler(), query("node-3.cluster.home", qclass=3))
    assert reply.header.rcode == RCODE.REFUSED


def test_zone_transfers_are_not_offered() -> None:
    reply = ask(make_handler(), query("cluster.home", "AXFR"))
    assert reply.header.rcode == RCODE.NOTIMP
