"""Rules that relate several keys of cluster.yaml (each value alone was already checked).

Each rule is a function whose docstring is the rule in the reference's words
(the README lists them from here). A rule is skipped when one of its keys was
refused, so one mistake is not reported three times. An error names the key
to change; its line is that of the first related key present in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from foundation.config.model import Config
from foundation.config.problems import Problem


@dataclass
class Context:
    """A parsed config with where its keys are, to report rule violations."""

    config: Config
    """The values (defaults for keys not given)."""
    source: str
    """File name for problems."""
    lines: dict[str, int]
    """Line of each key path present in the file."""
    bad: set[str]
    """Key paths whose values were refused."""
    problems: list[Problem] = field(default_factory=list)
    """What the rules found."""

    def ok(self, *paths: str) -> bool:
        """True when none of paths (nor a part of or within them) was refused."""
        def related(a: str, b: str) -> bool:
            return a == b or a.startswith((b + ".", b + "[")) or b.startswith((a + ".", a + "["))
        return not any(related(path, bad) for path in paths for bad in self.bad)

    def report(self, path: str, what: str, fix: str, near: tuple[str, ...] = ()) -> None:
        """A problem on path, at the line of path or else of the first of near given in the file."""
        line = 1
        for candidate in (path, *near, *_parents(path)):
            if candidate in self.lines:
                line = self.lines[candidate]
                break
        self.problems.append(Problem(self.source, line, path, what, fix))
        self.bad.add(path)  # later rules that use this key skip it


def _parents(path: str) -> Iterator[str]:
    while "." in path:
        path = path.rsplit(".", 1)[0]
        yield path


def _ends(subnet: IPv4Network) -> tuple[IPv4Address, IPv4Address]:
    return subnet.network_address, subnet.broadcast_address


def master_in_subnet(ctx: Context) -> None:
    """`network.master_address` lies in `network.subnet` and is not its network or broadcast address."""
    net = ctx.config.network
    if not ctx.ok("network.subnet", "network.master_address"):
        return
    if net.master_address not in net.subnet or net.master_address in _ends(net.subnet):
        ctx.report("network.master_address", f"{net.master_address} is not a host address of {net.subnet}",
                   f"use an address inside the subnet, e.g. {net.subnet.network_address + 1}",
                   near=("network.subnet",))


def dhcp_range_fits(ctx: Context) -> None:
    """`network.dhcp_range` runs upward, lies in the subnet's host addresses and leaves out the master's address."""
    net = ctx.config.network
    if not ctx.ok("network.subnet", "network.dhcp_range"):
        return
    first, last = net.dhcp_range
    hosts = f"{net.subnet.network_address + 1}..{net.subnet.broadcast_address - 1}"
    if first > last:
        ctx.report("network.dhcp_range", f"the range is reversed ({first} > {last})", f"write [{last}, {first}]")
    elif any(a not in net.subnet or a in _ends(net.subnet) for a in (first, last)):
        ctx.report("network.dhcp_range", f"{first}..{last} is not inside the host addresses of {net.subnet}",
                   f"keep the range within {hosts}", near=("network.subnet",))
    elif first <= net.master_address <= last and ctx.ok("network.master_address"):
        ctx.report("network.master_address", f"{net.master_address} is inside the DHCP range {first}..{last}",
                   "move the master's address out of the range, or start the range after it",
                   near=("network.dhcp_range", "network.subnet"))


def lease_times(ctx: Context) -> None:
    """`network.lease_time` is at most `network.max_lease_time`."""
    net = ctx.config.network
    if ctx.ok("network.lease_time", "network.max_lease_time") and net.lease_time > net.max_lease_time:
        ctx.report("network.lease_time", f"{net.lease_time} s is longer than max_lease_time {net.max_lease_time} s",
                   "lower lease_time or raise max_lease_time", near=("network.max_lease_time",))


def interfaces_differ(ctx: Context) -> None:
    """`network.lan_interface` and `network.uplink_interface` are different interfaces."""
    net = ctx.config.network
    if ctx.ok("network.lan_interface", "network.uplink_interface") and net.lan_interface == net.uplink_interface:
        ctx.report("network.uplink_interface", f"{net.uplink_interface} is also the LAN interface",
                   "the uplink is the way out: Wi-Fi (wlan0) or a second NIC", near=("network.lan_interface",))


def networks_apart(ctx: Context) -> None:
    """`kubernetes.pod_cidr`, `kubernetes.service_cidr` and `network.subnet` do not overlap."""
    k8s, net = ctx.config.kubernetes, ctx.config.network
    pairs = (("kubernetes.pod_cidr", k8s.pod_cidr, "network.subnet", net.subnet),
             ("kubernetes.pod_cidr", k8s.pod_cidr, "kubernetes.service_cidr", k8s.service_cidr),
             ("kubernetes.service_cidr", k8s.service_cidr, "network.subnet", net.subnet))
    for path, network, other_path, other in pairs:
        if ctx.ok(path, other_path) and network.overlaps(other):
            ctx.report(path, f"{network} overlaps {other_path} {other}",
                       "choose networks that do not overlap (book: pods 10.244.0.0/16, services 10.96.0.0/12)",
                       near=(other_path,))


def node_slices(ctx: Context) -> None:
    """`kubernetes.node_cidr_mask` is longer than the pod CIDR's prefix, and `pod_cidr` has a /mask slice
    for every address a node can hold: each address of the DHCP range, the master, and each fixed
    address outside the range."""
    k8s, net = ctx.config.kubernetes, ctx.config.network
    if not ctx.ok("kubernetes.pod_cidr", "kubernetes.node_cidr_mask", "network.dhcp_range", "nodes"):
        return
    if k8s.node_cidr_mask <= k8s.pod_cidr.prefixlen:
        ctx.report("kubernetes.node_cidr_mask",
                   f"/{k8s.node_cidr_mask} is not longer than pod_cidr's /{k8s.pod_cidr.prefixlen}",
                   f"use a mask longer than {k8s.pod_cidr.prefixlen} (book: /16 pods, /24 per node)",
                   near=("kubernetes.pod_cidr",))
        return
    first, last = net.dhcp_range
    pool = max(0, int(last) - int(first) + 1)
    outside = {node.address for node in ctx.config.nodes
               if node.address is not None and not first <= node.address <= last}
    needed = pool + 1 + len(outside)
    slices = 2 ** (k8s.node_cidr_mask - k8s.pod_cidr.prefixlen)
    if slices < needed:
        ctx.report("kubernetes.node_cidr_mask",
                   f"{k8s.pod_cidr} holds {slices} slices of /{k8s.node_cidr_mask}, but {needed} nodes can get "
                   f"addresses (DHCP range {pool}, master 1, fixed {len(outside)})",
                   "use a larger pod_cidr, a longer node_cidr_mask, or a smaller dhcp_range",
                   near=("kubernetes.pod_cidr", "network.dhcp_range"))


def reservations_sound(ctx: Context) -> None:
    """Each entry of `nodes` has a `mac` or a `client_id`; names, MACs, client-ids and addresses are each
    used once; a fixed address is a host address of the subnet other than the master's."""
    if not ctx.ok("nodes"):
        return
    net = ctx.config.network
    first_use: dict[tuple[str, object], int] = {}
    for index, node in enumerate(ctx.config.nodes):
        path = f"nodes[{index}]"
        if node.mac is None and node.client_id is None and ctx.ok(f"{path}.mac", f"{path}.client_id"):
            ctx.report(path, f"{node.name} has neither mac nor client_id", "add the node's `mac:`")
        for key, value in (("name", node.name), ("mac", node.mac), ("client_id", node.client_id),
                           ("address", node.address)):
            if value is None:
                continue
            if (key, value) in first_use:
                ctx.report(f"{path}.{key}", f"{value} is already used by nodes[{first_use[key, value]}]",
                           f"give each node its own {key}")
            else:
                first_use[key, value] = index
        if node.address is not None and ctx.ok("network.subnet", "network.master_address"):
            if node.address not in net.subnet or node.address in _ends(net.subnet):
                ctx.report(f"{path}.address", f"{node.address} is not a host address of {net.subnet}",
                           "use an address inside network.subnet, or drop it to get one from the pool")
            elif node.address == net.master_address:
                ctx.report(f"{path}.address", f"{node.address} is the master's address",
                           "use another address, or drop it to get one from the pool")


