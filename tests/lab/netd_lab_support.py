"""Helpers of tests/lab/test_netd_lab.py: who is node-N, our routes in a namespace, agents and CNI pods.

- Node names (node-1 …) are given by the master's DHCP in the order boards
  asked, so a board is found by its MAC in the master's registry.
- Routes are read with pyroute2 from a socket made inside the namespace (a
  board's network namespace is a named one on the host), so polling costs
  a netlink dump, not a process start.
- Agents are installed the way provisioning will: the payload tar of
  provisioning.payload.AGENT unpacked in AGENT_HOME, a credential issued on the
  master and written into the board's AGENT_STATE_DIR, then started
  detached inside the board.
- Pods are network namespaces inside a board attached by the real CNI
  `bridge` plugin (containernetworking-plugins in the board's root), fed the
  first plugin of the agent's conflist with `cniVersion` and `name` merged
  in, as libcni does for a plugin list.
"""

from __future__ import annotations

import base64
import json
import shlex
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from pyroute2 import IPRoute

from foundation import registry
from foundation.registry import NodeRow
from hardware.lab import nodes as boards
from hardware.lab import plumbing
from netd.agent.credential import write_credential
from netd.api.service import AGENT_API_PORT
from netd.cni import CNI_CONF_DIR, CONFLIST_NAME, LOOPBACK_NAME
from netd.routes.plan import RTPROT_APPLIANCE
from provisioning.credentials import issue_agent_credential
from provisioning.payload import AGENT, AGENT_STATE_DIR, IMPORT_CHECK
from tests.support.lab import LabHandle

AGENT_HOME = AGENT.home
AGENT_COMMAND = AGENT.command
AGENT_PID_FILE = "/run/appliance-agent.pid"
AGENT_LOG = "/var/log/appliance-agent.log"
CNI_BIN = "/usr/lib/cni"
CONFLIST = f"{CNI_CONF_DIR}/{CONFLIST_NAME}"


def registry_nodes(lab: LabHandle) -> dict[str, NodeRow]:
    """Every node in the lab master's registry, by name (read the way the CLI reads it)."""
    conn = registry.open_registry(lab.dirs.master_state)
    try:
        return {node.name: node for node in registry.list_nodes(conn)}
    finally:
        conn.close()


def board_of(lab: LabHandle, node_name: str) -> str | None:
    """The board (pi-N) the registry's `node_name` is, by MAC; None if the registry lacks it."""
    node = registry_nodes(lab).get(node_name)
    if node is None or node.mac is None:
        return None
    return next((b.name for b in lab.plan.nodes if b.mac == node.mac), None)


def node_of(lab: LabHandle, board: str) -> str | None:
    """The registry name of `board` (by MAC), None until it has one."""
    mac = lab.node(board).mac
    return next((name for name, node in registry_nodes(lab).items() if node.mac == mac), None)


def our_routes(namespace: str) -> dict[str, str]:
    """{pod CIDR: gateway} of the routes tagged with netd's protocol in `namespace`'s main table."""
    with plumbing.in_namespace(namespace):
        ipr = IPRoute()
    try:
        found = {}
        for route in ipr.get_routes(family=socket.AF_INET, table=254):
            if route["proto"] == RTPROT_APPLIANCE:
                found[f"{route.get_attr('RTA_DST')}/{route['dst_len']}"] = str(route.get_attr("RTA_GATEWAY"))
        return found
    finally:
        ipr.close()


def uplink_address(namespace: str) -> IPv4Interface:
    """The master's wlan0 address (from the home router's DHCP)."""
    addresses = plumbing.ipv4_addresses(namespace, "wlan0")
    assert addresses, "the master's uplink has no address"
    return IPv4Interface(addresses[0])


@dataclass(frozen=True)
class Agent:
    """An agent installed and running on a board."""

    board: str
    """pi-N."""
    node: str
    """Its registry name (node-N)."""


def install_agent(lab: LabHandle, board: str, node: str) -> dict[str, str]:
    """Unpack the payload in AGENT_HOME, check it imports alone, write the credential; return the import map."""
    payload = base64.b64encode(AGENT.tar()).decode("ascii")
    lab.run(board, f"rm -rf {AGENT_HOME} && mkdir -p {AGENT_HOME} && base64 -d | tar -xz -C {AGENT_HOME}",
            input=payload)
    checked = lab.run(board, ["python3", "-I", "-c", IMPORT_CHECK, AGENT_HOME, AGENT.entry_module])
    loaded: dict[str, str] = json.loads(checked.stdout)
    # Provisioning's job, done here by hand: issue the node's credential on the master (only a
    # hash stays in the registry) and write it into the board's agent state directory.
    credential = issue_agent_credential(lab.dirs.master_state, node)
    pid = boards.init_pid(lab.node(board))
    assert pid is not None, f"{board} is off"
    write_credential(Path(f"/proc/{pid}/root{AGENT_STATE_DIR}"), credential)
    return loaded


