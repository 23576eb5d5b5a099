"""Typed, frozen records of cluster.yaml; defaults follow the book's Appendix A.

This module holds only the shapes and their defaults. Loading, line numbers
and validation live in `foundation.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network


@dataclass(frozen=True)
class ClusterSection:
    """`cluster:`: names used everywhere."""

    name: str = "picluster"
    """Used in hostnames, the kubeconfig context and the web page title."""
    domain: str = "cluster.home"
    """DNS domain the master serves authoritatively."""


@dataclass(frozen=True)
class NatSection:
    """`network.nat:`: how the LAN reaches the uplink."""

    backend: str = "nftables"
    """`nftables` (kernel, default) or `userspace` (TUN + native rewrite)."""


@dataclass(frozen=True)
class NetworkSection:
    """`network:`: the cluster LAN and the uplink."""

    lan_interface: str = "eth0"
    """Interface on the cluster switch."""
    uplink_interface: str = "wlan0"
    """Interface towards the home network (Wi-Fi or a second NIC)."""
    subnet: IPv4Network = IPv4Network("10.0.0.0/24")
    """The cluster LAN."""
    master_address: IPv4Address = IPv4Address("10.0.0.1")
    """The master's address on the LAN; also the router and DNS server handed out."""
    dhcp_range: tuple[IPv4Address, IPv4Address] = (IPv4Address("10.0.0.2"), IPv4Address("10.0.0.250"))
    """First and last address of the dynamic pool (inclusive)."""
    lease_time: int = 600
    """Default lease time in seconds (book: default-lease-time 600)."""
    max_lease_time: int = 7200
    """Longest lease a client may ask for, in seconds."""
    upstream_dns: tuple[IPv4Address, ...] | None = None
    """Resolvers to forward to; `auto` (None here) means those the uplink got by DHCP."""
    nat: NatSection = field(default_factory=NatSection)
    """NAT settings."""
    node_name_pattern: str = "node-{n}"
    """Names given to new nodes in order of first DHCP contact; `{n}` counts from 1."""


@dataclass(frozen=True)
class KubernetesSection:
    """`kubernetes:`: what kubeadm is told."""

    version: str = "1.34"
    """Minor version from pkgs.k8s.io."""
    pod_cidr: IPv4Network = IPv4Network("10.244.0.0/16")
    """Pod network of the whole cluster (kubeadm --pod-network-cidr)."""
    node_cidr_mask: int = 24
    """Prefix length of each node's slice of pod_cidr."""
    service_cidr: IPv4Network = IPv4Network("10.96.0.0/12")
    """Service network (kubeadm --service-cidr)."""
    api_server_sans: tuple[str, ...] = ("kubernetes.cluster.home",)
    """Extra names in the API server certificate."""
    token_ttl: int = 7200
    """Default TTL of join tokens made on the web page (seconds here; written like `2h` in the file)."""
    api_on_uplink: bool = True
    """The API server (6443, client certificates) answers kubectl on the uplink's address, for the page's laptop kubeconfig; false keeps it LAN-only."""
    apt_repository: str = "https://pkgs.k8s.io/core:/stable:/v{version}/deb/"
    """Where nodes get kubeadm, kubelet and kubectl: an apt repository URL; `{version}` stands for `version`."""


@dataclass(frozen=True)
class NodeReservation:
    """One entry of `nodes:`: a name (and optionally an address) pinned to a MAC or client-id."""

    name: str
    """Node name, a DNS label."""
    mac: str | None = None
    """Hardware address, lower-case colon form."""
    client_id: str | None = None
    """DHCP client identifier (option 61) as lower-case hex bytes joined by colons."""
    address: IPv4Address | None = None
    """Fixed address; when not set, one from the pool, kept across restarts."""


@dataclass(frozen=True)
class AccessSection:
    """`access:`: the user baked into the images."""

    user: str = "pi"
    """Login user on every node."""
    password_hash: str | None = None
    """crypt(3) hash of that user's password; never a plain password."""
    ssh_authorized_keys: tuple[str, ...] = ()
    """Public keys allowed to log in."""


@dataclass(frozen=True)
class WifiSection:
    """`wifi:`: the master's uplink, written into its image."""

    ssid: str | None = None
    """Network name; when not set, no Wi-Fi is configured."""
    psk_file: str | None = None
    """Absolute path of the file holding the passphrase, not world-readable (`~` and relative paths are resolved against cluster.yaml's folder)."""
    country: str = "US"
    """ISO 3166 country code for the radio."""


@dataclass(frozen=True)
class ProvisioningSection:
    """`provisioning:`: how nodes are brought to joined."""

    approve: str = "manual"
    """`manual`, `raspberry-pi` (auto-approve Pi MAC prefixes) or `all`."""
    parallelism: int = 4
    """How many nodes are provisioned at once."""
    host_keys: str = "auto"
    """Which SSH host keys are trusted on first contact: `cards` (only keys `appliance flash` recorded), `trust-on-first-use`, or `auto` (cards once any card key is known, else first use)."""
    ssh_user: str = "pi"
    """User the provisioner logs in as."""
    forget_after: int = 86400
    """A discovered node never approved is forgotten (its pod slice freed) this long after its lease lapsed (seconds here; written like `1d`)."""


@dataclass(frozen=True)
class WebSection:
    """`web:`: the master's local page."""

    listen: tuple[str, ...] = ("10.0.0.1:8080", "uplink:8080")
    """`address:port` entries; `uplink` stands for the uplink interface's address."""
    admin_password_hash: str | None = None
    """crypt(3) hash of the page's admin password; without it nobody can log in to the page."""
    offline_after: int = 90
    """A node not heard from (agent report, DHCP) for this long shows offline (seconds here; written like `90s`)."""
    session_lifetime: int = 43200
    """How long a login lasts (seconds here; written like `12h`)."""


@dataclass(frozen=True)
class Config:
    """The whole of cluster.yaml."""

    cluster: ClusterSection = field(default_factory=ClusterSection)
    """Names."""
    network: NetworkSection = field(default_factory=NetworkSection)
    """LAN and uplink."""
    kubernetes: KubernetesSection = field(default_factory=KubernetesSection)
    """Kubernetes settings."""
    nodes: tuple[NodeReservation, ...] = ()
    """Reservations by MAC or client-id."""
    access: AccessSection = field(default_factory=AccessSection)
    """Login user."""
    wifi: WifiSection = field(default_factory=WifiSection)
    """Master's Wi-Fi uplink."""
    provisioning: ProvisioningSection = field(default_factory=ProvisioningSection)
    """Provisioning behaviour."""
    web: WebSection = field(default_factory=WebSection)
    """Web page."""
    source: str = "<defaults>"
    """Where this config was read from (a path), for error messages."""
    key_lines: tuple[tuple[str, int], ...] = ()
    """(key path, line) of every key present in the file, e.g. ("network.subnet", 12)."""

    def line_of(self, path: str) -> int | None:
        """The line where key path (e.g. `network.lan_interface`) was given, or None if it was not."""
        return dict(self.key_lines).get(path)

    def where(self, path: str) -> str:
        """`FILE:LINE: path` (or `FILE: path` for a default) to start an error message about a key."""
        line = self.line_of(path)
        return f"{self.source}:{line}: {path}" if line is not None else f"{self.source}: {path}"