def wifi_complete(ctx: Context) -> None:
    """`wifi.psk_file` is only given together with `wifi.ssid`."""
    wifi = ctx.config.wifi
    if ctx.ok("wifi.ssid", "wifi.psk_file") and wifi.psk_file is not None and wifi.ssid is None:
        ctx.report("wifi.ssid", "a passphrase file is given but no network name",
                   "add `ssid:` (the network's name), or remove psk_file", near=("wifi.psk_file",))


def web_on_master(ctx: Context) -> None:
    """A `web.listen` address inside the LAN is the master's own address."""
    net = ctx.config.network
    if not ctx.ok("web.listen", "network.subnet", "network.master_address"):
        return
    for index, entry in enumerate(ctx.config.web.listen):
        host = entry.rpartition(":")[0]
        if host != "uplink" and IPv4Address(host) in net.subnet and IPv4Address(host) != net.master_address:
            ctx.report(f"web.listen[{index}]", f"{host} is in the LAN but is not the master's address",
                       f"listen on {net.master_address}:PORT (the master) or uplink:PORT", near=("web.listen",))


RULES: tuple[Callable[[Context], None], ...] = (
    master_in_subnet, dhcp_range_fits, lease_times, interfaces_differ, networks_apart, node_slices,
    reservations_sound, wifi_complete, web_on_master,
)
"""Every cross-key rule, in reference order."""


def check(ctx: Context) -> list[Problem]:
    """Run every rule; the problems found."""
    for rule in RULES:
        rule(ctx)
    return ctx.problems
