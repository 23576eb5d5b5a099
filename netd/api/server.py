"""Serving WSGI apps from a thread of the daemon with waitress, a production WSGI server.

waitress is pure Python, well kept, needs no C build on a Pi, serves several
listening sockets from one thread of its own plus a pool of worker threads,
and is meant to face clients directly (bounded request bodies, connection
limit, slow clients handled by its I/O loop rather than by worker threads).
The agent API (`AgentApiServer`) and the master's web page both use
`WsgiServer`.

Sockets are bound here, not by waitress, so a bind error is an OSError the
daemon can turn into one line (and so a Unix socket gets its mode before
anyone can connect).
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any

from waitress.server import create_server

IP_FREEBIND = 15
"""Linux socket option: bind to an address the host does not have (yet)."""

MAX_REQUEST_BODY = 1024 * 1024
"""Largest request body waitress accepts (the apps limit theirs further)."""


def tcp_listener(host: str, port: int, *, freebind: bool = False, backlog: int = 128) -> socket.socket:
    """A listening TCP socket on host:port (OSError if it cannot bind).

    With `freebind` the address need not be on an interface yet (the LAN address the
    routes service is still putting on): the socket starts answering once it is.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if freebind:
            listener.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        listener.bind((host, port))
        listener.listen(backlog)
    except BaseException:
        listener.close()
        raise
    return listener


def unix_listener(path: Path, *, mode: int = 0o600, backlog: int = 64) -> socket.socket:
    """A listening Unix socket at `path` with `mode` set before it listens (a stale one is replaced)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old_umask = os.umask(0o177)  # no window in which others could connect
        try:
            listener.bind(str(path))
        finally:
            os.umask(old_umask)
        os.chmod(path, mode)
        listener.listen(backlog)
    except BaseException:
        listener.close()
        raise
    return listener


class WsgiServer:
    """One waitress server over the given listening sockets, run by a thread of its own."""

    def __init__(self, app: Any, listeners: list[socket.socket], *, name: str, threads: int = 4,
                 connection_limit: int = 100) -> None:
        self.name = name
        self._map: dict[int, Any] = {}
        self._listeners = listeners
        self._server = create_server(
            app, map=self._map, sockets=listeners, threads=threads, ident="appliance",
            connection_limit=connection_limit, max_request_body_size=MAX_REQUEST_BODY,
            channel_timeout=60, asyncore_use_poll=True, expose_tracebacks=False,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    @property
    def addresses(self) -> list[Any]:
        """Where it listens: (host, port) pairs and Unix socket paths."""
        return [listener.getsockname() for listener in self._listeners]

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and socket, and let running requests end."""
        if self._thread.is_alive():
            # Close the sockets from waitress's own loop thread (its trigger runs the thunk
            # there); the loop ends once its map is empty.
            trigger = next((d for d in self._map.values() if hasattr(d, "pull_trigger")), None)
            if trigger is not None:
                trigger.pull_trigger(self._close_all)
            self._thread.join(timeout)
        else:
            self._close_all()
        self._server.task_dispatcher.shutdown(timeout=max(1, round(timeout)))
        for listener in self._listeners:
            listener.close()

    def _close_all(self) -> None:
        for dispatcher in list(self._map.values()):
            with contextlib.suppress(OSError):
                dispatcher.close()
        self._map.clear()


class AgentApiServer:
    """The agent API app on host:port (netd's own listener), served by waitress."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        listener = tcp_listener(host, port)
        self.port = int(listener.getsockname()[1])
        self._server = WsgiServer(app, [listener], name="agent-api", threads=4)

    def start(self) -> None:
        """Start serving."""
        self._server.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.stop()
