"""What an operation returns: the actions that bring a node to the wanted state, or none with a reason.

An operation is a pure function of a `Context` (the node, the config, the
node's facts and a snapshot of the cluster) returning a `Change`. Running the
actions is the executor's job (provisioning.execute). Actions that only read
(`Verify`, `WaitForNode`) do not count as changes: a plan re-run on a
provisioned node returns only changes without actions, and the runner prints
"0 changed".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Network

from foundation.config.model import Config
from foundation.errors import ApplianceError
from provisioning.connector import CommandResult
from provisioning.facts import NodeFacts
from provisioning.kube_api import UNREACHABLE, ClusterView, KubeApi

APT_TIMEOUT = 900.0
"""apt-get update/install on a Pi over Wi-Fi can take many minutes."""


class ProvisionError(ApplianceError, RuntimeError):
    """A node cannot be brought to the wanted state; the message says what and the fix."""


@dataclass(frozen=True)
class Run:
    """Run a shell line on the node as root; a non-zero exit fails the step."""

    command: str
    """The shell line (every value in it shlex.quote'd)."""
    timeout: float = 300.0
    """Seconds it may take."""
    secrets: tuple[str, ...] = ()
    """Strings in it that must never be logged."""
    changes: bool = True
    """False for a read-only command."""
    shown: str | None = None
    """A short description the log shows instead of a long command line."""


@dataclass(frozen=True)
class Put:
    """Write a file on the node atomically."""

    path: str
    """Absolute path."""
    data: bytes
    """Its whole content."""
    mode: int = 0o644
    """Permission bits."""
    owner: str = "root:root"
    """user:group."""
    secret: bool = False
    """True when the content must never be logged."""
    changes: bool = True
    """Always a change."""


@dataclass(frozen=True)
class Reboot:
    """Reboot the node and wait until it answers again from a new boot."""

    timeout: float = 600.0
    """Seconds to wait for it to come back."""
    changes: bool = True
    """A reboot is a change."""


@dataclass(frozen=True)
class Verify:
    """Run a read-only command and judge its result; `judge` returns an error line or None."""

    command: str
    """The shell line."""
    judge: Callable[[CommandResult], str | None]
    """None when fine, else the one-line reason the step fails."""
    timeout: float = 120.0
    """Seconds it may take."""
    changes: bool = False
    """Reading changes nothing."""


@dataclass(frozen=True)
class Api:
    """A call to the Kubernetes API, made from the master."""

    description: str
    """What it does, for the log (no secrets)."""
    call: Callable[[KubeApi], None]
    """The call."""
    changes: bool = True
    """True when it changes the cluster."""


@dataclass(frozen=True)
class Join:
    """Mint a short-lived bootstrap token, run kubeadm join with it and the CA pin, delete the token."""

    endpoint: str
    """The API server, HOST:6443."""
    node_name: str
    """--node-name."""
    token_ttl: float = 900.0
    """Seconds the token lives (it is deleted after the join anyway)."""
    timeout: float = 600.0
    """Seconds kubeadm join may take."""
    changes: bool = True
    """Joining is a change."""


@dataclass(frozen=True)
class WaitForNode:
    """Wait until the API lists the node."""

    node_name: str
    """The node."""
    timeout: float = 180.0
    """Seconds to wait."""
    changes: bool = False
    """Waiting changes nothing."""


@dataclass(frozen=True)
class FetchAdminConf:
    """Copy the master's admin kubeconfig into STATE_DIR/kubernetes/admin.conf (mode 0600)."""

    remote: str
    """Its path on the master node."""
    changes: bool = True
    """Writing the local copy is a change."""


@dataclass(frozen=True)
class IssueCredential:
    """Issue the node agent's credential in the registry and write it onto the node (mode 0600)."""

    path: str
    """Where on the node."""
    changes: bool = True
    """A new credential is a change."""


Action = Run | Put | Reboot | Verify | Api | Join | WaitForNode | FetchAdminConf | IssueCredential


@dataclass(frozen=True)
class Change:
    """An operation's answer: actions to run (possibly none) and why."""

    reason: str
    """Why these actions, or why nothing is needed (shown in the job log)."""
    actions: tuple[Action, ...] = ()
    """What to do, in order."""

    @property
    def changed(self) -> bool:
        """True when any action changes the node or the cluster."""
        return any(action.changes for action in self.actions)


def ok(reason: str) -> Change:
    """No change needed."""
    return Change(reason)


@dataclass(frozen=True)
class Context:
    """What an operation may look at."""

    node: str
    """The node's name (also its hostname and its Kubernetes node name)."""
    role: str
    """master or worker."""
    address: str
    """Its LAN address."""
    pod_cidr: IPv4Network | None
    """Its slice of the pod network, from the registry."""
    config: Config
    """cluster.yaml."""
    facts: NodeFacts
    """The node as read at the start of this step."""
    cluster: ClusterView = UNREACHABLE
    """The API server's view, for the steps that need it."""
    uplink_address: str | None = None
    """The master's uplink address (for the API server certificate), when known."""
    admin_conf_sha256: str | None = None
    """sha256 of the master's local copy of admin.conf, None when there is none."""
    credential_sha256: str | None = None
    """The registry's hash of this node's agent credential, None when none was issued."""
    clock_skew: float | None = None
    """Seconds between the node's clock and the master's when the facts were read (None: unknown)."""

    @property
    def master_address(self) -> str:
        """The master's LAN address."""
        return str(self.config.network.master_address)

    @property
    def api_endpoint(self) -> str:
        """HOST:PORT of the API server."""
        return f"{self.master_address}:6443"
