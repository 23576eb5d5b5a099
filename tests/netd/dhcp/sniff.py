"""Capture DHCP frames on one interface and log them, one line each (run inside a namespace).

Usage: python dhcpt_sniff.py IFACE OUTFILE [PORT]
Line: `<dst mac> <dst ip> <udp dst port> <message type> <chaddr hex> <yiaddr> <client-id hex or ->`
"""

from __future__ import annotations

import socket
import sys


def main() -> None:
    interface, outfile = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 68
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.bind((interface, 0))
    with open(outfile, "w", buffering=1) as out:
        out.write("ready\n")
        while True:
            frame = sock.recv(4096)
            if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
                continue
            ihl = (frame[14] & 0x0F) * 4
            udp = 14 + ihl
            if int.from_bytes(frame[udp + 2:udp + 4], "big") != port:
                continue
            dhcp = frame[udp + 8:]
            if len(dhcp) < 240:
                continue
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
            out.write(f"{dst_mac} {dst_ip} {port} {mtype} {chaddr} {yiaddr} {cid}\n")


if __name__ == "__main__":
    main()
