"""Network-namespace plumbing for the rtt- tests (NAT, routes, agent): real namespaces and veths.

Every name starts with `rtt-` plus a per-run tag so that parallel runs and
other helpers' tests never collide; `Netns.close()` removes what it made
(processes it started, by pid; namespaces, which take their veths along).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.paths import REPO

VENV_PYTHON = sys.executable


def debian_python() -> str | None:
    """/usr/bin/python3 if it has pyroute2 (what lab nodes run the agent with), else None."""
    python = shutil.which("python3", path="/usr/bin")
    if python is None:
        return None
    done = subprocess.run([python, "-c", "import pyroute2"], capture_output=True)
    return python if done.returncode == 0 else None


def run(args: list[str], check: bool = True, timeout: float = 30, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, text output captured; CalledProcessError with its stderr when check fails."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.02) -> float:
    """Poll until predicate() is truthy; returns the seconds it took. AssertionError on timeout."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


class Netns:
    """Namespaces, veths and processes made by one test; close() removes them all."""

    def __init__(self) -> None:
        self.tag = f"{os.getpid() % 10000:04d}{int(time.monotonic() * 1000) % 100:02d}"
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen[str]] = []

    def ns(self, role: str) -> str:
        """Create namespace rtt-<role>-<tag> with lo up; returns its name."""
        name = f"rtt-{role}-{self.tag}"
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def veth(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        """A veth pair, one end in each namespace, both up."""
        tmp_a, tmp_b = f"rtt{self.tag}a", f"rtt{self.tag}b"
        run(["ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b])
        run(["ip", "link", "set", tmp_a, "netns", ns_a, "name", if_a])
        run(["ip", "link", "set", tmp_b, "netns", ns_b, "name", if_b])
        run(["ip", "-n", ns_a, "link", "set", if_a, "up"])
        run(["ip", "-n", ns_b, "link", "set", if_b, "up"])

    def ip(self, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`ip -n ns args...`."""
        return run(["ip", "-n", ns, *args], check=check)

    def exec(self, ns: str, *args: str, check: bool = True, timeout: float = 30, **kw: object) -> subprocess.CompletedProcess[str]:
        """Run a command inside `ns`."""
        return run(["ip", "netns", "exec", ns, *args], check=check, timeout=timeout, **kw)

    def spawn(
        self, ns: str, *args: str, env: dict[str, str] | None = None, stdin: bool = False, log: Path | None = None
    ) -> subprocess.Popen[str]:
        """Start a process inside `ns` (killed by close()); stderr to `log` if given (chatty daemons)."""
        full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
        with contextlib.ExitStack() as stack:
            stderr = stack.enter_context(open(log, "a")) if log is not None else subprocess.PIPE
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *args],
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=full_env,
            )
        self.processes.append(proc)
        return proc

    def routes(self, ns: str, proto: str = "171") -> dict[str, str]:
        """dst -> gateway of the routes with protocol `proto` in the main table of `ns`."""
        out = self.ip(ns, "-j", "-4", "route", "show", "proto", proto).stdout
        return {r["dst"]: r.get("gateway", "") for r in json.loads(out or "[]")}

    def close(self) -> None:
        """Stop our processes and delete our namespaces."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        for name in reversed(self.namespaces):
            run(["ip", "netns", "delete", name], check=False)


def stop(proc: subprocess.Popen[str]) -> str:
    """Terminate `proc`, return its stderr (for failure messages)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.stderr.read() if proc.stderr else ""


# python3 -m http.server resolves its own address (getfqdn) at bind time, which sends a DNS query
# out of the namespace and hangs where a default route exists; this one serves without that.
HTTP_SERVER = """
import functools, http.server, socketserver, sys
class Server(http.server.ThreadingHTTPServer):
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[3])
Server((sys.argv[1], int(sys.argv[2])), handler).serve_forever()
"""


def http_server(net: Netns, ns: str, address: str, port: int, directory: Path) -> subprocess.Popen[str]:
    """Serve `directory` over HTTP on address:port inside `ns`; returns once it listens."""
    proc = net.spawn(ns, VENV_PYTHON, "-c", HTTP_SERVER, address, str(port), str(directory))
    try:
        wait_for(lambda: f"{address}:{port}" in net.exec(ns, "ss", "-ltnH").stdout, 5)
    except AssertionError:
        raise AssertionError(f"HTTP server in {ns} did not start: {stop(proc)}") from None
    return proc
