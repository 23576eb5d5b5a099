"""The node agent for real: Debian's python3 + pyroute2 0.7 in node namespaces, the master's API
in a master namespace, "pods" attached by the real CNI bridge plugin with the agent's conflist.

    node-1 (10.0.0.11) ─┐
                        br0 [master 10.0.0.1, agent API :8081]
    node-2 (10.0.0.12) ─┘
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from foundation import registry
from netd.agent.credential import write_credential
from netd.agent.protocol import AgentCredential
from netd.cni import CONFLIST_NAME, LOOPBACK_NAME
from provisioning.credentials import issue_agent_credential
from tests.netd.agent.registry_setup import make_registry
from tests.support.netns import NetnsKit, Process
from tests.support.paths import PYTHON, debian_python
from tests.support.wait import log_size, log_text, wait_for, wait_for_line

pytestmark = pytest.mark.root

API_DRIVER = "tests.netd.agent.api_driver"
CNI_BIN = Path("/usr/lib/cni")
INTERVAL = "0.3"
NODES = {"node-1": "10.0.0.11", "node-2": "10.0.0.12"}


@dataclass
class Cluster:
    net: NetnsKit
    tmp: Path
    master: str
    nodes: dict[str, str]
    """node name -> namespace"""
    api: Process | None = None
    agents: dict[str, Process] = field(default_factory=dict)

    def start_api(self) -> None:
        self.api = self.net.spawn(
            self.master, [PYTHON, "-m", API_DRIVER, str(self.tmp / "master"), "10.0.0.1", "8081", INTERVAL],
            stdin=True, stdout=True, log=self.tmp / "api.log",
        )  # fmt: skip
        assert self.api.receive()["ready"]

    def stop_api(self) -> None:
        assert self.api is not None
        self.api.stop()

    def start_agent(self, name: str) -> None:
        self.agents[name] = self.net.spawn(
            self.nodes[name], [debian_python(), "-m", "netd.agent", "--master", "http://10.0.0.1:8081",
                               "--state-dir", str(self.tmp / name), "--cni-dir", str(self.tmp / name / "cni"),
                               "--max-backoff", "0.5"],
            log=self.tmp / f"{name}.log",
        )  # fmt: skip

    def log_path(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def log(self, name: str) -> str:
        return self.log_path(name).read_text()


@pytest.fixture
def cluster(net: NetnsKit, tmp_path: Path) -> Cluster:
    master = net.ns("master")
    net.bridge(master, "br0", address="10.0.0.1/24")
    nodes = {}
    for index, (name, address) in enumerate(NODES.items(), start=1):
        ns = net.ns(name)
        net.plug(master, "br0", f"port{index}", ns, "eth0")
        net.ip(ns, "addr", "add", f"{address}/24", "dev", "eth0")
        nodes[name] = ns
    (tmp_path / "master").mkdir()
    make_registry(tmp_path / "master", dict(NODES))
    for name in NODES:
        write_credential(tmp_path / name, issue_agent_credential(tmp_path / "master", name))
    cluster = Cluster(net, tmp_path, master, nodes)
    cluster.start_api()
    return cluster


def cni_add(cluster: Cluster, node: str, pod_ns: str) -> str:
    """Attach `pod_ns` on `node` by running the CNI plugins of the agent's conflist; returns the pod IP."""
    conflist = json.loads((cluster.tmp / node / "cni" / CONFLIST_NAME).read_text())
    env = dict(
        os.environ, CNI_COMMAND="ADD", CNI_CONTAINERID=f"pod-{pod_ns}", CNI_NETNS=f"/run/netns/{pod_ns}",
        CNI_IFNAME="eth0", CNI_PATH=str(CNI_BIN),
    )  # fmt: skip
    loopback = json.loads((cluster.tmp / node / "cni" / LOOPBACK_NAME).read_text())
    cluster.net.run(cluster.nodes[node], str(CNI_BIN / "loopback"), input=json.dumps(loopback), env=dict(env, CNI_IFNAME="lo"))
    previous = None
    for plugin in conflist["plugins"]:
        conf = dict(plugin, name=conflist["name"], cniVersion=conflist["cniVersion"])
        if "ipam" in conf:
            # Keep host-local's allocations in the test's directory, not the host's /var/lib/cni.
            conf["ipam"] = dict(conf["ipam"], dataDir=str(cluster.tmp / node / "ipam"))
        if previous is not None:
            conf["prevResult"] = previous
        done = cluster.net.run(cluster.nodes[node], str(CNI_BIN / plugin["type"]), input=json.dumps(conf), env=env)
        previous = json.loads(done.stdout)
    assert previous is not None
    return str(previous["ips"][0]["address"]).split("/")[0]


def ping(cluster: Cluster, pod_ns: str, address: str) -> bool:
    return cluster.net.run(pod_ns, "ping", "-c", "1", "-W", "1", address, check=False).returncode == 0


