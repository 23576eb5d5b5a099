"""The lab's layout as pure data: names, MACs, addresses. No I/O here.

The lab mirrors Appendix A: a switch, a master with `eth0` on the switch and a
`wlan0` uplink to a home router, a home router that routes to an "internet",
and worker Pis `pi-1` … `pi-N`. Everything the lab creates on the machine is
named from the `pilab-` prefix so that `lab down` can find leftovers by name
even when the state file is gone (a SIGKILLed `lab up`).

Interfaces live only inside the lab's own network namespaces; the host's own
namespace never gets a link, so the lab is sealed from the real network.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

PREFIX_RE = re.compile(r"[a-z][a-z0-9]{0,6}-")
"""A valid prefix: short enough that `PREFIX + "pi-64"` fits in an interface name (15 chars)."""


def _prefix() -> str:
    # Validated by preflight.check_prefix (an error at import would break every command).
    return os.environ.get("APPLIANCE_LAB_PREFIX", "pilab-")


PREFIX = _prefix()
"""Prefix of every namespace (and switch port) the lab creates. $APPLIANCE_LAB_PREFIX (with
$APPLIANCE_LAB_DIR) lets a second lab run beside the first, e.g. for a developer's test run."""

SWITCH_NS = PREFIX + "switch"
"""Namespace holding the bridge, so the host's namespace never sees it."""
MASTER_NS = PREFIX + "master"
"""The master Pi's network namespace: the daemon (on the host's filesystem) and the master board."""
MASTER_BOARD = "master-board"
"""The master Pi's own board (its root, systemd, sshd), living in MASTER_NS next to the daemon."""
HOME_NS = PREFIX + "home"
"""The home router: DHCP for the master's wlan0, routes to the internet."""
INTERNET_NS = PREFIX + "internet"
"""The "internet": a DNS server and an HTTP server."""

BRIDGE = "pilab-br0"
"""The switch (a Linux bridge); it lives inside SWITCH_NS, so its name never collides."""

PI_OUIS: tuple[str, ...] = ("b8:27:eb", "dc:a6:32", "e4:5f:01", "d8:3a:dd", "2c:cf:67")
"""Raspberry Pi Foundation / Raspberry Pi Trading MAC prefixes, cycled over the boards."""

DEFAULT_SUBNET = IPv4Network("10.0.0.0/24")
"""The cluster LAN of the book (and of cluster.yaml's defaults)."""
DEFAULT_MASTER = IPv4Address("10.0.0.1")
"""The master's LAN address of the book."""

DHCP_CLIENTS: tuple[str, ...] = ("udhcpc", "dhcpcd", "dhclient")
"""Real DHCP clients; by default node i uses DHCP_CLIENTS[(i-1) % 3] so all three are exercised."""

HOME_SUBNET = IPv4Network("192.0.2.0/24")
"""The home network (TEST-NET-1) between the home router and the master's wlan0."""
HOME_ROUTER = IPv4Interface("192.0.2.1/24")
"""The home router's address on the home network."""
HOME_POOL = (IPv4Address("192.0.2.100"), IPv4Address("192.0.2.199"))
"""Addresses the home router hands out (the master's wlan0 gets one)."""
WAN_HOME = IPv4Interface("198.51.100.1/24")
"""The home router's address towards the internet (TEST-NET-2)."""
WAN_INTERNET = IPv4Interface("198.51.100.2/24")
"""The internet namespace's own address."""
INTERNET_DNS = IPv4Address("198.51.100.53")
"""The internet's DNS server (the upstream the master forwards to)."""
INTERNET_HTTP = IPv4Address("198.51.100.80")
"""The internet's HTTP server."""
INTERNET_NAMES: tuple[tuple[str, IPv4Address], ...] = (
    ("www.example.com", INTERNET_HTTP),
    ("example.com", INTERNET_HTTP),
    ("mirror.example.net", INTERNET_HTTP),
    ("dns.example.net", INTERNET_DNS),
    ("pkgs.k8s.example.net", INTERNET_HTTP),
    ("deb.example.net", INTERNET_HTTP),
)
"""Names the internet's DNS server knows (reserved example names only); pkgs.k8s.example.net and
deb.example.net serve the Kubernetes fake's apt repositories (hardware/lab/kubefake)."""


