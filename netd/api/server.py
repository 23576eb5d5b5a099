"""Serving a WSGI app on host:port from a thread of the daemon."""

from __future__ import annotations

import socket
import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server


class AgentApiServer:
    """Serves an app on host:port in a thread (werkzeug's threaded WSGI server)."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        # Bind here: werkzeug's make_server turns a bind error into print + sys.exit(1), and a
        # daemon needs an OSError it can handle. werkzeug then serves the listening socket (fd=).
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(64)
            self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, fd=listener.fileno())
        finally:
            listener.close()  # werkzeug holds its own duplicate of the descriptor
        self.port = int(self._server.socket.getsockname()[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="agent-api", daemon=True)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()