def payload_files(loaded: dict[str, str]) -> set[str]:
    """The payload-relative files of an IMPORT_CHECK answer (AssertionError for one outside AGENT_HOME)."""
    outside = {name: path for name, path in loaded.items() if not path.startswith(f"{AGENT_HOME}/")}
    assert outside == {}, f"modules loaded from outside the payload: {outside}"
    return {path[len(AGENT_HOME) + 1:] for path in loaded.values()}


def start_agent(lab: LabHandle, board: str) -> None:
    """Start `python3 -m netd.agent` detached inside the board (it outlives this command)."""
    master = lab.plan.master_address.ip
    inner = (f"echo $$ > {AGENT_PID_FILE}; exec {AGENT_COMMAND} --master http://{master}:{AGENT_API_PORT} "
             f"--state-dir {AGENT_STATE_DIR} >{AGENT_LOG} 2>&1")
    lab.run(board, f"cd {AGENT_HOME} && setsid -f sh -c {shlex.quote(inner)} </dev/null")


def stop_agent(lab: LabHandle, board: str) -> None:
    """SIGTERM the board's agent and wait until it is gone (no-op if it is not running)."""
    lab.run(board, f"pid=$(cat {AGENT_PID_FILE} 2>/dev/null) || exit 0; kill $pid 2>/dev/null || exit 0; "
                   "for i in $(seq 50); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.1; done; kill -9 $pid",
            check=False)


def remove_agent(lab: LabHandle, board: str, node: str) -> None:
    """Stop the agent and undo its install: files, CNI config, its routes; revoke its credential."""
    if boards.init_pid(lab.node(board)) is not None:
        stop_agent(lab, board)
        lab.run(board, f"ip route flush proto {RTPROT_APPLIANCE}; rm -rf {AGENT_HOME} {AGENT_STATE_DIR} "
                       f"{AGENT_PID_FILE} {CONFLIST} {CNI_CONF_DIR}/{LOOPBACK_NAME} /var/lib/cni", check=False)
    conn = registry.open_registry(lab.dirs.master_state)
    try:
        registry.revoke_agent_credential(conn, node)
    finally:
        conn.close()


@dataclass(frozen=True)
class Pod:
    """A "pod": a network namespace inside a board with an eth0 from the CNI bridge plugin."""

    board: str
    """pi-N."""
    name: str
    """Namespace name inside the board (also the CNI container id)."""
    address: IPv4Address
    """What host-local IPAM gave it."""


def network_config(conflist: str) -> str:
    """The bridge plugin's stdin: the list's first plugin with cniVersion and name merged in (libcni)."""
    document = json.loads(conflist)
    plugin = dict(document["plugins"][0])
    assert plugin["type"] == "bridge"
    plugin["cniVersion"] = document["cniVersion"]
    plugin["name"] = document["name"]
    return json.dumps(plugin)


def _cni(lab: LabHandle, board: str, command: str, name: str) -> str:
    config = network_config(lab.read_file(board, CONFLIST))
    result = lab.run(board, ["env", f"CNI_COMMAND={command}", f"CNI_CONTAINERID={name}",
                             f"CNI_NETNS=/run/netns/{name}", "CNI_IFNAME=eth0", f"CNI_PATH={CNI_BIN}",
                             f"{CNI_BIN}/bridge"], input=config, check=False)
    assert result.returncode == 0, f"{board}: CNI {command} {name} failed: {result.stdout} {result.stderr}"
    return result.stdout


def add_pod(lab: LabHandle, board: str, name: str) -> Pod:
    """Make namespace `name` in the board and attach it with the CNI bridge plugin."""
    lab.run(board, ["ip", "netns", "add", name])
    answer = json.loads(_cni(lab, board, "ADD", name))
    address = IPv4Interface(answer["ips"][0]["address"]).ip
    return Pod(board, name, address)


def remove_pod(lab: LabHandle, board: str, name: str) -> None:
    """CNI DEL, then delete the namespace and (once no pod is left) the bridge; quiet if gone."""
    if boards.init_pid(lab.node(board)) is None:
        return
    if lab.run(board, ["test", "-e", f"/run/netns/{name}"], check=False).returncode == 0:
        if lab.run(board, ["test", "-e", CONFLIST], check=False).returncode == 0:
            _cni(lab, board, "DEL", name)
        lab.run(board, ["ip", "netns", "del", name], check=False)
    if lab.run(board, "ls /run/netns 2>/dev/null", check=False).stdout.strip() == "":
        lab.run(board, "ip link del cni0 2>/dev/null", check=False)
