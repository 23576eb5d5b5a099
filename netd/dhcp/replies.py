"""Building replies (pure): which options a reply carries and where it goes (RFC 2131 §4.1, §4.3).

- Always 53 and 54; 51/58/59 for leases; 61 and 82 echoed (RFC 6842, RFC 3046).
- Parameters: exactly those of option 55 that we have, or the basic set (1, 3, 6, 15, 28)
  when the client sent no list. Option 12 answers with the node name the appliance chose.
- Destination: the relay (giaddr, port 67), else ciaddr, else broadcast when the client
  asked for it or cannot be reached by MAC, else straight to yiaddr at the client's MAC.
"""

from __future__ import annotations

from netd.dhcp import options as opt
from netd.dhcp.model import Destination, SendReply
from netd.dhcp.pool import Subnet
from netd.dhcp.wire import BOOTREPLY, FLAG_BROADCAST, ZERO_IP, Packet

BROADCAST_IP = b"\xff\xff\xff\xff"
SERVER_PORT = 67
CLIENT_PORT = 68
BASIC_PARAMETERS = (opt.SUBNET_MASK, opt.ROUTER, opt.DNS_SERVERS, opt.DOMAIN_NAME,
                    opt.BROADCAST_ADDRESS)


TEMPLATE_LIMIT = 256
"""Most cached option templates per subnet: option 55 is the client's to choose, so a
hostile client sending a new list every time must not grow the cache without bound."""


def reply(packet: Packet, mtype: int, server_id: bytes, subnet: Subnet, yiaddr: bytes,
          node_name: str | None, lease_time: int | None) -> SendReply:
    """An OFFER or ACK (or an INFORM's ACK when `lease_time` is None) to `packet`."""
    asked = packet.options.get(opt.PARAMETER_LIST)
    options = _template(subnet, mtype, server_id, lease_time, asked).copy()
    if node_name is not None and asked is not None and opt.HOSTNAME in asked \
            and opt.HOSTNAME not in subnet.params:  # asked for: the name the appliance chose
        options[opt.HOSTNAME] = node_name.encode("ascii", "replace")
    _echo(packet, options)
    answer = Packet(BOOTREPLY, packet.xid, packet.chaddr, packet.htype, 0, 0, packet.flags,
                    packet.ciaddr, yiaddr, ZERO_IP, packet.giaddr, b"", b"", options)
    return SendReply(answer, destination(packet, yiaddr), opt.max_message_size(packet.options))


def _template(subnet: Subnet, mtype: int, server_id: bytes, lease_time: int | None,
              asked: bytes | None) -> dict[int, bytes]:
    """The options every reply of this shape carries, in wire order (53, 54, lease times,
    then the asked parameters we have); built once per shape and copied per reply."""
    key = (mtype, server_id, lease_time, asked)
    cache = subnet.reply_templates
    found = cache.get(key)
    if found is not None:
        return found
    options = {opt.MESSAGE_TYPE: bytes((mtype,)), opt.SERVER_ID: server_id}
    if lease_time is not None:
        options[opt.LEASE_TIME] = opt.pack_u32(lease_time)
        options[opt.RENEWAL_TIME] = opt.pack_u32(lease_time // 2)
        options[opt.REBINDING_TIME] = opt.pack_u32(lease_time * 7 // 8)
    params = subnet.params
    for code in (asked if asked is not None else BASIC_PARAMETERS):
        value = params.get(code)
        if value is not None:
            options[code] = value
    if len(cache) < TEMPLATE_LIMIT:
        cache[key] = options
    return options


def nak(packet: Packet, server_id: bytes, why: str) -> SendReply:
    """A NAK: broadcast on the LAN, or to the relay with the broadcast bit set (§4.3.2)."""
    answer = Packet(op=BOOTREPLY, xid=packet.xid, chaddr=packet.chaddr, htype=packet.htype,
                    flags=packet.flags, giaddr=packet.giaddr)
    options = answer.options
    options[opt.MESSAGE_TYPE] = bytes((opt.NAK,))
    options[opt.SERVER_ID] = server_id
    options[opt.MESSAGE] = why.encode()
    _echo(packet, options)
    if packet.giaddr != ZERO_IP:
        answer.flags |= FLAG_BROADCAST
        where = Destination(packet.giaddr, SERVER_PORT)
    else:
        where = Destination(BROADCAST_IP, CLIENT_PORT)
    return SendReply(answer, where, opt.max_message_size(packet.options))


def _echo(packet: Packet, options: dict[int, bytes]) -> None:
    for code in (opt.CLIENT_ID, opt.RELAY_AGENT_INFO):
        value = packet.options.get(code)
        if value is not None:
            options[code] = value


def destination(packet: Packet, yiaddr: bytes) -> Destination:
    """RFC 2131 §4.1: relay, then ciaddr, then broadcast if asked, else straight to the MAC."""
    if packet.giaddr != ZERO_IP:
        return Destination(packet.giaddr, SERVER_PORT)
    if packet.ciaddr != ZERO_IP:
        return Destination(packet.ciaddr, CLIENT_PORT)
    if packet.flags & FLAG_BROADCAST or yiaddr == ZERO_IP or packet.htype != 1 \
            or len(packet.chaddr) != 6:
        return Destination(BROADCAST_IP, CLIENT_PORT)
    return Destination(yiaddr, CLIENT_PORT, packet.chaddr)
