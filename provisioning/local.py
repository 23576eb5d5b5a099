"""Facts about the master itself that provisioning needs (the uplink address for the API certificate)."""

from __future__ import annotations

import fcntl
import socket
import struct

from foundation.config.model import Config

SIOCGIFADDR = 0x8915


def interface_address(name: str) -> str | None:
    """The IPv4 address of interface `name` in this network namespace, or None."""
    if not name or len(name) > 15:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()))
        except OSError:
            return None
    return socket.inet_ntoa(answer[20:24])


def uplink_address(config: Config) -> str | None:
    """The master's address on the home network now (None when the uplink has none)."""
    return interface_address(config.network.uplink_interface)