def test_agents_route_pods_across_nodes_and_survive_master_outage(cluster: Cluster) -> None:
    for name in NODES:
        cluster.start_agent(name)
    ns1, ns2 = cluster.nodes["node-1"], cluster.nodes["node-2"]
    want1 = {"10.244.0.0/24": "10.0.0.1", "10.244.2.0/24": "10.0.0.12"}
    want2 = {"10.244.0.0/24": "10.0.0.1", "10.244.1.0/24": "10.0.0.11"}
    try:
        wait_for(lambda: cluster.net.routes(ns1) == want1 and cluster.net.routes(ns2) == want2, 10,
                 what="both agents' routes")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{cluster.log('node-1')}{cluster.log('node-2')}") from None
    conf = json.loads((cluster.tmp / "node-1" / "cni" / CONFLIST_NAME).read_text())
    assert conf["plugins"][0]["ipam"]["ranges"][0][0]["subnet"] == "10.244.1.0/24"

    # Pods on each node, attached by the real bridge plugin, reach each other over host-gw routes.
    pod1, pod2 = cluster.net.ns("pod1"), cluster.net.ns("pod2")
    ip1, ip2 = cni_add(cluster, "node-1", pod1), cni_add(cluster, "node-2", pod2)
    assert ip1.startswith("10.244.1.") and ip2.startswith("10.244.2.")
    assert ping(cluster, pod1, ip2) and ping(cluster, pod2, ip1)

    # Liveness reached the registry.
    conn = registry.open_registry(cluster.tmp / "master")
    assert registry.require_node(conn, "node-1").last_seen > time.time() - 60
    conn.close()

    # Unplug node-2's cable and plug it back: pod traffic returns within 2 s.
    cluster.net.ip(ns2, "link", "set", "eth0", "down")
    cluster.net.ip(ns2, "link", "set", "eth0", "up")
    start = time.monotonic()
    wait_for(lambda: ping(cluster, pod1, ip2), 2, interval=0.05, what="pod traffic after the cable flap")
    assert time.monotonic() - start < 2

    # Master down: the agents keep their routes (and keep repairing them). Proof that the agent
    # went through failed rounds before we look: its log says so twice after the stop.
    mark = log_size(cluster.log_path("node-1"))
    cluster.stop_api()
    wait_for(lambda: log_text(cluster.log_path("node-1"), mark).count("unreachable") >= 2, 10,
             what="node-1's agent failing to reach the master twice")
    assert cluster.net.routes(ns1) == want1
    cluster.net.ip(ns1, "route", "del", "10.244.2.0/24")
    wait_for(lambda: cluster.net.routes(ns1) == want1, 1, what="the deleted route back")
    assert ping(cluster, pod1, ip2)
    assert "unreachable" in cluster.log("node-1")

    # Master back, node-2 forgotten: the reconnected agent on node-1 drops node-2's route.
    conn = registry.open_registry(cluster.tmp / "master")
    registry.forget_node(conn, "node-2", now=time.time())
    conn.close()
    cluster.start_api()
    wait_for(lambda: cluster.net.routes(ns1) == {"10.244.0.0/24": "10.0.0.1"}, 8, what="node-2's route gone")
    assert "answers again" in cluster.log("node-1")


def test_wrong_credential_is_refused_and_programs_nothing(cluster: Cluster) -> None:
    write_credential(cluster.tmp / "node-1", AgentCredential("node-1", "w" * 43))
    cluster.start_agent("node-1")
    wait_for_line(cluster.log_path("node-1"), "refused the credential", 5)
    assert cluster.net.routes(cluster.nodes["node-1"]) == {}
    assert not (cluster.tmp / "node-1" / "cni" / CONFLIST_NAME).exists()
    status = cluster.net.run(
        cluster.nodes["node-2"], "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
        "-H", f"Authorization: Bearer node-1.{'w' * 43}", "http://10.0.0.1:8081/api/v1/agent/config",
    ).stdout  # fmt: skip
    assert status == "401"
    # Re-issued credential written by provisioning: the agent picks it up without a restart.
    write_credential(cluster.tmp / "node-1", issue_agent_credential(cluster.tmp / "master", "node-1"))
    wait_for(lambda: cluster.net.routes(cluster.nodes["node-1"]) == {"10.244.0.0/24": "10.0.0.1", "10.244.2.0/24": "10.0.0.12"}, 5,
             what="routes with the re-issued credential")


def test_agent_restarted_while_master_is_down_restores_its_last_routes(cluster: Cluster) -> None:
    cluster.start_agent("node-1")
    ns1 = cluster.nodes["node-1"]
    want = {"10.244.0.0/24": "10.0.0.1", "10.244.2.0/24": "10.0.0.12"}
    wait_for(lambda: cluster.net.routes(ns1) == want, 10, what="node-1's routes")
    cluster.stop_api()
    cluster.agents["node-1"].stop()
    cluster.net.ip(ns1, "route", "flush", "proto", "171")  # e.g. the node rebooted
    cluster.start_agent("node-1")
    wait_for(lambda: cluster.net.routes(ns1) == want, 5, what="node-1's routes restored")
    assert "restoring the last config" in cluster.log("node-1")


def test_api_service_waits_for_the_lan_address_then_serves(net: NetnsKit, tmp_path: Path) -> None:
    master, node = net.ns("master"), net.ns("node")
    net.veth(master, "lan0", node, "eth0")
    net.ip(node, "addr", "add", "10.0.0.11/24", "dev", "eth0")
    make_registry(tmp_path, {"node-1": "10.0.0.11"})
    proc = net.spawn(master, [PYTHON, "-m", "tests.netd.agent.api_service_runner", str(tmp_path)],
                     stdin=True, stdout=True, log=tmp_path / "svc.log")
    # The service is up and has found 10.0.0.1 missing: it waits instead of giving up.
    wait_for_line(tmp_path / "svc.log", "waiting up to 10 s for 10.0.0.1", 10)
    assert proc.running(), proc.output()
    net.ip(master, "addr", "add", "10.0.0.1/24", "dev", "lan0")
    assert proc.popen.stdout is not None
    assert proc.popen.stdout.readline() == "listening\n", proc.output()
    url = "http://10.0.0.1:8081/api/v1/agent/config"
    code = net.run(node, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url).stdout
    assert code == "401"
    credential = issue_agent_credential(tmp_path, "node-1")
    body = net.run(node, "curl", "-s", "-H", f"Authorization: Bearer {credential.bearer}", url).stdout
    assert json.loads(body)["pod_cidr"] == "10.244.1.0/24"
