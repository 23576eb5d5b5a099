"""A provisioning connector to a lab member, over `lab exec` (what tests provision through).

    connector = LabConnector(lab.dirs, "pi-1")
    connector.run("uname -m")                        # -> CommandResult
    connector.put(b"...", "/etc/x.conf", mode=0o600)  # the same atomic command as over SSH
    connector.get("/etc/os-release")                  # -> bytes, exactly

Commands run through hardware.lab.control.exec_command, the code behind `appliance lab
exec`, so a test sees what a user would; `put` sends provisioning.connector's
atomic_put_command, the one every connector uses. It lives with the tests because the
lab may not import provisioning (the lab is a service of its own; see pyproject's
import contracts). Lab members run commands as root, so `sudo` changes nothing here.
"""

from __future__ import annotations

import subprocess

from foundation.errors import ApplianceError
from hardware.lab import control
from hardware.lab.state import LabDirs
from provisioning.connector import (
    DEFAULT_TIMEOUT,
    CommandResult,
    ConnectError,
    atomic_put_command,
    get_command,
)


class LabConnector:
    """One lab member (pi-N, master, home, internet) as a provisioning Connector."""

    def __init__(self, dirs: LabDirs, node: str) -> None:
        self.dirs = dirs
        """The lab's directories."""
        self.host = node
        """The member's name, as error messages show it."""

    def _argv(self, command: str) -> list[str]:
        try:
            return control.exec_command(self.dirs, self.host, ["sh", "-c", command])
        except ApplianceError as error:  # the lab is down, or no such member
            raise ConnectError(self.host, str(error)) from None

    def _run(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        try:
            done = subprocess.run(self._argv(command), input=stdin or b"", capture_output=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as error:
            return -1, error.stdout or b"", f"timed out after {timeout:.0f} s".encode()
        return done.returncode, done.stdout, done.stderr

    def run(self, command: str, *, sudo: bool = False, timeout: float = DEFAULT_TIMEOUT,
            stdin: bytes | None = None) -> CommandResult:
        """Run a shell command line on the member (as root, whatever `sudo` says)."""
        status, out, err = self._run(command, stdin, timeout)
        return CommandResult(status, out.decode("utf-8", errors="replace"), err.decode("utf-8", errors="replace"))

    def put(self, data: bytes, path: str, *, mode: int = 0o644, owner: str = "root:root") -> None:
        """Write `data` to `path` atomically, with `mode` and `owner`."""
        result = self.run(atomic_put_command(path, mode, owner), stdin=data)
        if not result.ok:
            raise ConnectError(self.host, f"cannot write {path}: {result.stderr.strip()[:200]}")

    def get(self, path: str) -> bytes:
        """The bytes of `path` on the member, unchanged."""
        status, out, err = self._run(get_command(path), None, DEFAULT_TIMEOUT)
        if status != 0:
            reason = err.decode("utf-8", errors="replace").strip()[:200]
            raise ConnectError(self.host, f"cannot read {path}: {reason}")
        return out

    def close(self) -> None:
        """Nothing to release (every call is a process of its own)."""
