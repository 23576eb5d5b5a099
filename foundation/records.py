"""Records that cross services: what the DHCP server says of a lease, what the registry says of a node.

The DHCP server produces LeaseEvents; the registry records them and answers with
NodeRecords (and NodeEvents when a node changes); DNS, routes, the agent API and
the web page consume NodeRecords. Provisioning writes an AgentCredential onto a
node, and the node agent reads it back. They are plain frozen values with no behaviour,
so every layer can share them without importing each other.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network


class LeaseChange(enum.Enum):
    """What happened to a lease."""

    GRANTED = "granted"
    RENEWED = "renewed"
    RELEASED = "released"
    EXPIRED = "expired"
    DECLINED = "declined"


@dataclass(frozen=True)
class LeaseEvent:
    """A lease changed."""

    change: LeaseChange
    """What happened."""
    address: IPv4Address
    """The leased address."""
    mac: str
    """Client hardware address, lower-case colon form."""
    client_id: str | None
    """Option 61 as lower-case hex bytes joined by colons, if the client sent one."""
    node_name: str
    """The name the appliance gave this client (node_name_pattern or a reservation)."""
    hostname: str | None
    """Option 12 as sent by the client, only if it was a valid DNS label."""
    expires: float
    """Unix time the lease ends (0 for released/expired/declined)."""


class NodeChange(enum.Enum):
    """What happened to a node in the registry."""

    UPSERTED = "upserted"
    REMOVED = "removed"


@dataclass(frozen=True)
class NodeRecord:
    """What DNS and routes need to know of one node (the registry is the source of truth)."""

    name: str
    """Node name (a DNS label), e.g. node-1."""
    address: IPv4Address | None
    """Current LAN address, None while it has none."""
    mac: str | None
    """Hardware address, lower-case colon form."""
    pod_cidr: IPv4Network | None
    """This node's slice of the pod network, None until allocated."""


@dataclass(frozen=True)
class NodeEvent:
    """The registry's view of a node changed (published after the change is committed)."""

    change: NodeChange
    """Upserted or removed."""
    node: NodeRecord
    """The node as it now is (for REMOVED: as it was)."""


AGENT_CREDENTIAL_FILE = "credential"
"""Name of the agent's credential file in its state directory (mode 0600)."""


@dataclass(frozen=True)
class AgentCredential:
    """A node agent's credential (the master keeps only a hash of `secret`)."""

    node: str
    """The node it belongs to."""
    secret: str
    """The random secret (URL-safe base64 text)."""

    @property
    def bearer(self) -> str:
        """The `Authorization: Bearer` token."""
        return f"{self.node}.{self.secret}"

    def file_text(self) -> str:
        """The credential file's content, as provisioning writes it and the agent reads it."""
        return json.dumps({"node": self.node, "credential": self.secret}) + "\n"
