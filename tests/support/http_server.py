"""Serve a directory over HTTP on one address (run inside a namespace by the NAT tests).

    python -m tests.support.http_server ADDRESS PORT DIRECTORY

`python3 -m http.server` resolves its own address (getfqdn) at bind time, which sends a DNS
query out of the namespace and hangs where a default route exists; this one serves without that.
"""

from __future__ import annotations

import functools
import http.server
import socketserver
import sys


class Server(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer that names itself by its address instead of asking DNS."""

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


def main(argv: list[str]) -> None:
    """Serve until killed."""
    address, port, directory = argv[0], int(argv[1]), argv[2]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    Server((address, port), handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
