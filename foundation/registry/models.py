"""One dataclass per registry table, and the state sets rows move through.

Rows are plain frozen records of typed Python values (addresses as
`ipaddress` objects, times as Unix seconds); the table modules convert them
to and from SQLite rows. Nothing here touches the database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network


class NodeState(enum.Enum):
    """Where a node is on its way into the cluster.

    discovered --approve--> approved --job starts--> provisioning --ok--> joined
                                                      provisioning --error--> failed
    failed --retry--> provisioning;  joined --reprovision--> provisioning.
    provisioning --a plan short of joining (prepare, reset) succeeded--> approved.
    Forgetting a node deletes its row (its name, address and pod CIDR become
    free; a Pi that comes back is discovered anew), so there is no
    "forgotten" state.
    """

    DISCOVERED = "discovered"
    APPROVED = "approved"
    PROVISIONING = "provisioning"
    JOINED = "joined"
    FAILED = "failed"


# Allowed moves; staying in the same state is always allowed (idempotent commands).
NODE_TRANSITIONS: dict[NodeState, frozenset[NodeState]] = {
    NodeState.DISCOVERED: frozenset({NodeState.APPROVED}),
    NodeState.APPROVED: frozenset({NodeState.PROVISIONING}),
    NodeState.PROVISIONING: frozenset({NodeState.JOINED, NodeState.FAILED, NodeState.APPROVED}),
    NodeState.FAILED: frozenset({NodeState.PROVISIONING}),
    NodeState.JOINED: frozenset({NodeState.PROVISIONING}),
}


def transition_allowed(old: NodeState, new: NodeState) -> bool:
    """Whether a node may move from `old` to `new`."""
    return old == new or new in NODE_TRANSITIONS[old]


class NodeRole(enum.Enum):
    """Whether a node row is the master itself or a worker."""

    MASTER = "master"
    WORKER = "worker"


class LeaseState(enum.Enum):
    """The last thing the DHCP server said about an address."""

    ACTIVE = "active"
    RELEASED = "released"
    EXPIRED = "expired"
    DECLINED = "declined"


class JobState(enum.Enum):
    """Life of a provisioning job; `interrupted` marks jobs that were running when the daemon died."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class LogStream(enum.Enum):
    """Which stream a job log line came from."""

    STDOUT = "stdout"
    STDERR = "stderr"
    INFO = "info"


@dataclass(frozen=True)
class NodeRow:
    """One row of `nodes`: a machine the appliance knows."""

    name: str
    """Node name, a DNS label (unique), e.g. node-1."""
    role: NodeRole
    """Master or worker."""
    mac: str | None
    """Hardware address, lower-case colon form (unique when set)."""
    client_id: str | None
    """DHCP option 61 as lower-case hex bytes joined by colons (unique when set)."""
    address: IPv4Address | None
    """Current LAN address (unique when set); None while the node holds no lease."""
    model: str | None
    """Raspberry Pi model if known (from the MAC prefix or the revision code)."""
    state: NodeState
    """Where the node is on its way into the cluster."""
    pod_cidr: IPv4Network | None
    """This node's slice of the pod network (unique when set)."""
    ssh_host_key: str | None
    """Pinned SSH host key (`type base64`), None until first contact."""
    hostname: str | None
    """Hostname the node sent in DHCP option 12 (a valid DNS label) if any."""
    first_seen: float
    """Unix time the node was first recorded."""
    last_seen: float
    """Unix time of the last lease event or agent report."""
    approved_at: float | None
    """Unix time the node was approved, None before."""


@dataclass(frozen=True)
class LeaseRow:
    """One row of `leases`: the last known state of one address."""

    address: IPv4Address
    """The leased address (primary key)."""
    mac: str
    """Client hardware address."""
    client_id: str | None
    """Client identifier (option 61) if the client sent one."""
    node: str
    """Name of the node that holds or held it."""
    expires: float
    """Unix time the lease ends (0 once released, expired or declined)."""
    state: LeaseState
    """Active, released, expired or declined."""
    updated: float
    """Unix time of the last change."""


