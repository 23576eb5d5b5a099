"""The `nodes` table: lookups, state changes, pod CIDRs, forgetting.

All SQL takes values as parameters; nothing a user or a client sends is ever
formatted into a statement.
"""

from __future__ import annotations

import sqlite3
from ipaddress import IPv4Address, IPv4Network

from foundation.errors import RegistryError
from foundation.records import NodeRecord
from foundation.registry import history, podcidr
from foundation.registry.db import transaction
from foundation.registry.models import NodeRole, NodeRow, NodeState, transition_allowed
from foundation.registry.schema import POD_PREFIX_EXPR

_COLUMNS = (
    "name, role, mac, client_id, address, model, state, pod_cidr, ssh_host_key, hostname, "
    "first_seen, last_seen, approved_at"
)


def node_from_row(row: sqlite3.Row) -> NodeRow:
    """A NodeRow from a `SELECT {_COLUMNS}` row."""
    return NodeRow(
        name=row["name"],
        role=NodeRole(row["role"]),
        mac=row["mac"],
        client_id=row["client_id"],
        address=IPv4Address(row["address"]) if row["address"] is not None else None,
        model=row["model"],
        state=NodeState(row["state"]),
        pod_cidr=IPv4Network(row["pod_cidr"]) if row["pod_cidr"] is not None else None,
        ssh_host_key=row["ssh_host_key"],
        hostname=row["hostname"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        approved_at=row["approved_at"],
    )


def node_record(node: NodeRow) -> NodeRecord:
    """What netd (DNS, routes) needs of a node."""
    return NodeRecord(name=node.name, address=node.address, mac=node.mac, pod_cidr=node.pod_cidr)


def insert_node(conn: sqlite3.Connection, node: NodeRow) -> NodeRow:
    """Insert a complete row (used for reservations and by tests); RegistryError on a clash."""
    values = (
        node.name, node.role.value, node.mac, node.client_id,
        str(node.address) if node.address else None, node.model, node.state.value,
        str(node.pod_cidr) if node.pod_cidr else None, node.ssh_host_key, node.hostname,
        node.first_seen, node.last_seen, node.approved_at,
    )  # fmt: skip
    try:
        with transaction(conn):
            conn.execute(f"INSERT INTO nodes ({_COLUMNS}) VALUES ({', '.join('?' * 13)})", values)
    except sqlite3.IntegrityError as error:
        raise RegistryError(
            f"node {node.name!r} clashes with an existing node ({error}) — pick another name, MAC or address"
        ) from None
    return node


def get_node(conn: sqlite3.Connection, name: str) -> NodeRow | None:
    """The node called `name`, or None."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM nodes WHERE name = ?", (name,)).fetchone()
    return node_from_row(row) if row is not None else None


def require_node(conn: sqlite3.Connection, name: str) -> NodeRow:
    """The node called `name`; RegistryError if there is none."""
    node = get_node(conn, name)
    if node is None:
        raise RegistryError(
            f"no node named {name!r} in the registry — names come from DHCP (node-1, node-2, …) "
            "or from `nodes:` in cluster.yaml; check the spelling"
        )
    return node


def find_node(conn: sqlite3.Connection, ident: str) -> NodeRow | None:
    """The node whose name, MAC (any case) or address is `ident`, or None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM nodes WHERE name = ? OR mac = lower(?) OR address = ? "
        "ORDER BY name = ? DESC LIMIT 1",
        (ident, ident, ident, ident),
    ).fetchone()
    return node_from_row(row) if row is not None else None


def list_nodes(conn: sqlite3.Connection) -> list[NodeRow]:
    """Every node, master first, then by first contact."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM nodes ORDER BY role = 'master' DESC, id")
    return [node_from_row(row) for row in rows]


def list_node_records(conn: sqlite3.Connection) -> list[NodeRecord]:
    """The snapshot netd's DNS and routes rebuild from."""
    return [node_record(node) for node in list_nodes(conn)]


def allocate_pod_cidr(
    conn: sqlite3.Connection,
    node_name: str,
    pod_cidr: IPv4Network,
    node_cidr_mask: int,
) -> IPv4Network:
    """Give `node_name` its stable slice of `pod_cidr` (keeping the one it has) and store it.

    The master gets slice 0; others prefer the number their name ends in.
    Runs in one write transaction, and nodes.pod_cidr is UNIQUE, so two
    nodes can never share a slice, even with several writers.
    """
    with transaction(conn):
        node = require_node(conn, node_name)
        if (
            node.pod_cidr is not None
            and podcidr.slice_index(pod_cidr, node_cidr_mask, node.pod_cidr) is not None
        ):
            return node.pod_cidr
        master = node.role is NodeRole.MASTER
        preferred = 0 if master else podcidr.preferred_index(node_name)
        lowest = 0 if master else 1
        chosen = _preferred_slice_if_free(conn, pod_cidr, node_cidr_mask, preferred, lowest)
        if chosen is None:
            stored = conn.execute(
                "SELECT pod_cidr FROM nodes WHERE pod_cidr IS NOT NULL AND name != ?", (node_name,)
            )
            # Slices stored under an older pod_cidr setting still block what they overlap.
            taken = podcidr.taken_slices(pod_cidr, node_cidr_mask, (text for (text,) in stored))
            index = podcidr.choose_slice(pod_cidr, node_cidr_mask, taken, preferred, lowest)
            chosen = podcidr.slice_at(pod_cidr, node_cidr_mask, index)
        conn.execute("UPDATE nodes SET pod_cidr = ? WHERE name = ?", (str(chosen), node_name))
    return chosen


