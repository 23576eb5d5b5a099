"""`appliance master run` for real, in network namespaces, under a NOTIFY_SOCKET the test binds.

    worker (udhcpc) ── eth0 [master 10.0.0.1 | 192.0.2.2] wlan0 ── home (192.0.2.1, route to the LAN)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from ipaddress import IPv4Network
from pathlib import Path

import pytest
import yaml

from tests.appliance.master.daemon_net import HOSTILE, Master
from tests.support.wait import wait_for

pytestmark = pytest.mark.root


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
    # A Pi asks for an address, announcing a hostile hostname; with approve: all it is approved. The
    # master has no Kubernetes yet, so it queues its own plan (kubeadm init) first; that fails here (no
    # sshd on this "master"), with one line, and the Pi's job waits.
    master.net.run(master.worker, "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1",
                    "-s", "/bin/true", "-x", f"hostname:{HOSTILE}", timeout=30)
    wait_for(lambda: any(n["state"] == "approved" for n in master.api("/api/v1/nodes")["nodes"]), 10)
    node = next(n for n in master.api("/api/v1/nodes")["nodes"] if n["role"] == "worker")
    assert node["name"] == "node-1" and node["hostname"] is None and node["pod_cidr"] == "10.244.1.0/24"
    wait_for(lambda: master.api("/api/v1/jobs/1").get("state") == "failed", 30, 0.2)
    init = master.api("/api/v1/jobs/1")
    assert init["node"] == "master" and init["plan"] == "all" and init["error"] and "\n" not in str(init["error"])
    wait_for(lambda: "job.waiting" in [e["event"] for e in master.events()], 5, 0.1)
    assert "error" in master.api("/api/v1/jobs/2")  # none queued yet
    # Once the master's Kubernetes is up, the waiting node's job is queued with no further step
    # (and fails here: this "Pi" runs no sshd either).
    master.mark_master_initialised()
    wait_for(lambda: master.api("/api/v1/jobs/2").get("state") == "failed", 30, 0.2)
    job = master.api("/api/v1/jobs/2")
    assert job["node"] == "node-1" and job["plan"] == "all" and job["error"] and "\n" not in str(job["error"])
    node = next(n for n in master.api("/api/v1/nodes")["nodes"] if n["role"] == "worker")
    assert node["state"] == "failed"
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
    assert "appliance" in master.net.run(master.master, "nft", "list", "tables").stdout
    assert "10.0.0.1/24" in master.net.ip(master.master, "-4", "addr", "show", "eth0").stdout
    assert not (master.state / "master.sock").exists()
    assert HOSTILE not in master.log_text()


def test_a_restart_picks_everything_up_from_the_registry(master: Master) -> None:
    config = yaml.safe_load(master.config.read_text())
    config["provisioning"]["approve"] = "manual"
    master.config.write_text(yaml.safe_dump(config))
    master.mark_master_initialised()  # no init job moving the master's state between the two looks
    master.start()
    master.messages("READY=1")
    master.net.run(master.worker, "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1",
                    "-s", "/bin/true", timeout=30)
    wait_for(lambda: len(master.api("/api/v1/nodes")["nodes"]) == 2, 10)
    before = master.api("/api/v1/nodes")["nodes"]
    token_before = (master.state / "web" / "secret_key").read_bytes()
    assert master.terminate() == 0
    master.start()
    master.messages("READY=1")
    after = master.api("/api/v1/nodes")["nodes"]
    assert [(n["name"], n["state"], n["pod_cidr"], n["mac"]) for n in after] == [
        (n["name"], n["state"], n["pod_cidr"], n["mac"]) for n in before]
    assert (master.state / "web" / "secret_key").read_bytes() == token_before  # logins survive restarts
    assert master.terminate() == 0


def test_a_bad_web_listen_is_one_line_and_exit_status(master: Master, tmp_path: Path) -> None:
    config = yaml.safe_load(master.config.read_text())
    config["web"]["listen"] = ["10.0.0.1:8080"]
    master.config.write_text(yaml.safe_dump(config))
    master.net.spawn(master.master, [sys.executable, "-c",
                     "import socket,time; s=socket.socket(); s.setsockopt(socket.IPPROTO_IP, 15, 1); "
                     "s.bind(('10.0.0.1', 8080)); s.listen(); time.sleep(60)"])
    wait_for(lambda: "10.0.0.1:8080" in master.net.run(master.master, "ss", "-ltnH").stdout, 5)
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
    master.net.run(master.worker, "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1",
                    "-s", "/bin/true", timeout=30)
    wait_for(lambda: len(client.nodes()) == 2, 10)
    assert client.nodes()[1].state == "discovered"  # manual: nobody approved it
    # The CLI's commands take this way while the daemon runs (connect() prefers it).
    from appliance.cli.master_client import connect

    assert isinstance(connect(master.config, master.state), DaemonClient)
    listed = subprocess.run([str(Path(sys.executable).with_name("appliance")), "nodes", "list", "-o", "json",
                             "--config", str(master.config), "--state-dir", str(master.state)],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)["nodes"]] == ["master", "node-1"]
    assert client.approve("node-1").state == "approved"
    assert client.approve("10.0.0.2").state == "approved"  # by address too; idempotent
    wait_for(lambda: master.api("/api/v1/jobs/1").get("state") == "failed", 30, 0.2)  # the master's init
    master.mark_master_initialised()
    wait_for(lambda: master.api("/api/v1/jobs/2").get("node") == "node-1", 10, 0.2)  # its join is queued
    with pytest.raises(UsageError, match="already has job 2"):
        client.reprovision("node-1")
    wait_for(lambda: master.api("/api/v1/jobs/2").get("state") == "failed", 30, 0.2)  # no sshd here
    assert client.reprovision("node-1") == 3
    with pytest.raises(DaemonError, match="Kubernetes adapter|admin.conf|not initialised|does not exist"):
        client.tokens()
    with pytest.raises(DaemonError, match="no node named 'node-9'"):
        client.approve("node-9")
    client.forget("node-1")
    assert [view.name for view in client.nodes()] == ["master"]
    assert master.terminate() == 0
    assert not daemon_running(master.state)
    assert not isinstance(connect(master.config, master.state), DaemonClient)  # the registry directly


def test_restart_mid_provisioning_resumes_the_jobs_nothing_is_lost(master: Master) -> None:
    import time as clock
    from ipaddress import IPv4Address

    from appliance.cli.daemon_client import DaemonClient
    from foundation import registry
    from foundation.records import LeaseChange, LeaseEvent

    config = yaml.safe_load(master.config.read_text())
    config["provisioning"].update(approve="manual", parallelism=1)  # one job at a time: the second waits
    master.config.write_text(yaml.safe_dump(config))
    master.mark_master_initialised()
    master.start()
    master.messages("READY=1")
    master.net.run(master.worker, "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1",
                    "-s", "/bin/true", timeout=30)
    conn = registry.open_registry(master.state)
    registry.record_lease_event(conn, LeaseEvent(  # a second Pi whose lease the registry already holds
        change=LeaseChange.GRANTED, address=IPv4Address("10.0.0.77"), mac="dc:a6:32:00:00:77", client_id=None,
        node_name="node-2", hostname=None, expires=clock.time() + 600),
        pod_cidr=IPv4Network("10.244.0.0/16"), node_cidr_mask=24, now=clock.time())
    client = DaemonClient(master.state)
    wait_for(lambda: len(client.nodes()) == 3, 10)
    client.approve("node-1")
    client.approve("node-2")  # queued behind node-1's job
    wait_for(lambda: registry.require_job(conn, 1).state.value == "running", 10, 0.05)
    assert registry.require_job(conn, 2).state.value == "queued"
    assert master.terminate() == 0  # mid-provisioning
    first, second = registry.require_job(conn, 1), registry.require_job(conn, 2)
    assert first.state.value in ("failed", "interrupted")  # it finished its current step
    assert second.state.value == "interrupted"
    master.start()
    master.messages("READY=1")
    # The interrupted job is taken up again, as a new job of the same plan for the same node.
    wait_for(lambda: any(job.node == "node-2" and job.id > 2 for job in registry.list_jobs(conn)), 10, 0.1)
    resumed = next(job for job in registry.list_jobs(conn) if job.node == "node-2" and job.id > 2)
    assert resumed.plan == second.plan == "all"
    assert master.terminate() == 0


def test_the_forget_schedule_frees_long_lapsed_never_approved_nodes(master: Master) -> None:
    import time as clock
    from ipaddress import IPv4Address

    from foundation import registry
    from foundation.records import LeaseChange, LeaseEvent

    master.state.mkdir()
    conn = registry.open_registry(master.state)
    two_days_ago = clock.time() - 2 * 86400
    for n, change in ((5, LeaseChange.GRANTED), (5, LeaseChange.EXPIRED), (6, LeaseChange.GRANTED)):
        registry.record_lease_event(conn, LeaseEvent(  # a phone long gone, and a Pi still holding its lease
            change=change, address=IPv4Address(f"10.0.0.{n}"), mac=f"02:00:00:00:00:{n:02x}", client_id=None,
            node_name=f"node-{n}", hostname=None, expires=0 if change is LeaseChange.EXPIRED else clock.time() + 600),
            pod_cidr=IPv4Network("10.244.0.0/16"), node_cidr_mask=24, now=two_days_ago)
    config = yaml.safe_load(master.config.read_text())
    config["provisioning"].update(approve="manual", forget_after="1d")
    master.config.write_text(yaml.safe_dump(config))
    assert registry.get_node(conn, "node-5") is not None
    master.start()
    master.messages("READY=1")
    wait_for(lambda: registry.get_node(conn, "node-5") is None, 10, 0.1)
    assert registry.get_node(conn, "node-6") is not None  # its lease is active: kept
    forgotten = [e for e in master.events() if e["event"] == "node.forgotten"]
    assert forgotten and forgotten[0]["node"] == "node-5" and forgotten[0]["by"] == "schedule"
    assert master.terminate() == 0
