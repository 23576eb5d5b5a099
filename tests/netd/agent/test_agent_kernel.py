"""The node agent for real: Debian's python3 + pyroute2 0.7 in node namespaces, the master's API
in a master namespace, "pods" attached by the real CNI bridge plugin with the agent's conflist.

    node-1 (10.0.0.11) ─┐
                        rtt-br [master 10.0.0.1, agent API :8081]
    node-2 (10.0.0.12) ─┘
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from foundation import registry
from netd.agent.credential import write_credential
from netd.agent.protocol import AgentCredential
from netd.cni import CONFLIST_NAME, LOOPBACK_NAME
from provisioning.credentials import issue_agent_credential
from tests.netd.agent.registry_setup import make_registry
from tests.support.rtt_netns import VENV_PYTHON, Netns, debian_python, stop, wait_for

pytestmark = pytest.mark.root

API_DRIVER = "tests.netd.agent.api_driver"
CNI_BIN = Path("/usr/lib/cni")
INTERVAL = "0.3"
NODES = {"node-1": "10.0.0.11", "node-2": "10.0.0.12"}


@dataclass
class Cluster:
    net: Netns
    tmp: Path
    master: str
    nodes: dict[str, str]  # node name -> namespace
    api: subprocess.Popen[str] | None = None
    agents: dict[str, subprocess.Popen[str]] | None = None

    def start_api(self) -> None:
        proc = self.net.spawn(
            self.master, VENV_PYTHON, "-m", API_DRIVER, str(self.tmp / "master"), "10.0.0.1", "8081", INTERVAL,
            stdin=True, log=self.tmp / "api.log",
        )  # fmt: skip
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, (self.tmp / "api.log").read_text()
        self.api = proc

    def stop_api(self) -> None:
        assert self.api is not None
        stop(self.api)

    def start_agent(self, name: str) -> None:
        python = debian_python()
        assert python, "Debian's python3 with python3-pyroute2 is needed (scripts/install)"
        proc = self.net.spawn(
            self.nodes[name], python, "-m", "netd.agent", "--master", "http://10.0.0.1:8081",
            "--state-dir", str(self.tmp / name), "--cni-dir", str(self.tmp / name / "cni"), "--max-backoff", "0.5",
            log=self.tmp / f"{name}.log",
        )  # fmt: skip
        assert self.agents is not None
        self.agents[name] = proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    net = Netns()
    try:
        master = net.ns("am")
        net.ip(master, "link", "add", "rtt-br", "type", "bridge")
        net.ip(master, "link", "set", "rtt-br", "up")
        net.ip(master, "addr", "add", "10.0.0.1/24", "dev", "rtt-br")
        nodes = {}
        for index, (name, address) in enumerate(NODES.items(), start=1):
            ns = net.ns(f"a{index}")
            net.veth(master, f"rtt-port{index}", ns, "rtt-eth")
            net.ip(master, "link", "set", f"rtt-port{index}", "master", "rtt-br")
            net.ip(ns, "addr", "add", f"{address}/24", "dev", "rtt-eth")
            nodes[name] = ns
        (tmp_path / "master").mkdir()
        make_registry(tmp_path / "master", dict(NODES))
        for name in NODES:
            write_credential(tmp_path / name, issue_agent_credential(tmp_path / "master", name))
        cluster = Cluster(net, tmp_path, master, nodes, agents={})
        cluster.start_api()
        yield cluster
    finally:
        net.close()


def cni_add(cluster: Cluster, node: str, pod_ns: str) -> str:
    """Attach `pod_ns` on `node` by running the CNI plugins of the agent's conflist; returns the pod IP."""
    conflist = json.loads((cluster.tmp / node / "cni" / CONFLIST_NAME).read_text())
    env = dict(
        os.environ, CNI_COMMAND="ADD", CNI_CONTAINERID=f"rtt-{pod_ns}", CNI_NETNS=f"/run/netns/{pod_ns}",
        CNI_IFNAME="eth0", CNI_PATH=str(CNI_BIN),
    )  # fmt: skip
    loopback = json.loads((cluster.tmp / node / "cni" / LOOPBACK_NAME).read_text())
    cluster.net.exec(cluster.nodes[node], str(CNI_BIN / "loopback"), input=json.dumps(loopback), env=dict(env, CNI_IFNAME="lo"))
    previous = None
    for plugin in conflist["plugins"]:
        conf = dict(plugin, name=conflist["name"], cniVersion=conflist["cniVersion"])
        if "ipam" in conf:
            # Keep host-local's allocations in the test's directory, not the host's /var/lib/cni.
            conf["ipam"] = dict(conf["ipam"], dataDir=str(cluster.tmp / node / "ipam"))
        if previous is not None:
            conf["prevResult"] = previous
        done = cluster.net.exec(cluster.nodes[node], str(CNI_BIN / plugin["type"]), input=json.dumps(conf), env=env)
        previous = json.loads(done.stdout)
    assert previous is not None
    return str(previous["ips"][0]["address"]).split("/")[0]


