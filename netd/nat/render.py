"""The nftables ruleset of netd's NAT, rendered whole by a pure function.

The text is one nft transaction: `add table` + `delete table` + the full
table, so applying it replaces our table atomically (no moment without NAT
or without the forward guard) and is idempotent; no other table is named,
so other tables (kube-proxy's, the admin's) are never touched.

What it does:
- postrouting: traffic leaving through the uplink from the LAN subnet or
  from the pod network is masqueraded. Pod traffic needs it too because the
  CNI bridge runs with `ipMasq: false` (pods are routed host-gw inside the
  cluster and keep their addresses there; only the way out is NATed, once,
  here).
- forward: anything forwarded in from the uplink passes only as a reply
  (ct state established,related); the rest is dropped. A drop in any base
  chain is final, so this guard holds whatever other tables accept. Our
  chain's policy stays accept so forwarding inside the cluster (LAN, pods)
  is not our business here.
- input: the master's own services (agent API 8081, DNS 53, SSH 22,
  anything started later) are for the LAN. From the uplink only replies,
  DHCP client replies, ICMP echo, the web page on exactly the addresses
  `web.listen` names, and (with `kubernetes.api_on_uplink`) the Kubernetes
  API on the uplink's own address get in; the rest is dropped.
  A home network that routes the LAN subnet via the master reaches the
  master's LAN address through the uplink too, so this matches on the
  interface a packet came in on, not on the address it was sent to.
- traffic: every forwarded packet between the cluster and the uplink adds
  to a per-address counter in the sets `traffic_out` (by source) and
  `traffic_in` (by destination): node addresses and pod addresses, which
  the web page sums per node. Elements are made by the kernel as traffic
  flows, so nothing is re-rendered when nodes come and go.

Rules match interface *names*, so they keep working when the uplink is
re-created; the service still re-applies on every uplink change (and the
table comment records the uplink state it was rendered for).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from foundation.errors import ConfigError

TABLE_FAMILY = "ip"
TABLE_NAME = "appliance"
TRAFFIC_SETS = ("traffic_out", "traffic_in")
"""Names of the per-address counter sets (from the cluster to the uplink, and back)."""
TRAFFIC_SET_SIZE = 65535
"""Most addresses counted per direction (the kernel stops adding elements past it)."""
_IFNAME = re.compile(r"[A-Za-z0-9_.:@+-]{1,15}")


@dataclass(frozen=True)
class WebListen:
    """One `web.listen` entry: the page's port on an address, or on the uplink's addresses."""

    address: IPv4Address | None
    """The address named, None for `uplink` (whatever addresses the uplink has now)."""
    port: int
    """TCP port."""


def parse_web_listen(entries: tuple[str, ...]) -> tuple[WebListen, ...]:
    """`web.listen` entries (already validated by the config loader) as WebListen values."""
    parsed = []
    for entry in entries:
        host, _, port = entry.rpartition(":")
        parsed.append(WebListen(None if host == "uplink" else IPv4Address(host), int(port)))
    return tuple(parsed)


def web_targets(listen: tuple[WebListen, ...], uplink: UplinkState) -> list[tuple[IPv4Address, int]]:
    """(address, port) pairs the page serves from the uplink side, sorted, without repeats."""
    pairs = set()
    for entry in listen:
        if entry.address is not None:
            pairs.add((entry.address, entry.port))
        else:
            pairs.update((interface.ip, entry.port) for interface in uplink.addresses)
    return sorted(pairs)


@dataclass(frozen=True)
class UplinkState:
    """What the kernel says about the uplink interface right now."""

    name: str
    """Interface name from the config."""
    index: int | None
    """Interface index, None while the interface does not exist."""
    up: bool
    """Administratively up."""
    addresses: tuple[IPv4Interface, ...]
    """Its IPv4 addresses with prefix, sorted."""


def _ifname(name: str, key: str) -> str:
    if not _IFNAME.fullmatch(name):
        raise ConfigError(
            f"network.{key}: {name!r} is not a valid interface name (1-15 letters, digits or _.:@+-) — fix cluster.yaml"
        )
    return name


def render_ruleset(
    *,
    lan_interface: str,
    uplink: UplinkState,
    lan_subnet: IPv4Network,
    pod_cidr: IPv4Network,
    web: tuple[WebListen, ...] = (),
    kube_api_port: int | None = None,
) -> str:
    """The complete nft script for netd's table (feed it to `nft -f`)."""
    lan = _ifname(lan_interface, "lan_interface")
    up = _ifname(uplink.name, "uplink_interface")
    if lan == up:
        raise ConfigError(
            f"network.lan_interface and network.uplink_interface are both {lan!r} — they must differ"
        )
    sources = ", ".join(str(net) for net in sorted({lan_subnet, pod_cidr}))
    addresses = " ".join(str(a) for a in uplink.addresses) or "none"
    state = f"index {uplink.index}" if uplink.index is not None else "absent"
    page = [f'\t\tiifname "{up}" ip daddr {address} tcp dport {port} accept comment "web.listen"'
            for address, port in web_targets(web, uplink)]
    if kube_api_port is not None:  # kubectl on a laptop at home (client certificates guard the API)
        page += [f'\t\tiifname "{up}" ip daddr {interface.ip} tcp dport {kube_api_port} accept '
                 f'comment "kubernetes.api_on_uplink"' for interface in uplink.addresses]
    counted = [line for name in TRAFFIC_SETS for line in (
        f"\tset {name} {{", f"\t\ttype ipv4_addr; size {TRAFFIC_SET_SIZE}; flags dynamic; counter;", "\t}")]
    return "\n".join(
        [
            "# netd NAT (appliance): rendered whole and applied atomically; edits are overwritten.",
            f"add table {TABLE_FAMILY} {TABLE_NAME}",
            f"delete table {TABLE_FAMILY} {TABLE_NAME}",
            f"table {TABLE_FAMILY} {TABLE_NAME} {{",
            f'\tcomment "netd: uplink {up} {state} {"up" if uplink.up else "down"} addresses {addresses}"',
            "\tchain postrouting {",
            "\t\ttype nat hook postrouting priority srcnat; policy accept;",
            f'\t\toifname "{up}" ip saddr {{ {sources} }} masquerade',
            "\t}",
            *counted,
            "\tchain forward {",
            "\t\ttype filter hook forward priority filter; policy accept;",
            f'\t\tiifname "{up}" ct state established,related update @traffic_in {{ ip daddr }} accept',
            f'\t\tiifname "{up}" counter drop comment "from the uplink only replies get in"',
            f'\t\tiifname "{lan}" oifname "{up}" update @traffic_out {{ ip saddr }} accept',
            "\t}",
            "\tchain input {",
            "\t\ttype filter hook input priority filter; policy accept;",
            f'\t\tiifname "{up}" ct state established,related accept',
            f'\t\tiifname "{up}" udp sport 67 udp dport 68 accept comment "DHCP replies to the uplink\'s client"',
            f'\t\tiifname "{up}" icmp type echo-request accept',
            *page,
            f'\t\tiifname "{up}" counter drop comment "the master\'s services are for the LAN"',
            "\t}",
            "}",
            "",
        ]
    )
