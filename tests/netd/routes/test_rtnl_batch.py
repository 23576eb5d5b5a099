"""The hand-rolled route request encoder agrees with pyroute2's decoder; the ack decoder survives garbage."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv4Network

from hypothesis import given
from hypothesis import strategies as st
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from netd.routes.rtnl_batch import NLMSG_ERROR, batches, decode_acks, encode_route

networks = st.builds(
    lambda addr, plen: IPv4Network((addr, plen), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
addresses = st.integers(0, 2**32 - 1).map(IPv4Address)


@given(
    seq=st.integers(1, 2**31 - 1),
    command=st.sampled_from(["add", "replace", "del"]),
    dst=networks,
    gateway=st.none() | addresses,
    oif=st.integers(0, 2**31),
    metric=st.integers(0, 2**32 - 1),
    table=st.sampled_from([254, 255, 1000]),
)
def test_encoded_requests_decode_identically_in_pyroute2(
    seq: int, command: str, dst: IPv4Network, gateway: IPv4Address | None, oif: int, metric: int, table: int
) -> None:
    data = encode_route(seq, command, dst, gateway, oif, metric, 171, table)
    (msg,) = MarshalRtnl().parse(data)
    assert msg["header"]["sequence_number"] == seq
    assert msg["header"]["length"] == len(data)
    assert msg["event"] == ("RTM_DELROUTE" if command == "del" else "RTM_NEWROUTE")
    assert msg["dst_len"] == dst.prefixlen and msg["proto"] == 171
    assert msg.get_attr("RTA_DST") == str(dst.network_address)
    assert msg.get_attr("RTA_GATEWAY") == (str(gateway) if gateway else None)
    assert msg.get_attr("RTA_OIF") == (oif or None)
    assert msg.get_attr("RTA_PRIORITY") == (metric or None)
    assert msg.get_attr("RTA_TABLE") == table
    flags = msg["header"]["flags"]
    assert flags & 0x5 == 0x5  # request + ack
    if command == "add":
        assert flags & 0x600 == 0x600 and not flags & 0x100  # create + exclusive: never overwrite
    if command == "replace":
        assert flags & 0x500 == 0x500


def _ack(seq: int, error: int) -> bytes:
    payload = struct.pack("=i", -error) + struct.pack("=IHHII", 16, 24, 5, seq, 0)
    return struct.pack("=IHHII", 16 + len(payload), NLMSG_ERROR, 0, seq, 0) + payload


def test_acks_are_matched_by_sequence() -> None:
    assert decode_acks(_ack(7, 0) + _ack(8, 17) + _ack(9, 3)) == {7: 0, 8: 17, 9: 3}


@given(st.binary(max_size=400))
def test_ack_decoder_never_fails_on_garbage(data: bytes) -> None:
    acks = decode_acks(data)
    assert all(isinstance(k, int) and isinstance(v, int) for k, v in acks.items())


def test_batches_respect_the_size_limit_and_keep_order() -> None:
    sizes = {seq: 60 for seq in range(1, 1001)}
    groups = batches(list(sizes), sizes.__getitem__, limit=32 * 1024)
    assert [seq for group in groups for seq in group] == list(range(1, 1001))
    assert all(sum(sizes[s] for s in group) <= 32 * 1024 for group in groups)
    assert batches([], sizes.__getitem__) == []