def ping(cluster: Cluster, pod_ns: str, address: str) -> bool:
    return cluster.net.exec(pod_ns, "ping", "-c", "1", "-W", "1", address, check=False).returncode == 0


def test_agents_route_pods_across_nodes_and_survive_master_outage(cluster: Cluster) -> None:
    for name in NODES:
        cluster.start_agent(name)
    ns1, ns2 = cluster.nodes["node-1"], cluster.nodes["node-2"]
    want1 = {"10.244.0.0/24": "10.0.0.1", "10.244.2.0/24": "10.0.0.12"}
    want2 = {"10.244.0.0/24": "10.0.0.1", "10.244.1.0/24": "10.0.0.11"}
    try:
        wait_for(lambda: cluster.net.routes(ns1) == want1 and cluster.net.routes(ns2) == want2, 10)
    except AssertionError:
        raise AssertionError(cluster.log("node-1") + cluster.log("node-2")) from None
    conf = json.loads((cluster.tmp / "node-1" / "cni" / CONFLIST_NAME).read_text())
    assert conf["plugins"][0]["ipam"]["ranges"][0][0]["subnet"] == "10.244.1.0/24"

    # Pods on each node, attached by the real bridge plugin, reach each other over host-gw routes.
    pod1, pod2 = cluster.net.ns("p1"), cluster.net.ns("p2")
    ip1, ip2 = cni_add(cluster, "node-1", pod1), cni_add(cluster, "node-2", pod2)
    assert ip1.startswith("10.244.1.") and ip2.startswith("10.244.2.")
    assert ping(cluster, pod1, ip2) and ping(cluster, pod2, ip1)

    # Liveness reached the registry.
    conn = registry.open_registry(cluster.tmp / "master")
    assert registry.require_node(conn, "node-1").last_seen > time.time() - 60
    conn.close()

    # Unplug node-2's cable and plug it back: pod traffic returns within 2 s.
    cluster.net.ip(ns2, "link", "set", "rtt-eth", "down")
    cluster.net.ip(ns2, "link", "set", "rtt-eth", "up")
    took = wait_for(lambda: ping(cluster, pod1, ip2), 2, interval=0.05)
    assert took < 2

    # Master down: the agents keep their routes (and keep repairing them).
    cluster.stop_api()
    time.sleep(1.5)
    assert cluster.net.routes(ns1) == want1
    cluster.net.ip(ns1, "route", "del", "10.244.2.0/24")
    wait_for(lambda: cluster.net.routes(ns1) == want1, 1)
    assert ping(cluster, pod1, ip2)
    assert "unreachable" in cluster.log("node-1")

    # Master back, node-2 forgotten: the reconnected agent on node-1 drops node-2's route.
    conn = registry.open_registry(cluster.tmp / "master")
    registry.forget_node(conn, "node-2", now=time.time())
    conn.close()
    cluster.start_api()
    wait_for(lambda: cluster.net.routes(ns1) == {"10.244.0.0/24": "10.0.0.1"}, 8)
    assert "answers again" in cluster.log("node-1")