@dataclass(frozen=True)
class TokenRow:
    """One row of `tokens`: a Kubernetes bootstrap token, without its secret."""

    id: str
    """The public half, `[a-z0-9]{6}`."""
    secret_hash: str
    """SHA-256 (hex) of the secret half; the secret itself is shown once and never stored."""
    description: str
    """What the user wrote when minting it."""
    expires: float | None
    """Unix time it stops working; None never expires."""
    usages: tuple[str, ...]
    """kubeadm usages, e.g. ("signing", "authentication")."""
    created: float
    """Unix time it was minted."""


@dataclass(frozen=True)
class JobRow:
    """One row of `jobs`: one provisioning plan run against one node."""

    id: int
    """Job number (never reused)."""
    node: str
    """Node name the plan runs against (kept after the node is forgotten)."""
    plan: str
    """Plan name, e.g. prepare-node, join."""
    state: JobState
    """Queued, running, succeeded, failed or interrupted."""
    created: float
    """Unix time the job was queued."""
    started: float | None
    """Unix time it started running, None while queued."""
    finished: float | None
    """Unix time it ended, None while queued or running."""
    step: int = 0
    """How many of the plan's steps are done (a resumed job starts at this index)."""
    steps: int = 0
    """How many steps the plan has (0 until the job starts)."""
    step_name: str | None = None
    """The step running now, or the one it failed or was cut off at."""
    changed: int = 0
    """How many operations changed something on the node so far."""
    error: str | None = None
    """Why it failed, one line (never a secret)."""
    resumed_from: int | None = None
    """The failed or interrupted job this one took over from."""
    dry_run: bool = False
    """True when it only printed the commands it would run."""
    owner: int | None = None
    """Process id of the runner running it (a running job whose owner is gone was cut off)."""


@dataclass(frozen=True)
class JobLogRow:
    """One row of `job_log`: one output line of a job."""

    job_id: int
    """The job it belongs to."""
    seq: int
    """Position within the job's log, from 1."""
    time: float
    """Unix time the line was produced."""
    stream: LogStream
    """stdout, stderr or info (the runner's own remarks)."""
    line: str
    """The text, without its newline."""


@dataclass(frozen=True)
class EventRow:
    """One row of `events`: something the user may want to see in the history."""

    id: int
    """Event number, increasing."""
    time: float
    """Unix time it happened."""
    kind: str
    """Short machine-readable kind, e.g. lease.granted, node.approved."""
    node: str | None
    """Node concerned, if any."""
    message: str
    """One human-readable line."""


class HostKeySource(enum.Enum):
    """Why the appliance trusts an SSH host key."""

    CARD = "card"
    """Generated when the card was flashed and recorded in cards.pub then."""
    TOFU = "tofu"
    """Trusted on first use: the key the node presented the first time."""
    MANUAL = "manual"
    """Accepted by the admin (`appliance nodes accept-key`)."""


@dataclass(frozen=True)
class HostKeyRow:
    """One row of `host_keys`: an SSH host key the appliance knows, and the node it is pinned to."""

    key: str
    """The public key as `type base64` (no comment)."""
    fingerprint: str
    """OpenSSH's SHA256:… fingerprint of it."""
    source: HostKeySource
    """Where the trust came from."""
    card: str | None
    """The card's label from cards.pub (e.g. pi-1), for card keys."""
    node: str | None
    """The node it is pinned to; None for a card key no node has presented yet."""
    added: float
    """Unix time it was recorded."""
    pinned: float | None
    """Unix time it was pinned to its node."""


@dataclass(frozen=True)
class AgentCredentialRow:
    """One row of `agent_credentials`: the node agent's per-node credential, hashed."""

    node: str
    """Node name (deleted with the node)."""
    credential_hash: str
    """SHA-256 (hex) of the credential; the credential itself is shown once at issue."""
    issued: float
    """Unix time it was issued."""
