"""Helpers for tests that use the lab (pytest-free; tests/lab/conftest.py wraps them in fixtures).

    lab = LabHandle.up(nodes=4)           # or LabManager for a session
    lab.run("pi-1", "cat /etc/hostname")  # -> CompletedProcess (text)
    lab.read_file("pi-2", "/etc/hostname")
    lab.wait_for(lambda: lab.address("pi-3") is not None, timeout=10, what="pi-3's lease")
    with lab.ssh("pi-1") as client: ...   # paramiko, connected from inside the master's namespace

Commands run through the same code as `appliance lab exec`, so a test sees
exactly what a user would.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hardware.lab import control, lifecycle, plumbing, services
from hardware.lab import nodes as boards
from hardware.lab import topology as t
from hardware.lab.state import LabDirs, default_dirs, load_record
from hardware.lab.status import board_address, lab_status

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not come true in time (an AssertionError, so pytest reports it as a failure)."""


def wait_for(condition: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.1,
             what: str = "condition") -> T:
    """Poll `condition` until it returns something truthy; return that, or raise WaitTimeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # a condition may fail while the lab settles
            last_error = error
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what} not true after {timeout:.1f} s (last error: {last_error!r})")
        time.sleep(interval)


@functools.cache
def default_addressing() -> str:
    """`dhcp` when the master daemon exists, else `static`; $PILAB_ADDRESSING overrides (asked once)."""
    return os.environ.get("PILAB_ADDRESSING") or ("dhcp" if services.daemon_available() else "static")


@dataclass
class LabHandle:
    """A running lab, seen from a test."""

    dirs: LabDirs
    """The lab's directories."""

    @property
    def plan(self) -> t.LabPlan:
        """The running lab's topology."""
        record = load_record(self.dirs)
        if record is None:
            raise RuntimeError("the lab is not running")
        return record.plan()

    def node(self, name: str) -> t.NodePlan:
        """A board by name (pi-N, or master-board)."""
        node = self.plan.board(name)
        if node is None:
            raise KeyError(name)
        return node

    def status(self) -> dict[str, Any]:
        """The `lab status -o json` document."""
        return lab_status(self.dirs)

    def argv(self, node: str, command: str | list[str]) -> list[str]:
        """Host command line running `command` (a shell string or argv) on `node`."""
        inner = ["sh", "-c", command] if isinstance(command, str) else command
        return control.exec_command(self.dirs, node, inner)

    def run(self, node: str, command: str | list[str], *, check: bool = True, timeout: float = 30.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `command` on `node` (worker, master, home, internet) and return the finished process."""
        result = subprocess.run(self.argv(node, command), capture_output=True, text=True, timeout=timeout,
                                input=input, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{node}: {command!r} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def read_file(self, node: str, path: str) -> str:
        """A file's text as `node` sees it (through the board's own root)."""
        board = self.plan.board(node)
        if board is None:  # master, home, internet share the host's files
            return Path(path).read_text()
        pid = boards.init_pid(board)
        if pid is None:
            raise FileNotFoundError(f"{node} is powered off")
        return Path(f"/proc/{pid}/root{path}").read_text()

    def address(self, node: str) -> str | None:
        """A board's current IPv4 address on eth0."""
        return board_address(self.plan, self.node(node))

    def wait_for(self, condition: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.1,
                 what: str = "condition") -> T:
        """Same as the module's wait_for (handy as a method)."""
        return wait_for(condition, timeout, interval, what)

    @contextlib.contextmanager
    def ssh(self, node: str, user: str = "root", timeout: float = 10.0) -> Iterator[Any]:
        """A paramiko SSHClient logged in to `node` with the lab key, from inside the master's namespace."""
        import paramiko

        address = self.address(node) or ""
        sock = plumbing.connect_in(t.MASTER_NS, address, 22, timeout)
        client = paramiko.SSHClient()
        # Boards make fresh host keys on a fresh disk; tests pin them explicitly where it matters.
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(address, username=user, key_filename=str(self.dirs.key), sock=sock,
                           allow_agent=False, look_for_keys=False, timeout=timeout)
            yield client
        finally:
            client.close()
            sock.close()

    def ssh_run(self, node: str, command: str, user: str = "root") -> tuple[int, str]:
        """Run `command` over SSH; return (exit status, stdout)."""
        with self.ssh(node, user) as client:
            _, stdout, _ = client.exec_command(command, timeout=30)
            output = stdout.read().decode()
            return stdout.channel.recv_exit_status(), output

    def power(self, node: str, state: str, wait: float = 30.0) -> None:
        """`lab power NODE off|on`."""
        control.power(self.dirs, node, state, wait)

    def link(self, node: str, state: str) -> None:
        """`lab link NODE down|up`."""
        control.link(self.dirs, node, state)


class LabManager:
    """One lab per test session, brought up on first use and down at the end.

    A test that needs the machine without a lab (e.g. the `lab down` leaves-nothing
    test) calls `suspend()`; the next user of the lab brings it up again.
    """

    def __init__(self, nodes: int = 4, addressing: str | None = None, dirs: LabDirs | None = None) -> None:
        self.nodes = nodes
        self.addressing = addressing
        self.dirs = dirs or default_dirs()
        self.started_here = False

    def ensure_up(self) -> LabHandle:
        """The running lab, starting it (fresh disks) if this session has none."""
        record = load_record(self.dirs)
        addressing = self.addressing or default_addressing()
        if record is not None and (record.nodes, record.addressing) != (self.nodes, addressing):
            lifecycle.down(self.dirs)  # someone's lab of another shape: tests need theirs
            record = None
        if record is None or record.phase != "running":
            self.started_here = True
            try:
                lifecycle.up(self.dirs, nodes=self.nodes, addressing=addressing, fresh=True,
                       say=lambda message: None)
            except BaseException:
                # Tests clean up even when they fail: no half-booted lab is left for the next
                # test (it would try again) or for the machine (consoles are in the error).
                lifecycle.down(self.dirs)
                raise
        return LabHandle(self.dirs)

    def suspend(self) -> None:
        """Take the lab down (if any) so a test can have the machine to itself."""
        lifecycle.down(self.dirs)

    def close(self) -> None:
        """End of session: remove the lab this session made."""
        if self.started_here:
            lifecycle.down(self.dirs)


def shell_quote(argv: list[str]) -> str:
    """argv as one shell string (for commands sent over SSH)."""
    return " ".join(shlex.quote(a) for a in argv)
