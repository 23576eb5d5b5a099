"""Builders of client DHCP messages and a small settings factory for engine tests."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from netd.dhcp import options as opt
from netd.dhcp.model import EngineSettings, Reservation
from netd.dhcp.pool import Pool, Subnet, ip_int
from netd.dhcp.wire import BOOTREQUEST, ZERO_IP, Packet

SERVER = IPv4Address("10.0.0.1")


def mac(n: int) -> bytes:
    """A locally administered MAC numbered n."""
    return bytes((0x02, 0, 0, (n >> 16) & 255, (n >> 8) & 255, n & 255))


def ip(text: str) -> bytes:
    """Dotted address as wire bytes."""
    return IPv4Address(text).packed


def client_packet(mtype: int, chaddr: bytes, *, xid: int = 1, ciaddr: bytes = ZERO_IP,
                  giaddr: bytes = ZERO_IP, flags: int = 0, requested: bytes | None = None,
                  server_id: bytes | None = None, client_id: bytes | None = None,
                  params: bytes | None = None, hostname: bytes | None = None,
                  lease_time: int | None = None, max_size: int | None = None,
                  extra: dict[int, bytes] | None = None) -> Packet:
    """A BOOTREQUEST with the given message type and options."""
    options: dict[int, bytes] = {opt.MESSAGE_TYPE: bytes((mtype,))}
    if client_id is not None:
        options[opt.CLIENT_ID] = client_id
    if requested is not None:
        options[opt.REQUESTED_IP] = requested
    if server_id is not None:
        options[opt.SERVER_ID] = server_id
    if params is not None:
        options[opt.PARAMETER_LIST] = params
    if hostname is not None:
        options[opt.HOSTNAME] = hostname
    if lease_time is not None:
        options[opt.LEASE_TIME] = opt.pack_u32(lease_time)
    if max_size is not None:
        options[opt.MAX_MESSAGE_SIZE] = max_size.to_bytes(2, "big")
    options.update(extra or {})
    return Packet(op=BOOTREQUEST, xid=xid, chaddr=chaddr, ciaddr=ciaddr, giaddr=giaddr,
                  flags=flags, options=options)


def settings(first: str = "10.0.0.10", last: str = "10.0.0.20", *,
             reservations: list[Reservation] | None = None, probe: bool = False,
             second_subnet: bool = False, lease_time: int = 600) -> EngineSettings:
    """Engine settings for 10.0.0.0/24 (and 192.0.2.0/24 behind a relay, if asked)."""
    reservations = reservations or []
    excluded = {ip_int(SERVER)} | {r.address for r in reservations if r.address is not None}
    subnets = [Subnet(IPv4Network("10.0.0.0/24"), SERVER,
                      Pool(ip_int(IPv4Address(first)), ip_int(IPv4Address(last)), excluded))]
    if second_subnet:
        subnets.append(Subnet(IPv4Network("192.0.2.0/24"), IPv4Address("192.0.2.1"),
                              Pool(ip_int(IPv4Address("192.0.2.10")),
                                   ip_int(IPv4Address("192.0.2.200")))))
    return EngineSettings(server_id=SERVER.packed, subnets=subnets, dns_servers=SERVER.packed,
                          domain=b"cluster.home", lease_time=lease_time, max_lease_time=7200,
                          reservations=reservations, probe=probe)