def _preferred_slice_if_free(
    conn: sqlite3.Connection,
    pod_cidr: IPv4Network,
    node_cidr_mask: int,
    preferred: int | None,
    lowest: int,
) -> IPv4Network | None:
    """The preferred slice when no stored CIDR overlaps it, found with indexed lookups only.

    A stored CIDR overlaps the candidate slice either by containing it (then it is
    the candidate's supernet of its own prefix length: one exact lookup per length
    up to node_cidr_mask) or by lying inside it (only possible with a longer prefix,
    which the prefix index finds). None means "ask the full scan", which also
    explains a full pod network. Names like node-N make this the common case, so
    a registry of thousands of DHCP clients allocates in O(log n) per node.
    """
    count = podcidr.slice_count(pod_cidr, node_cidr_mask)
    if preferred is None or not lowest <= preferred < count:
        return None
    finer = conn.execute(
        f"SELECT 1 FROM nodes WHERE pod_cidr IS NOT NULL AND {POD_PREFIX_EXPR} > ? LIMIT 1",
        (node_cidr_mask,),
    ).fetchone()
    if finer is not None:
        return None
    candidate = podcidr.slice_at(pod_cidr, node_cidr_mask, preferred)
    holders = podcidr.supernet_texts(candidate)
    placeholders = ",".join("?" * len(holders))
    taken = conn.execute(
        f"SELECT 1 FROM nodes WHERE pod_cidr IN ({placeholders}) LIMIT 1", holders
    ).fetchone()
    return None if taken else candidate


def ensure_master(
    conn: sqlite3.Connection,
    *,
    name: str,
    address: IPv4Address,
    pod_cidr: IPv4Network,
    node_cidr_mask: int,
    now: float,
) -> NodeRow:
    """Record the master itself (role master, state joined, slice 0); called at daemon start."""
    with transaction(conn):
        existing = conn.execute("SELECT name FROM nodes WHERE role = 'master'").fetchone()
        if existing is not None and existing["name"] != name:
            if get_node(conn, name) is not None:
                raise RegistryError(
                    f"cannot name the master {name!r}: a worker has that name — forget that "
                    "worker or choose another master hostname"
                )
            conn.execute("UPDATE nodes SET name = ? WHERE role = 'master'", (name,))
        if existing is None:
            conn.execute("UPDATE nodes SET address = NULL WHERE address = ?", (str(address),))
            insert_node(conn, NodeRow(
                name=name, role=NodeRole.MASTER, mac=None, client_id=None, address=address,
                model=None, state=NodeState.JOINED, pod_cidr=None, ssh_host_key=None, hostname=None,
                first_seen=now, last_seen=now, approved_at=now,
            ))  # fmt: skip
        else:
            conn.execute(
                "UPDATE nodes SET address = NULL WHERE address = ? AND name != ?",
                (str(address), name),
            )
            conn.execute(
                "UPDATE nodes SET address = ?, last_seen = ? WHERE name = ?",
                (str(address), now, name),
            )
        allocate_pod_cidr(conn, name, pod_cidr, node_cidr_mask)
        return require_node(conn, name)


def set_node_state(conn: sqlite3.Connection, name: str, state: NodeState, *, now: float) -> NodeRow:
    """Move a node to `state` if NODE_TRANSITIONS allows it; RegistryError otherwise."""
    with transaction(conn):
        node = require_node(conn, name)
        if not transition_allowed(node.state, state):
            raise RegistryError(
                f"node {name} is {node.state.value} and cannot become {state.value} — "
                "wait for its current step to finish, or reprovision it"
            )
        if node.state is not state:
            approved = now if state is NodeState.APPROVED else node.approved_at
            conn.execute(
                "UPDATE nodes SET state = ?, approved_at = ? WHERE name = ?",
                (state.value, approved, name),
            )
            history.append_event(
                conn,
                kind=f"node.{state.value}",
                node=name,
                message=f"{name}: {node.state.value} → {state.value}",
                now=now,
            )
        return require_node(conn, name)


def approve_node(conn: sqlite3.Connection, name: str, *, now: float) -> NodeRow:
    """discovered → approved (a no-op if already approved)."""
    return set_node_state(conn, name, NodeState.APPROVED, now=now)


def set_ssh_host_key(conn: sqlite3.Connection, name: str, host_key: str | None) -> None:
    """Pin (or, with None, unpin before a reinstall) the node's SSH host key."""
    with transaction(conn):
        require_node(conn, name)
        conn.execute("UPDATE nodes SET ssh_host_key = ? WHERE name = ?", (host_key, name))


def set_node_model(conn: sqlite3.Connection, name: str, model: str | None) -> None:
    """Record the node's hardware model once known."""
    with transaction(conn):
        require_node(conn, name)
        conn.execute("UPDATE nodes SET model = ? WHERE name = ?", (model, name))


def touch_node(conn: sqlite3.Connection, name: str, *, now: float) -> None:
    """Note that the node was heard from (agent report)."""
    with transaction(conn):
        require_node(conn, name)
        conn.execute("UPDATE nodes SET last_seen = max(last_seen, ?) WHERE name = ?", (now, name))


def forget_node(conn: sqlite3.Connection, name: str, *, now: float) -> NodeRecord:
    """Delete a worker (and its agent credential); return it as it was so netd can drop routes and DNS."""
    with transaction(conn):
        node = require_node(conn, name)
        if node.role is NodeRole.MASTER:
            raise RegistryError(
                f"{name} is the master and cannot be forgotten — forget workers only"
            )
        conn.execute("DELETE FROM nodes WHERE name = ?", (name,))
        history.append_event(
            conn,
            kind="node.forgotten",
            node=name,
            message=f"{name} forgotten ({node.mac or 'no MAC'})",
            now=now,
        )
    return node_record(node)