def test_wrong_credential_is_refused_and_programs_nothing(cluster: Cluster) -> None:
    write_credential(cluster.tmp / "node-1", AgentCredential("node-1", "w" * 43))
    cluster.start_agent("node-1")
    wait_for(lambda: "refused the credential" in cluster.log("node-1"), 5)
    assert cluster.net.routes(cluster.nodes["node-1"]) == {}
    assert not (cluster.tmp / "node-1" / "cni" / CONFLIST_NAME).exists()
    status = cluster.net.exec(
        cluster.nodes["node-2"], "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
        "-H", f"Authorization: Bearer node-1.{'w' * 43}", "http://10.0.0.1:8081/api/v1/agent/config",
    ).stdout  # fmt: skip
    assert status == "401"
    # Re-issued credential written by provisioning: the agent picks it up without a restart.
    write_credential(cluster.tmp / "node-1", issue_agent_credential(cluster.tmp / "master", "node-1"))
    wait_for(lambda: cluster.net.routes(cluster.nodes["node-1"]) == {"10.244.0.0/24": "10.0.0.1", "10.244.2.0/24": "10.0.0.12"}, 5)


def test_agent_restarted_while_master_is_down_restores_its_last_routes(cluster: Cluster) -> None:
    cluster.start_agent("node-1")
    ns1 = cluster.nodes["node-1"]
    want = {"10.244.0.0/24": "10.0.0.1", "10.244.2.0/24": "10.0.0.12"}
    wait_for(lambda: cluster.net.routes(ns1) == want, 10)
    cluster.stop_api()
    assert cluster.agents is not None
    stop(cluster.agents["node-1"])
    cluster.net.ip(ns1, "route", "flush", "proto", "171")  # e.g. the node rebooted
    cluster.start_agent("node-1")
    wait_for(lambda: cluster.net.routes(ns1) == want, 5)
    assert "restoring the last config" in cluster.log("node-1")


SERVICE_CODE = """
import asyncio, sys
from pathlib import Path
from foundation.config.model import Config
from netd.api.service import create
from netd.bus import EventBus
from netd.service import NetdContext

async def main():
    service = create(NetdContext(Config(), EventBus(), Path(sys.argv[1])))
    await service.start()
    print("listening", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await service.stop()

asyncio.run(main())
"""


def test_api_service_waits_for_the_lan_address_then_serves(tmp_path: Path) -> None:
    net = Netns()
    try:
        master, node = net.ns("sm"), net.ns("sn")
        net.veth(master, "rtt-lan", node, "rtt-eth")
        net.ip(node, "addr", "add", "10.0.0.11/24", "dev", "rtt-eth")
        make_registry(tmp_path, {"node-1": "10.0.0.11"})
        proc = net.spawn(master, VENV_PYTHON, "-c", SERVICE_CODE, str(tmp_path), stdin=True, log=tmp_path / "svc.log")
        time.sleep(0.5)  # the service is up but 10.0.0.1 is not there yet
        assert proc.poll() is None, (tmp_path / "svc.log").read_text()
        net.ip(master, "addr", "add", "10.0.0.1/24", "dev", "rtt-lan")
        assert proc.stdout is not None
        assert proc.stdout.readline() == "listening\n", (tmp_path / "svc.log").read_text()
        url = "http://10.0.0.1:8081/api/v1/agent/config"
        code = net.exec(node, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url).stdout
        assert code == "401"
        credential = issue_agent_credential(tmp_path, "node-1")
        body = net.exec(node, "curl", "-s", "-H", f"Authorization: Bearer {credential.bearer}", url).stdout
        assert json.loads(body)["pod_cidr"] == "10.244.1.0/24"
    finally:
        net.close()
