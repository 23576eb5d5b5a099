"""How provisioning reaches a node: the connector interface, and the local implementation.

Everything provisioning does to a node goes through three calls:

    result = connector.run("uname -m")                       # -> CommandResult
    connector.put(data, "/etc/x.conf", mode=0o644)           # atomic: temp file + rename
    data = connector.get("/etc/os-release")                  # -> bytes

Implementations: `LocalConnector` (this machine, through `sh -c`), the SSH
connector over paramiko (the only module that imports paramiko), and the lab's
connector over `lab exec` (tests/support/lab_connector.py, for tests). They share the
remote shell commands built here, so a put is the same atomic sequence
everywhere. Every value put into a command is `shlex.quote`d.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Protocol

from foundation.errors import ApplianceError

DEFAULT_TIMEOUT = 300.0
"""Seconds a single remote command may take (apt-get install on a Pi can take minutes)."""


class ConnectError(ApplianceError, ConnectionError):
    """A node cannot be reached or refused us; the message names the host and the fix."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        """The node (name or address) that could not be reached."""
        self.reason = reason
        """What went wrong and how to fix it."""


@dataclass(frozen=True)
class CommandResult:
    """What a command run on a node gave back."""

    exit_status: int
    """Its exit status (-1 when it was killed by a signal or timed out)."""
    stdout: str
    """Standard output, decoded as UTF-8 (undecodable bytes replaced)."""
    stderr: str
    """Standard error, decoded the same way."""
    raw_stdout: bytes = field(default=b"", repr=False)
    """Standard output as the bytes it was (for binary files read with `get`)."""

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_status == 0


class Connector(Protocol):
    """A connection to one node."""

    host: str
    """The node's name or address, as error messages show it."""

    def run(self, command: str, *, sudo: bool = False, timeout: float = DEFAULT_TIMEOUT,
            stdin: bytes | None = None) -> CommandResult:
        """Run a shell command line; `sudo` runs it as root without a tty."""

    def put(self, data: bytes, path: str, *, mode: int = 0o644, owner: str = "root:root") -> None:
        """Write `data` to `path` atomically (temp file in the same directory, then rename)."""

    def get(self, path: str) -> bytes:
        """The content of `path` (ConnectError naming the path if it cannot be read)."""

    def close(self) -> None:
        """Release the connection."""


def sudo_wrap(command: str) -> str:
    """`command` run as root without a tty or a password prompt (`sudo -n`, fails fast instead)."""
    return f"sudo -n -- sh -c {shlex.quote(command)}"


def atomic_put_command(path: str, mode: int, owner: str) -> str:
    """Shell command that writes stdin to `path` atomically with `mode` and `owner`."""
    if not path.startswith("/"):
        raise ValueError(f"remote paths are absolute, got {path!r}")
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"file mode out of range: {mode:o}")
    target = shlex.quote(path)
    folder = shlex.quote(path.rsplit("/", 1)[0] or "/")
    temp = shlex.quote(f"{path}.appliance-tmp")
    # The temp file lives next to the target, so `mv` is a rename on one filesystem;
    # it is made 0600 first so no other user can read a secret while it is written.
    return (f"mkdir -p {folder} && umask 077 && cat > {temp} && chmod {mode:o} {temp} && "
            f"chown {shlex.quote(owner)} {temp} && mv -f {temp} {target}")


def get_command(path: str) -> str:
    """Shell command that prints `path`."""
    return f"cat -- {shlex.quote(path)}"


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


class LocalConnector:
    """This machine, through `sh -c` (the master provisioning itself, and tests)."""

    def __init__(self, host: str = "localhost", *, use_sudo: bool = False) -> None:
        self.host = host
        self._use_sudo = use_sudo

    def run(self, command: str, *, sudo: bool = False, timeout: float = DEFAULT_TIMEOUT,
            stdin: bytes | None = None) -> CommandResult:
        line = sudo_wrap(command) if sudo and self._use_sudo else command
        try:
            done = subprocess.run(["sh", "-c", line], input=stdin or b"", capture_output=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as error:
            raw = error.stdout or b""
            return CommandResult(-1, _decode(raw), f"timed out after {timeout:.0f} s", raw)
        return CommandResult(done.returncode, _decode(done.stdout), _decode(done.stderr), done.stdout)

    def put(self, data: bytes, path: str, *, mode: int = 0o644, owner: str = "root:root") -> None:
        result = self.run(atomic_put_command(path, mode, owner), sudo=True, stdin=data)
        if not result.ok:
            raise ConnectError(self.host, f"cannot write {path}: {result.stderr.strip()[:200]}")

    def get(self, path: str) -> bytes:
        try:
            with open(path, "rb") as file:
                return file.read()
        except OSError as error:
            raise ConnectError(self.host, f"cannot read {path}: {error.strerror}") from None

    def close(self) -> None:
        """Nothing to release."""
