"""Watch a LAN for address probes and DHCP offers (run inside a client namespace).

    python -m tests.netd.dhcp.wire_watch OUTFILE      (listens on eth0)

First line `ready`; then `probe <monotonic time> <address hex>` for every RFC 5227 ARP probe
(a request from 0.0.0.0) and `offer <chaddr hex> <yiaddr hex>` for every DHCPOFFER.
"""

from __future__ import annotations

import socket
import sys
import time

from netd.dhcp.wire import parse


def main(argv: list[str]) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.bind(("eth0", 0))
    with open(argv[0], "w", buffering=1) as out:
        out.write("ready\n")
        while True:
            frame = sock.recv(4096)
            if frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x01" and frame[28:32] == bytes(4):
                out.write(f"probe {time.monotonic():.6f} {frame[38:42].hex()}\n")
            elif frame[12:14] == b"\x08\x00" and frame[23] == 17:
                udp = 14 + (frame[14] & 0x0F) * 4
                if frame[udp + 2:udp + 4] == b"\x00\x44":  # to port 68: a reply of the server
                    packet = parse(frame[udp + 8:])
                    if packet.options.get(53) == b"\x02":
                        out.write(f"offer {packet.chaddr.hex()} {packet.yiaddr.hex()}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
