"""The master daemon in network namespaces, under a NOTIFY_SOCKET the test binds (shared by the
daemon and browser tests).

    worker (udhcpc) ── eth0 [master 10.0.0.1 | 192.0.2.2] wlan0 ── home (192.0.2.1, route to the LAN)
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.netns import NetnsKit

APPLIANCE = str(Path(sys.executable).with_name("appliance"))
HOSTILE = "<script>alert(1)</script>"


def crypt_hash(password: str) -> str:
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True,
                          text=True, check=True).stdout.strip()


@dataclass
class Master:
    net: NetnsKit
    master: str
    worker: str
    home: str
    state: Path
    config: Path
    log: Path
    notify: socket.socket
    proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {"NOTIFY_SOCKET": self.notify.getsockname(), "WATCHDOG_USEC": "1000000"}
        self.proc = self.net.spawn(self.master, [APPLIANCE, "master", "run", "--config", str(self.config),
                                                 "--state-dir", str(self.state)], env=env, log=self.log).popen

    received: list[str] = field(default_factory=list)
    """Every notify message so far, read by a thread as systemd would (so the queue never fills)."""
    taken: int = 0

    def read_notify(self) -> None:
        self.notify.settimeout(0.2)
        while self.notify.fileno() != -1:  # ends once the fixture closes the socket
            with contextlib.suppress(OSError):
                self.received.append(self.notify.recv(4096).decode())

    def messages(self, until: str, timeout: float = 30.0) -> list[str]:
        """Notify messages received since the last call, until one contains `until`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in range(self.taken, len(self.received)):
                if until in self.received[index]:
                    seen, self.taken = self.received[self.taken:index + 1], index + 1
                    return seen
            time.sleep(0.02)
        raise AssertionError(f"no {until!r} within {timeout} s; got {self.received[self.taken:]}; "
                             f"log:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def events(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]

    def curl(self, ns: str, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.net.run(ns, "curl", "-s", "--max-time", "3", *extra, url, check=False, timeout=15)

    def api(self, path: str) -> dict[str, Any]:
        token = (self.state / "web" / "local_token").read_text().strip()
        done = subprocess.run(["curl", "-s", "--max-time", "5", "--unix-socket", str(self.state / "master.sock"),
                               "-H", f"Authorization: Bearer {token}", f"http://master{path}"],
                              capture_output=True, text=True, timeout=15)
        return dict(json.loads(done.stdout))

    def mark_master_initialised(self) -> None:
        """What the master's init job leaves behind: STATE_DIR/kubernetes/admin.conf (here a file with no
        cluster behind it: these tests have no Kubernetes; workers' jobs are queued once it exists)."""
        path = self.state / "kubernetes" / "admin.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# written by the test: this master has no Kubernetes\n")

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def make_master(tmp_path: Path, approve: str = "all") -> Iterator[Master]:
    net = NetnsKit(tmp_path / "net")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    try:
        m, w, h = net.ns("mm"), net.ns("mw"), net.ns("mh")
        net.veth(m, "eth0", w, "eth0")
        net.veth(m, "wlan0", h, "eth0")
        net.ip(m, "addr", "add", "192.0.2.2/24", "dev", "wlan0")
        net.ip(m, "route", "add", "default", "via", "192.0.2.1")
        net.ip(w, "addr", "add", "10.0.0.251/24", "dev", "eth0")  # outside the pool: for curl
        net.ip(h, "addr", "add", "192.0.2.1/24", "dev", "eth0")
        net.ip(h, "route", "add", "10.0.0.0/24", "via", "192.0.2.2")  # a helpful home router
        config = tmp_path / "cluster.yaml"
        config.write_text(yaml.safe_dump({
            "cluster": {"name": "testcluster"},
            "network": {"lan_interface": "eth0", "uplink_interface": "wlan0", "upstream_dns": ["192.0.2.1"]},
            "provisioning": {"approve": approve},
            "web": {"listen": ["10.0.0.1:8080", "uplink:8080"], "admin_password_hash": crypt_hash("pw")},
        }))
        master = Master(net, m, w, h, tmp_path / "state", config, tmp_path / "master.log", notify)
        reader = threading.Thread(target=master.read_notify, daemon=True)
        reader.start()
        yield master
    finally:
        net.close()
        notify.close()
        if "reader" in locals():
            reader.join(timeout=2)

