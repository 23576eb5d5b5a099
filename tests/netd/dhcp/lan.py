"""A throw-away DHCP lab made of network namespaces (prefix `dhcpt-`).

Server namespace: bridge `br0` (10.0.0.1/24) where the real `appliance netd run
--only dhcp` serves. Each client gets its own namespace whose `eth0` is a veth
attached to that bridge. Nothing is created outside these namespaces; `close()`
kills every process started and deletes every namespace, even after failures.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
APPLIANCE = str(REPO / ".venv" / "bin" / "appliance")
PYTHON = sys.executable
SERVER_MAC = "02:dd:00:00:00:01"


def sh(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output."""
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=timeout)


def client_mac(n: int) -> str:
    """Deterministic locally administered MAC of client n."""
    return f"02:aa:00:00:{(n >> 8) & 255:02x}:{n & 255:02x}"


class Lab:
    """Server namespace + bridge, client namespaces, and the processes in them."""

    def __init__(self, workdir: Path, tag: str, prefixlen: int = 24) -> None:
        self.workdir = workdir
        self.prefixlen = prefixlen
        self.prefix = f"dhcpt-{os.getpid() % 100000}-{tag}"
        self.server_ns = f"{self.prefix}-s"
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.server: subprocess.Popen[bytes] | None = None
        self.server_log = workdir / "netd.log"
        self.state_dir = workdir / "state"
        self._add_ns(self.server_ns)
        self.ns_run(self.server_ns, "ip", "link", "add", "br0", "address", SERVER_MAC, "type", "bridge")
        self.ns_run(self.server_ns, "ip", "addr", "add", f"10.0.0.1/{prefixlen}", "dev", "br0")
        self.ns_run(self.server_ns, "ip", "link", "set", "br0", "up")
        self.ns_run(self.server_ns, "ip", "link", "set", "lo", "up")

    def _add_ns(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)

    def ns_run(self, ns: str, *args: str, check: bool = True,
               timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command inside namespace `ns`."""
        return sh("ip", "netns", "exec", ns, *args, check=check, timeout=timeout)

    def add_client(self, n: int, mac: str | None = None) -> str:
        """A client namespace whose eth0 (MAC `mac`) is plugged into the server's bridge."""
        ns = f"{self.prefix}-c{n}"
        self._add_ns(ns)
        port = f"p{n}"
        self.ns_run(self.server_ns, "ip", "link", "add", port, "type", "veth", "peer", "name",
                    "eth0", "netns", ns)
        self.ns_run(self.server_ns, "ip", "link", "set", port, "master", "br0", "up")
        self.ns_run(ns, "ip", "link", "set", "eth0", "address", mac or client_mac(n))
        self.ns_run(ns, "ip", "link", "set", "eth0", "up")
        self.ns_run(ns, "ip", "link", "set", "lo", "up")
        return ns

    def spawn(self, ns: str, args: Sequence[str], log: Path, env: dict[str, str] | None = None,
              new_mounts: bool = False) -> subprocess.Popen[bytes]:
        """Start a long-running process in `ns` (stdout+stderr to `log`)."""
        command = ["ip", "netns", "exec", ns, *args]
        with open(log, "ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       env={**os.environ, **(env or {})}, start_new_session=True)
        self.processes.append(process)
        return process

    def write_config(self, body: str) -> Path:
        """cluster.yaml for the server (LAN = br0 in the server namespace)."""
        path = self.workdir / "cluster.yaml"
        path.write_text(f"network:\n  lan_interface: br0\n  subnet: 10.0.0.0/{self.prefixlen}\n"
                        "  master_address: 10.0.0.1\n" + body)
        return path

    def start_server(self, config: Path, timeout: float = 20) -> subprocess.Popen[bytes]:
        """`appliance netd run --only dhcp` in the server namespace; returns once it serves."""
        mark = self.server_log.stat().st_size if self.server_log.exists() else 0
        self.server = self.spawn(self.server_ns, [APPLIANCE, "netd", "run", "--config", str(config),
                                                  "--state-dir", str(self.state_dir), "--only", "dhcp"],
                                 self.server_log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.server_log.read_bytes()[mark:].decode(errors="replace")
            if "netd ready: dhcp" in text:
                return self.server
            if self.server.poll() is not None:
                raise AssertionError(f"netd exited {self.server.returncode}:\n{text}")
            time.sleep(0.05)
        raise AssertionError(f"netd did not become ready:\n{self.server_log.read_text()}")

    def kill_server(self, sig: int = signal.SIGKILL) -> int:
        """Send `sig` to the server and wait for it; returns its exit status."""
        assert self.server is not None
        os.killpg(self.server.pid, sig)
        return self.server.wait(timeout=15)

    def server_output(self) -> str:
        """Everything the server logged so far."""
        return self.server_log.read_text(errors="replace") if self.server_log.exists() else ""

    def close(self) -> None:
        """Kill every process we started and delete every namespace we made."""
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=10)
        for ns in reversed(self.namespaces):
            # Processes started inside by our processes (dhcpcd forks) die with the namespace pids.
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check=False)