@dataclass(frozen=True)
class NodePlan:
    """One worker board of the lab."""

    name: str
    """Board name, `pi-N` (the appliance later names it `node-M` by DHCP)."""
    index: int
    """N in `pi-N`, from 1."""
    namespace: str
    """Its network namespace."""
    switch_port: str
    """Its cable's end on the switch (a veth inside SWITCH_NS)."""
    mac: str
    """MAC of its eth0, from a Raspberry Pi prefix, deterministic per name."""
    dhcp_client: str
    """Which real DHCP client it boots with."""
    static_address: IPv4Interface
    """Its address with `--addressing static` (and only then)."""
    role: str = "worker"
    """`worker`, or `master` for the master board (which shares the master's namespace and cable)."""


@dataclass(frozen=True)
class LabPlan:
    """The whole lab for a given node count and addressing mode."""

    nodes: tuple[NodePlan, ...]
    """Workers pi-1 … pi-N."""
    addressing: str
    """`dhcp` (the master daemon's DHCP) or `static` (fixed addresses, no DHCP)."""
    subnet: IPv4Network
    """The cluster LAN."""
    master_address: IPv4Interface
    """The master's eth0 address (also the nodes' gateway and DNS)."""
    master_mac: str
    """MAC of the master's eth0."""
    master_wlan_mac: str
    """MAC of the master's wlan0."""

    def node(self, name: str) -> NodePlan | None:
        """The worker board called `name`, or None."""
        return next((n for n in self.nodes if n.name == name), None)

    @property
    def master_board(self) -> NodePlan:
        """The master's own board: in the master's namespace, on its cable, with its address."""
        return NodePlan(name=MASTER_BOARD, index=0, namespace=MASTER_NS, switch_port=PREFIX + "master",
                        mac=self.master_mac, dhcp_client="", static_address=self.master_address,
                        role="master")

    @property
    def boards(self) -> tuple[NodePlan, ...]:
        """Every board: the master board first, then the workers."""
        return (self.master_board, *self.nodes)

    def board(self, name: str) -> NodePlan | None:
        """The board called `name` (a worker or the master board), or None."""
        return next((b for b in self.boards if b.name == name), None)

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace of this lab, infrastructure first."""
        return (SWITCH_NS, HOME_NS, INTERNET_NS, MASTER_NS) + tuple(n.namespace for n in self.nodes)


def pi_mac(name: str, index: int) -> str:
    """A stable MAC for board `name`: Pi prefix cycled by index, low bytes from a hash."""
    oui = PI_OUIS[(index - 1) % len(PI_OUIS)]
    low = hashlib.sha256(f"pilab:{name}".encode()).digest()[:3]
    return oui + ":" + ":".join(f"{b:02x}" for b in low)


def make_plan(
    nodes: int,
    *,
    addressing: str = "dhcp",
    subnet: IPv4Network = DEFAULT_SUBNET,
    master_address: IPv4Address = DEFAULT_MASTER,
    dhcp_clients: tuple[str, ...] = DHCP_CLIENTS,
) -> LabPlan:
    """Plan a lab of `nodes` workers; static addresses are the subnet's .11, .12, …"""
    if not 1 <= nodes <= 64:
        raise ValueError(f"nodes must be between 1 and 64, not {nodes}")
    if addressing not in ("dhcp", "static"):
        raise ValueError(f"addressing must be dhcp or static, not {addressing!r}")
    hosts = list(subnet.hosts())
    if len(hosts) < nodes + 11:
        raise ValueError(f"subnet {subnet} is too small for {nodes} nodes")
    plans = []
    for i in range(1, nodes + 1):
        name = f"pi-{i}"
        plans.append(
            NodePlan(
                name=name,
                index=i,
                namespace=PREFIX + name,
                switch_port=PREFIX + name,
                mac=pi_mac(name, i),
                dhcp_client=dhcp_clients[(i - 1) % len(dhcp_clients)],
                static_address=IPv4Interface(f"{hosts[9 + i]}/{subnet.prefixlen}"),
            )
        )
    return LabPlan(
        nodes=tuple(plans),
        addressing=addressing,
        subnet=subnet,
        master_address=IPv4Interface(f"{master_address}/{subnet.prefixlen}"),
        master_mac=pi_mac("master", 4),
        master_wlan_mac=pi_mac("master-wlan", 4),
    )
