"""RFC 2132 option codes and the few typed decoders the engine needs (pure functions).

Decoders never raise: a value of the wrong length is treated as absent, which is
what RFC 2131 asks of a server faced with a broken optional field.
"""

from __future__ import annotations

import re
import struct

SUBNET_MASK = 1
ROUTER = 3
DNS_SERVERS = 6
HOSTNAME = 12
DOMAIN_NAME = 15
BROADCAST_ADDRESS = 28
REQUESTED_IP = 50
LEASE_TIME = 51
OVERLOAD = 52
MESSAGE_TYPE = 53
SERVER_ID = 54
PARAMETER_LIST = 55
MESSAGE = 56
MAX_MESSAGE_SIZE = 57
RENEWAL_TIME = 58
REBINDING_TIME = 59
CLIENT_ID = 61
RAPID_COMMIT = 80
RELAY_AGENT_INFO = 82

DISCOVER = 1
OFFER = 2
REQUEST = 3
DECLINE = 4
ACK = 5
NAK = 6
RELEASE = 7
INFORM = 8

MESSAGE_NAMES = {
    DISCOVER: "DISCOVER", OFFER: "OFFER", REQUEST: "REQUEST", DECLINE: "DECLINE",
    ACK: "ACK", NAK: "NAK", RELEASE: "RELEASE", INFORM: "INFORM",
}

# RFC 2131 §2: every client must accept 576-byte datagrams; 57 counts the IP and
# UDP headers too (28 bytes), as ISC dhcpd and dnsmasq read it.
MIN_DATAGRAM = 576
IP_UDP_HEADERS = 28

_LABEL = re.compile(rb"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def message_type(options: dict[int, bytes]) -> int | None:
    """Option 53, or None when absent or not one byte."""
    value = options.get(MESSAGE_TYPE)
    return value[0] if value is not None and len(value) == 1 else None


def address(options: dict[int, bytes], code: int) -> bytes | None:
    """A 4-byte address option (50, 54), or None."""
    value = options.get(code)
    return value if value is not None and len(value) == 4 else None


def u32(options: dict[int, bytes], code: int) -> int | None:
    """A 32-bit unsigned option (51), or None."""
    value = options.get(code)
    return struct.unpack("!I", value)[0] if value is not None and len(value) == 4 else None


def max_message_size(options: dict[int, bytes]) -> int:
    """Largest DHCP payload (bytes after the UDP header) the client accepts."""
    value = options.get(MAX_MESSAGE_SIZE)
    size = struct.unpack("!H", value)[0] if value is not None and len(value) == 2 else 0
    return max(size, MIN_DATAGRAM) - IP_UDP_HEADERS


def client_id(options: dict[int, bytes]) -> bytes | None:
    """Option 61 (at least 2 bytes per RFC 2132 §9.14), or None."""
    value = options.get(CLIENT_ID)
    return value if value is not None and len(value) >= 2 else None


def hostname_label(options: dict[int, bytes]) -> tuple[str | None, bool]:
    """Option 12 as a valid DNS label (lower-cased), and whether a bad one was dropped."""
    value = options.get(HOSTNAME)
    if value is None:
        return None, False
    value = value.rstrip(b"\0")  # some clients NUL-terminate
    if _LABEL.fullmatch(value):
        return value.decode("ascii").lower(), False
    return None, True


def is_dns_label(name: str) -> bool:
    """True when `name` is one DNS label of letters, digits and inner hyphens."""
    return bool(_LABEL.fullmatch(name.encode("ascii", "replace")))


def pack_u32(value: int) -> bytes:
    """A 32-bit unsigned option value."""
    return struct.pack("!I", value)


def colon_hex(value: bytes) -> str:
    """Bytes as lower-case hex joined by colons (the config's MAC/client-id form)."""
    return ":".join(f"{b:02x}" for b in value)


def from_colon_hex(text: str) -> bytes:
    """Inverse of colon_hex (also accepts '-' separators)."""
    return bytes.fromhex(text.replace(":", "").replace("-", ""))
