"""Re-request leases as a relay would (run inside the relay's namespace, port 67 free).

    python -m tests.netd.dhcp.rerequest GIADDR SERVER INFILE

INFILE lines: `<chaddr hex:colon> <address> <client-id hex or ->`.
Prints one line per lease: `<chaddr> <address> ACK|NAK|NONE <yiaddr>`.
"""

from __future__ import annotations

import select
import socket
import sys
import time

from netd.dhcp import options as opt
from netd.dhcp.wire import MalformedPacket, Packet, parse


def main() -> None:
    giaddr, server, infile = sys.argv[1], sys.argv[2], sys.argv[3]
    leases = [line.split() for line in open(infile).read().splitlines() if line.strip()]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((giaddr, 67))
    answers: dict[int, tuple[str, str]] = {}
    for attempt in range(5):
        for xid, (chaddr, address, cid) in enumerate(leases, start=1):
            if xid in answers:
                continue
            options = {opt.MESSAGE_TYPE: bytes((opt.REQUEST,)),
                       opt.REQUESTED_IP: socket.inet_aton(address)}
            if cid != "-":
                options[opt.CLIENT_ID] = bytes.fromhex(cid)
            packet = Packet(op=1, xid=xid, chaddr=bytes.fromhex(chaddr.replace(":", "")),
                            giaddr=socket.inet_aton(giaddr), hops=1, options=options)
            sock.sendto(packet.to_wire(), (server, 67))
            if xid % 50 == 0:
                drain(sock, answers, 0.01)
        deadline = time.monotonic() + 1.0 + attempt
        while len(answers) < len(leases) and time.monotonic() < deadline:
            drain(sock, answers, 0.05)
    for xid, (chaddr, address, _cid) in enumerate(leases, start=1):
        kind, yiaddr = answers.get(xid, ("NONE", "-"))
        print(chaddr, address, kind, yiaddr)


def drain(sock: socket.socket, answers: dict[int, tuple[str, str]], wait: float) -> None:
    while select.select([sock], [], [], wait)[0]:
        wait = 0
        try:
            reply = parse(sock.recv(4096))
        except MalformedPacket:
            continue
        kind = {opt.ACK: "ACK", opt.NAK: "NAK"}.get(opt.message_type(reply.options) or 0)
        if kind:
            answers[reply.xid] = (kind, socket.inet_ntoa(reply.yiaddr))


if __name__ == "__main__":
    main()
