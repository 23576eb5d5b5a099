"""Pure DHCPv4 wire codec (RFC 2131 header, RFC 2132 options, RFC 3396 long options).

`parse(bytes) -> Packet` and `Packet.to_wire() -> bytes`. Nothing here touches a
socket, a clock or a logger; the only error that escapes `parse` is MalformedPacket.

Options are kept raw (`dict[int, bytes]`, insertion-ordered): the engine decodes
the few it needs through `netd.dhcp.options`, and unknown options (e.g. relay agent
information, 82) survive untouched so they can be echoed. Repeated instances of a
code are concatenated (RFC 3396). Option overload (52) is honoured on input: the
`file` and `sname` fields are parsed as more options, in the order RFC 2131 §4.1
gives; we never overload on output.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

BOOTREQUEST = 1
BOOTREPLY = 2
MAGIC_COOKIE = b"\x63\x82\x53\x63"
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
HEADER_LEN = HEADER.size  # 236
MIN_PACKET = HEADER_LEN + len(MAGIC_COOKIE)
BOOTP_MIN_SIZE = 300  # RFC 1542 §2.1: some relays and clients drop shorter BOOTP messages
FLAG_BROADCAST = 0x8000
OPT_PAD = 0
OPT_END = 255
OPT_OVERLOAD = 52
ZERO_IP = b"\0\0\0\0"


class MalformedPacket(ValueError):
    """Bytes that are not a well-formed DHCPv4 message (the only error `parse` raises)."""


@dataclass(slots=True)
class Packet:
    """One DHCPv4 message; addresses are 4 raw bytes (cheap to compare and hash)."""

    op: int
    """1 BOOTREQUEST, 2 BOOTREPLY."""
    xid: int
    """Transaction id chosen by the client."""
    chaddr: bytes
    """Client hardware address (hlen bytes, 6 for Ethernet)."""
    htype: int = 1
    """Hardware type (1 Ethernet)."""
    hops: int = 0
    """Relay hop count."""
    secs: int = 0
    """Seconds since the client began acquiring."""
    flags: int = 0
    """Bit 15 is the broadcast flag."""
    ciaddr: bytes = ZERO_IP
    """Client's current address (RENEWING, REBINDING, BOUND, INFORM)."""
    yiaddr: bytes = ZERO_IP
    """'Your' address: the one offered or acknowledged."""
    siaddr: bytes = ZERO_IP
    """Next server (boot) address."""
    giaddr: bytes = ZERO_IP
    """Relay agent address; non-zero means relayed."""
    sname: bytes = b""
    """Server host name field (raw, not overloaded on output)."""
    file: bytes = b""
    """Boot file name field (raw, not overloaded on output)."""
    options: dict[int, bytes] = field(default_factory=dict)
    """Option code -> value, in wire order; repeated codes concatenated."""

    @property
    def broadcast(self) -> bool:
        """The client asked for broadcast replies (RFC 2131 §4.1)."""
        return bool(self.flags & FLAG_BROADCAST)

    def to_wire(self, max_size: int = 65535) -> bytes:
        """Encode; options that would push the message past `max_size` bytes are left out.

        Options are written in dict order, so callers put the required ones first;
        a value longer than 255 bytes is split over several instances (RFC 3396).
        """
        if len(self.chaddr) > 16:
            raise ValueError("chaddr longer than 16 bytes")
        data = bytearray(HEADER.pack(
            self.op, self.htype, len(self.chaddr), self.hops, self.xid, self.secs, self.flags,
            self.ciaddr, self.yiaddr, self.siaddr, self.giaddr, self.chaddr,
            self.sname, self.file,
        ))
        data += MAGIC_COOKIE
        budget = max_size - MIN_PACKET - 1  # keep room for END
        for code, value in self.options.items():
            length = len(value)
            if length <= 255:  # the usual case, kept cheap: this is the reply hot path
                if length + 2 > budget:
                    continue
                budget -= length + 2
                data.append(code)
                data.append(length)
                data += value
                continue
            encoded = _encode_option(code, value)
            if len(encoded) > budget:
                continue
            budget -= len(encoded)
            data += encoded
        data.append(OPT_END)
        if len(data) < BOOTP_MIN_SIZE:
            data += bytes(BOOTP_MIN_SIZE - len(data))
        return bytes(data)


def _encode_option(code: int, value: bytes) -> bytes:
    if not value:
        return bytes((code, 0))
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)]
    return b"".join(bytes((code, len(chunk))) + chunk for chunk in chunks)


def parse(data: bytes) -> Packet:
    """Decode one DHCPv4 message; raise MalformedPacket for anything else."""
    if len(data) < MIN_PACKET:
        raise MalformedPacket(f"DHCP message of {len(data)} bytes is shorter than {MIN_PACKET}")
    (op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr,
     chaddr16, sname, file) = HEADER.unpack_from(data)
    if op not in (BOOTREQUEST, BOOTREPLY):
        raise MalformedPacket(f"op {op} is neither BOOTREQUEST nor BOOTREPLY")
    if hlen > 16:
        raise MalformedPacket(f"hlen {hlen} exceeds the 16-byte chaddr field")
    if data[HEADER_LEN:MIN_PACKET] != MAGIC_COOKIE:
        raise MalformedPacket("missing the DHCP magic cookie (a plain BOOTP message?)")
    options: dict[int, bytes] = {}
    _read_options(data, MIN_PACKET, options)
    overload = options.get(OPT_OVERLOAD)
    if overload is not None:
        if len(overload) != 1 or overload[0] not in (1, 2, 3):
            raise MalformedPacket(f"option overload value {overload.hex()} is not 1, 2 or 3")
        del options[OPT_OVERLOAD]
        # RFC 2131 §4.1: options, then 'file', then 'sname'.
        if overload[0] & 1:
            _read_options(file, 0, options)
            file = b""
        if overload[0] & 2:
            _read_options(sname, 0, options)
            sname = b""
    # Positional: this runs for every datagram, and keywords cost a third more here.
    return Packet(op, xid, chaddr16[:hlen], htype, hops, secs, flags, ciaddr, yiaddr, siaddr,
                  giaddr, sname, file, options)


def _read_options(data: bytes, pos: int, options: dict[int, bytes]) -> None:
    """Cursor over code/length/value triples up to END (or the end of the buffer)."""
    end = len(data)
    while pos < end:
        code = data[pos]
        if code == OPT_END:
            return
        if code == OPT_PAD:
            pos += 1
            continue
        if pos + 1 >= end:
            raise MalformedPacket(f"option {code} at offset {pos} has no length byte")
        length = data[pos + 1]
        start = pos + 2
        pos = start + length
        if pos > end:
            raise MalformedPacket(f"option {code} claims {length} bytes past the end of the message")
        value = data[start:pos]
        previous = options.get(code)
        options[code] = value if previous is None else previous + value
