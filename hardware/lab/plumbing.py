"""Kernel plumbing for the lab: network namespaces, links, processes.

Links are made with `ip -batch` inside the lab's namespaces (one process for
many commands, which keeps a 16-node `lab up` fast). Sockets and netlink
handles *inside* a namespace are made by switching only the calling thread
into it with setns(2) for the moment of creation: a socket stays in the
namespace it was created in, so the host can talk into the sealed lab (SSH
checks, paramiko in tests) without any link in the host's own namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from foundation.errors import EnvironmentProblem

NETNS_DIR = Path("/run/netns")
"""Where `ip netns` keeps its named namespaces."""

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def run(command: Sequence[str], *, check: bool = True, input: str | None = None) -> str:
    """Run a command, return its stdout; on failure raise EnvironmentProblem with its stderr."""
    result = subprocess.run(list(command), input=input, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise EnvironmentProblem(
            f"{' '.join(command[:6])} failed: {result.stderr.strip() or result.stdout.strip()}"
        )
    return result.stdout


def ip_batch(namespace: str | None, commands: Sequence[str]) -> None:
    """Run many `ip` commands in one process, optionally inside `namespace`."""
    if not commands:
        return
    prefix = ["ip", "-n", namespace] if namespace else ["ip"]
    run([*prefix, "-batch", "-"], input="\n".join(commands) + "\n")


def list_namespaces(prefix: str) -> list[str]:
    """Named network namespaces whose name starts with `prefix`."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def add_namespaces(names: Sequence[str]) -> None:
    """Create named network namespaces with loopback up."""
    for name in names:
        run(["ip", "netns", "add", name])
    for name in names:
        run(["ip", "-n", name, "link", "set", "lo", "up"])


def namespace_pids(name: str) -> list[int]:
    """PIDs of every process whose network namespace is `name`."""
    out = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in out.split()]


def kill_pids(pids: Sequence[int], sig: int = signal.SIGKILL) -> None:
    """Send `sig` to each pid, ignoring ones already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    """Wait until none of `pids` exists (or timeout); return those still alive."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if pid_alive(p)]
        if alive:
            time.sleep(0.02)
    return alive


def pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc/PID/task/*/children)."""
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise EnvironmentProblem(f"setns into a network namespace failed: {os.strerror(err)}")


@contextlib.contextmanager
def in_namespace(name: str) -> Iterator[None]:
    """Run the body with this *thread* inside network namespace `name`, then switch back.

    Only things created in the body (sockets, netlink handles) live in `name`;
    nothing else of the process moves.
    """
    path = NETNS_DIR / name
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise EnvironmentProblem(
            f"network namespace {name} does not exist; fix: appliance lab up"
        ) from None
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def socket_in(name: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A new socket that lives in network namespace `name`."""
    with in_namespace(name):
        return socket.socket(family, kind)


def connect_in(name: str, address: str, port: int, timeout: float = 2.0) -> socket.socket:
    """A TCP connection to address:port made from inside namespace `name`."""
    sock = socket_in(name)
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
    except OSError:
        sock.close()
        raise
    return sock


def ssh_banner(name: str, address: str, timeout: float = 1.0) -> str | None:
    """The SSH banner of address:22 seen from namespace `name`, or None if nothing answers."""
    try:
        with connect_in(name, address, 22, timeout) as sock:
            data = sock.recv(256)
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return line if line.startswith("SSH-") else None


def udp_port_bound(namespace: str, port: int) -> bool:
    """True if some socket in `namespace` is bound to UDP `port` (e.g. a DHCP server on 67)."""
    with in_namespace(namespace):
        # /proc/thread-self/net shows the reading thread's own network namespace.
        table = Path("/proc/thread-self/net/udp").read_text()
    wanted = f":{port:04X}"
    return any(line.split()[1].endswith(wanted) for line in table.splitlines()[1:] if line.strip())


def tcp_listening(namespace: str, port: int) -> bool:
    """True if a socket in `namespace` listens on TCP `port` (no connection is made)."""
    with in_namespace(namespace):
        tables = [Path(f"/proc/thread-self/net/{name}").read_text() for name in ("tcp", "tcp6")]
    wanted = f":{port:04X}"
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[1].endswith(wanted) and fields[3] == "0A":  # 0A = LISTEN
                return True
    return False


def ipv4_addresses(namespace: str, interface: str) -> list[str]:
    """IPv4 addresses (`a.b.c.d/len`) of `interface` in `namespace`; [] if it has none."""
    from pyroute2 import IPRoute

    with in_namespace(namespace):
        ipr = IPRoute()
    try:
        index = ipr.link_lookup(ifname=interface)
        if not index:
            return []
        return [
            f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ipr.get_addr(family=socket.AF_INET, index=index[0])
        ]
    finally:
        ipr.close()


def link_state(namespace: str, interface: str) -> str | None:
    """`up` or `down` (administrative state) of `interface` in `namespace`; None if missing."""
    from pyroute2 import IPRoute

    with in_namespace(namespace):
        ipr = IPRoute()
    try:
        links = ipr.get_links(ifname=interface)
        if not links:
            return None
        return "up" if links[0]["flags"] & 1 else "down"
    except Exception:  # pyroute2 raises NetlinkError for a missing name
        return None
    finally:
        ipr.close()
