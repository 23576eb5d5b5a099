"""Route add/replace/delete requests as one netlink batch: pure encoder and ack decoder.

Why not pyroute2 for these writes: its IPRoute sends one request and waits
for its ack before the next, and builds each message through its generic
NLA machinery; 250 routes took 28 ms (pyroute2 0.7) to 55 ms (0.9), where
`ip -batch` takes ~4 ms. A route request is a fixed, small layout (netlink
header, rtmsg, five attributes), so it is encoded here with `struct`, all
requests go out in a few sendto() calls, and the acks are matched back to
their request by sequence number. Reads (dumps, links, addresses) stay on
pyroute2. The encoder is checked against pyroute2's decoder in the tests.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

NLMSG_ERROR = 2
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
RTN_UNICAST = 1
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_NOWHERE = 255
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_TABLE = 15

_NLMSGHDR = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")
_ERR = struct.Struct("=i")


def _attr(kind: int, payload: bytes) -> bytes:
    # Every payload here is 4 bytes, so no padding is needed.
    return _RTATTR.pack(_RTATTR.size + len(payload), kind) + payload


def encode_route(
    seq: int,
    command: str,
    dst: IPv4Network,
    gateway: IPv4Address | None,
    oif: int,
    metric: int,
    proto: int,
    table: int,
) -> bytes:
    """One RTM_NEWROUTE (command add or replace) or RTM_DELROUTE (del) request asking for an ack.

    A delete names our protocol, so the kernel itself refuses to delete a
    route that is not ours even if everything else matches.
    """
    if command == "del":
        kind, flags = RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK
        scope, rtype = RT_SCOPE_NOWHERE, 0  # match any scope and type, as `ip route del` does
    else:
        kind = RTM_NEWROUTE
        extra = NLM_F_CREATE | (NLM_F_REPLACE if command == "replace" else NLM_F_EXCL)
        flags = NLM_F_REQUEST | NLM_F_ACK | extra
        scope, rtype = RT_SCOPE_UNIVERSE, RTN_UNICAST
    body = _RTMSG.pack(socket.AF_INET, dst.prefixlen, 0, 0, table if table < 256 else 252, proto, scope, rtype, 0)
    attrs = [_attr(RTA_TABLE, struct.pack("=I", table)), _attr(RTA_DST, dst.network_address.packed)]
    if gateway is not None:
        attrs.append(_attr(RTA_GATEWAY, gateway.packed))
    if oif:
        attrs.append(_attr(RTA_OIF, struct.pack("=I", oif)))
    if metric:
        attrs.append(_attr(RTA_PRIORITY, struct.pack("=I", metric)))
    payload = body + b"".join(attrs)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), kind, flags, seq, 0) + payload


def decode_acks(data: bytes) -> dict[int, int]:
    """seq -> errno (0 for success) of every NLMSG_ERROR (ack) in one datagram from the kernel."""
    acks: dict[int, int] = {}
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break  # malformed: stop rather than loop forever
        if kind == NLMSG_ERROR and offset + _NLMSGHDR.size + _ERR.size <= len(data):
            (error,) = _ERR.unpack_from(data, offset + _NLMSGHDR.size)
            acks[seq] = -error
        offset += (length + 3) & ~3
    return acks


def batches(seqs: list[int], size_of: Callable[[int], int], limit: int = 32 * 1024) -> list[list[int]]:
    """`seqs` split into groups whose messages add up to at most `limit` bytes (one write each)."""
    out: list[list[int]] = []
    current: list[int] = []
    total = 0
    for seq in seqs:
        size = size_of(seq)
        if current and total + size > limit:
            out.append(current)
            current, total = [], 0
        current.append(seq)
        total += size
    if current:
        out.append(current)
    return out
