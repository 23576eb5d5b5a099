"""A throw-away LAN for the DHCP tests, made with the namespace kit.

The server namespace has a bridge `br0` (10.0.0.1/len, MAC SERVER_MAC) where the real
`appliance netd run --only dhcp` serves (or the DHCP service alone, see service_runner);
each client namespace has an `eth0` cabled to that bridge. The kit removes everything,
also after a failed test.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.netns import NetnsKit, Process
from tests.support.paths import APPLIANCE, PYTHON
from tests.support.wait import log_size, log_text

SERVER_MAC = "02:dd:00:00:00:01"


def client_mac(n: int) -> str:
    """Deterministic locally administered MAC of client n."""
    return f"02:aa:00:00:{(n >> 8) & 255:02x}:{n & 255:02x}"


class Lan:
    """The server namespace with its bridge, client namespaces, and the DHCP server in it."""

    def __init__(self, net: NetnsKit, workdir: Path, prefixlen: int = 24) -> None:
        self.net = net
        self.workdir = workdir
        self.prefixlen = prefixlen
        self.server_ns = net.ns("dhcp-server")
        net.bridge(self.server_ns, "br0", address=f"10.0.0.1/{prefixlen}", mac=SERVER_MAC)
        self.clients: dict[int, str] = {}
        """Client number -> its namespace."""
        self.server: Process | None = None
        self.server_log = workdir / "netd.log"
        self.state_dir = workdir / "state"

    def add_client(self, n: int, mac: str | None = None) -> str:
        """A client namespace whose eth0 (MAC `mac`, else client_mac(n)) is cabled to br0."""
        ns = self.net.ns(f"client{n}")
        self.net.plug(self.server_ns, "br0", f"p{n}", ns, "eth0", mac=mac or client_mac(n))
        self.clients[n] = ns
        return ns

    def ns_run(self, ns: str, *args: str, check: bool = True, timeout: float = 30,
               env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside namespace `ns` to its end."""
        return self.net.run(ns, *args, check=check, timeout=timeout, env=env)

    def spawn(self, ns: str, args: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> Process:
        """Start a long-running process in `ns` (stdout and stderr to `log`)."""
        return self.net.spawn(ns, args, log=log, env=env)

    def write_config(self, body: str) -> Path:
        """cluster.yaml for the server (LAN = br0 in the server namespace)."""
        path = self.workdir / "cluster.yaml"
        path.write_text(f"network:\n  lan_interface: br0\n  subnet: 10.0.0.0/{self.prefixlen}\n"
                        "  master_address: 10.0.0.1\n" + body)
        return path

    def start_server(self, config: Path, timeout: float = 20) -> Process:
        """`appliance netd run --only dhcp` in the server namespace; returns once it serves."""
        mark = log_size(self.server_log)
        self.server = self.net.spawn(
            self.server_ns, [APPLIANCE, "netd", "run", "--config", str(config), "--state-dir", str(self.state_dir),
                             "--only", "dhcp"],
            log=self.server_log, timeout=timeout, what="netd ready: dhcp",
            ready=lambda: "netd ready: dhcp" in log_text(self.server_log, mark),
        )  # fmt: skip
        return self.server

    def start_service(self, config: Path, log: Path, *options: str, timeout: float = 20) -> Process:
        """The DHCP service alone, in-process in tests.netd.dhcp.service_runner (OPTIONS: its
        --events/--compact-after/--engine-bug/--no-probe); returns once it serves."""
        mark = log_size(log)
        return self.net.spawn(
            self.server_ns, [PYTHON, "-m", "tests.netd.dhcp.service_runner", str(config), str(self.state_dir),
                             *options],
            log=log, timeout=timeout, what="the DHCP service ready",
            ready=lambda: "dhcp service ready" in log_text(log, mark),
        )  # fmt: skip

    def kill_server(self, sig: int = signal.SIGKILL) -> int:
        """Send `sig` to the server and wait for it; returns its exit status."""
        assert self.server is not None
        return self.server.stop(sig)

    def server_output(self) -> str:
        """Everything the server logged so far."""
        return log_text(self.server_log)
