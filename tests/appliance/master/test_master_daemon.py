"""`appliance master run` for real, in network namespaces, under a NOTIFY_SOCKET the test binds.

    worker (udhcpc) ── eth0 [master 10.0.0.1 | 192.0.2.2] wlan0 ── home (192.0.2.1, route to the LAN)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from rtt_netns import Netns, wait_for

pytestmark = pytest.mark.root

APPLIANCE = str(Path(sys.executable).with_name("appliance"))
HOSTILE = "<script>alert(1)</script>"


def crypt_hash(password: str) -> str:
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True,
                          text=True, check=True).stdout.strip()


@dataclass
class Master:
    net: Netns
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
        self.proc = self.net.spawn(self.master, APPLIANCE, "master", "run", "--config", str(self.config),
                                   "--state-dir", str(self.state), env=env, log=self.log)

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
        return self.net.exec(ns, "curl", "-s", "--max-time", "3", *extra, url, check=False, timeout=15)

    def api(self, path: str) -> dict[str, object]:
        token = (self.state / "web" / "local_token").read_text().strip()
        done = subprocess.run(["curl", "-s", "--max-time", "5", "--unix-socket", str(self.state / "master.sock"),
                               "-H", f"Authorization: Bearer {token}", f"http://master{path}"],
                              capture_output=True, text=True, timeout=15)
        return dict(json.loads(done.stdout))

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def master(tmp_path: Path) -> Iterator[Master]:
    net = Netns()
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
            "provisioning": {"approve": "all"},
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


def test_master_serves_everything_follows_the_uplink_and_stops_cleanly(master: Master) -> None:
    master.start()
    startup = master.messages("READY=1")
    assert any("STATUS=starting" in message for message in startup)
    # The page on the LAN address and on the uplink's; it wants a login.
    assert "Log in" in master.curl(master.worker, "http://10.0.0.1:8080/login").stdout
    assert "Log in" in master.curl(master.home, "http://192.0.2.2:8080/login").stdout
    assert master.curl(master.worker, "http://10.0.0.1:8080/api/v1/nodes", "-o", "/dev/null",
                       "-w", "%{http_code}").stdout == "401"
    # The agent API (waitress) answers on the LAN, never from the uplink side.
    assert master.curl(master.worker, "http://10.0.0.1:8081/api/v1/agent/config", "-o", "/dev/null",
                       "-w", "%{http_code}").stdout == "401"
    assert master.curl(master.home, "http://10.0.0.1:8081/api/v1/agent/config").returncode != 0
    # A Pi asks for an address, announcing a hostile hostname; with approve: all it is approved and
    # its provisioning job starts at once (it fails here: this "Pi" runs no sshd), with one line.
    master.net.exec(master.worker, "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1",
                    "-s", "/bin/true", "-x", f"hostname:{HOSTILE}", timeout=30)
    wait_for(lambda: master.api("/api/v1/jobs/1").get("state") == "failed", 30, 0.2)
    node = next(n for n in master.api("/api/v1/nodes")["nodes"] if n["role"] == "worker")  # type: ignore[union-attr]
    assert node["name"] == "node-1" and node["hostname"] is None and node["pod_cidr"] == "10.244.1.0/24"
    assert node["state"] == "failed"
    job = master.api("/api/v1/jobs/1")
    assert job["node"] == "node-1" and job["plan"] == "all" and "\n" not in str(job["error"]) and job["error"]
    metrics = master.curl(master.worker, "http://10.0.0.1:8080/metrics").stdout
    assert metrics == "" or "hostname_rejected" not in metrics  # metrics need a login too
    # The watchdog is fed while the loop runs.
    assert sum("WATCHDOG=1" in m for m in master.messages("WATCHDOG=1", 5) + master.messages("WATCHDOG=1", 5)) >= 2
    # The uplink's address moves (home DHCP): the page follows it.
    master.net.ip(master.master, "addr", "del", "192.0.2.2/24", "dev", "wlan0")
    master.net.ip(master.master, "addr", "add", "192.0.2.3/24", "dev", "wlan0")
    wait_for(lambda: "Log in" in master.curl(master.home, "http://192.0.2.3:8080/login").stdout, 10, 0.2)
    assert master.curl(master.home, "http://192.0.2.2:8080/login").returncode != 0
    # SIGTERM: STOPPING=1, exit 0, one JSON line per event; NAT, LAN address and leases stay.
    assert master.terminate() == 0
    assert any("STOPPING=1" in m for m in master.messages("STOPPING=1", 5))
    events = [event["event"] for event in master.events()]
    for expected in ("master.ready", "node.approved", "web.uplink", "master.stopping", "master.stopped"):
        assert expected in events, expected
    assert "appliance" in master.net.exec(master.master, "nft", "list", "tables").stdout
    assert "10.0.0.1/24" in master.net.ip(master.master, "-4", "addr", "show", "eth0").stdout
    assert not (master.state / "master.sock").exists()
    assert HOSTILE not in master.log_text()


def test_a_restart_picks_everything_up_from_the_registry(master: Master) -> None:
    config = yaml.safe_load(master.config.read_text())
    config["provisioning"]["approve"] = "manual"
    master.config.write_text(yaml.safe_dump(config))
    master.start()
    master.messages("READY=1")
    master.net.exec(master.worker, "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1",
                    "-s", "/bin/true", timeout=30)
    wait_for(lambda: len(master.api("/api/v1/nodes")["nodes"]) == 2, 10)  # type: ignore[arg-type]
    before = master.api("/api/v1/nodes")["nodes"]
    token_before = (master.state / "web" / "secret_key").read_bytes()
    assert master.terminate() == 0
    master.start()
    master.messages("READY=1")
    after = master.api("/api/v1/nodes")["nodes"]
    assert [(n["name"], n["state"], n["pod_cidr"], n["mac"]) for n in after] == [  # type: ignore[union-attr]
        (n["name"], n["state"], n["pod_cidr"], n["mac"]) for n in before]  # type: ignore[union-attr]
    assert (master.state / "web" / "secret_key").read_bytes() == token_before  # logins survive restarts
    assert master.terminate() == 0


def test_a_bad_web_listen_is_one_line_and_exit_status(master: Master, tmp_path: Path) -> None:
    config = yaml.safe_load(master.config.read_text())
    config["web"]["listen"] = ["10.0.0.1:8080"]
    master.config.write_text(yaml.safe_dump(config))
    master.net.spawn(master.master, sys.executable, "-c",
                     "import socket,time; s=socket.socket(); s.setsockopt(socket.IPPROTO_IP, 15, 1); "
                     "s.bind(('10.0.0.1', 8080)); s.listen(); time.sleep(60)")
    wait_for(lambda: "10.0.0.1:8080" in master.net.exec(master.master, "ss", "-ltnH").stdout, 5)
    master.start()
    assert master.proc is not None
    assert master.proc.wait(timeout=30) != 0
    lines = [line for line in master.log_text().splitlines() if line.startswith("error:")]
    assert lines == ["error: the web page cannot listen (Address already in use); check web.listen in "
                     "cluster.yaml and that nothing else uses the port"], master.log_text()[-2000:]
    assert os.path.exists(master.state / "registry.db")


def test_the_cli_talks_to_the_running_daemon_over_its_local_socket(master: Master) -> None:
    from appliance.cli.daemon_client import DaemonClient, DaemonError, daemon_running
    from foundation.errors import UsageError

    config = yaml.safe_load(master.config.read_text())
    config["provisioning"]["approve"] = "manual"
    master.config.write_text(yaml.safe_dump(config))
    assert not daemon_running(master.state)
    master.start()
    master.messages("READY=1")
    assert daemon_running(master.state)
    client = DaemonClient(master.state)
    master.net.exec(master.worker, "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1",
                    "-s", "/bin/true", timeout=30)
    wait_for(lambda: len(client.nodes()) == 2, 10)
    assert client.nodes()[1].state == "discovered"  # manual: nobody approved it
    assert client.approve("node-1").state == "approved"
    assert client.approve("10.0.0.2").state == "approved"  # by address too; idempotent
    with pytest.raises(UsageError, match="already has job 1"):  # the approval queued it at once
        client.reprovision("node-1")
    wait_for(lambda: master.api("/api/v1/jobs/1").get("state") == "failed", 30, 0.2)  # no sshd here
    assert client.reprovision("node-1") == 2
    with pytest.raises(DaemonError, match="Kubernetes adapter|admin.conf|not initialised|does not exist"):
        client.tokens()
    with pytest.raises(DaemonError, match="no node named 'node-9'"):
        client.approve("node-9")
    client.forget("node-1")
    assert [view.name for view in client.nodes()] == ["master"]
    assert master.terminate() == 0
    assert not daemon_running(master.state)
