"""systemd's notify protocol: READY=1, WATCHDOG=1, STATUS=, STOPPING=1 as datagrams to $NOTIFY_SOCKET.

A few lines instead of systemd-python: the protocol is one datagram per
message to the Unix socket systemd names (an abstract one when the path
starts with `@`). Without NOTIFY_SOCKET (not under systemd) every call is a
no-op, so the daemon runs the same in a terminal, in the lab and under
systemd.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends notify messages to the socket named at construction (or nowhere)."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        """$NOTIFY_SOCKET, None when not run by systemd with Type=notify."""
        self._socket: socket.socket | None = None
        if address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # Never block the event loop: a full receive queue at the other end (a reader that
            # stopped reading) must cost a lost ping, not a frozen daemon.
            self._socket.setblocking(False)

    @classmethod
    def from_environment(cls) -> Notifier:
        """The notifier systemd asked for, if any (NOTIFY_SOCKET is then removed from the
        environment, so the daemon's children never talk to systemd in its name)."""
        return cls(os.environ.pop("NOTIFY_SOCKET", None))

    def send(self, *fields: str) -> bool:
        """Send `KEY=VALUE` fields as one message; False when there is nowhere to send."""
        if self._socket is None or self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            self._socket.sendto("\n".join(fields).encode(), target)
        except OSError:  # systemd went away (shutdown) or its queue is full: nothing to be done
            return False
        return True

    def ready(self, status: str) -> bool:
        """Startup is complete."""
        return self.send("READY=1", f"STATUS={status}")

    def watchdog(self) -> bool:
        """Still alive (systemd restarts the service when these stop for WatchdogSec)."""
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """A one-line status for `systemctl status`."""
        return self.send(f"STATUS={text}")

    def stopping(self) -> bool:
        """Shutdown has begun."""
        return self.send("STOPPING=1", "STATUS=stopping")

    def close(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of $WATCHDOG_USEC, None when no watchdog is set.

    WATCHDOG_PID, when set, must be this process (systemd sets it for the main process).
    """
    env = os.environ if environ is None else environ
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000 / 2
