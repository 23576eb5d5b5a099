"""Capture DHCP frames on one interface and log them, one line each (run inside a namespace).

    python -m tests.netd.dhcp.sniff IFACE OUTFILE [PORT]

First line `ready`; then per frame to UDP port PORT (default 68):
`<dst mac> <dst ip> <udp dst port> <message type> <chaddr hex> <yiaddr> <client-id hex or ->`.
On SIGUSR1 it reads every frame the kernel holds for it, then writes `drained N` (N counts
the drains): a test that waits for that line knows every frame received before its signal
is in the file (see clients.Sniffer.drain).
"""

from __future__ import annotations

import signal
import socket
import sys
from types import FrameType
from typing import TextIO


def describe(frame: bytes, port: int) -> str | None:
    """The log line of a frame, or None if it is not a DHCP message to `port`."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    ihl = (frame[14] & 0x0F) * 4
    udp = 14 + ihl
    if int.from_bytes(frame[udp + 2:udp + 4], "big") != port:
        return None
    dhcp = frame[udp + 8:]
    if len(dhcp) < 240:
        return None
    mtype, cid, pos = 0, "-", 240
    while pos + 1 < len(dhcp) and dhcp[pos] != 255:
        if dhcp[pos] == 0:
            pos += 1
            continue
        code, length = dhcp[pos], dhcp[pos + 1]
        if code == 53:
            mtype = dhcp[pos + 2]
        if code == 61:
            cid = dhcp[pos + 2:pos + 2 + length].hex()
        pos += 2 + length
    dst_mac = frame[0:6].hex(":")
    dst_ip = socket.inet_ntoa(frame[30:34])
    chaddr = dhcp[28:34].hex(":")
    yiaddr = socket.inet_ntoa(dhcp[16:20])
    return f"{dst_mac} {dst_ip} {port} {mtype} {chaddr} {yiaddr} {cid}\n"


def drain(sock: socket.socket, port: int, out: TextIO) -> None:
    """Log every frame already queued on `sock`, without waiting for more."""
    sock.setblocking(False)
    try:
        while True:
            try:
                frame = sock.recv(4096)
            except BlockingIOError:
                return
            line = describe(frame, port)
            if line:
                out.write(line)
    finally:
        sock.settimeout(0.1)


def main(argv: list[str]) -> None:
    interface, outfile = argv[0], argv[1]
    port = int(argv[2]) if len(argv) > 2 else 68
    asked = 0

    def on_drain(signum: int, frame: FrameType | None) -> None:
        nonlocal asked
        asked += 1

    signal.signal(signal.SIGUSR1, on_drain)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.bind((interface, 0))
    sock.settimeout(0.1)  # to notice a drain request while nothing comes
    drained = 0
    with open(outfile, "w", buffering=1) as out:
        out.write("ready\n")
        while True:
            try:
                line = describe(sock.recv(4096), port)
            except TimeoutError:
                line = None
            if line:
                out.write(line)
            if drained < asked:
                drained = asked
                drain(sock, port, out)
                out.write(f"drained {drained}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
