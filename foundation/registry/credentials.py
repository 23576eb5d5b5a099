"""The `agent_credentials` table: one secret per node for the node agent, stored hashed.

The credential is 32 random bytes (URL-safe text), so SHA-256 is enough to
make a stolen registry useless (no slow hash needed for random secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3

from foundation.registry import history, nodes
from foundation.registry.db import transaction
from foundation.registry.models import AgentCredentialRow


def _digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def issue_agent_credential(conn: sqlite3.Connection, node: str, *, now: float) -> str:
    """Issue (replacing any previous one) the node's credential; return it — it is never readable again."""
    credential = secrets.token_urlsafe(32)
    with transaction(conn):
        nodes.require_node(conn, node)
        conn.execute(
            "INSERT OR REPLACE INTO agent_credentials (node, credential_hash, issued) VALUES (?, ?, ?)",
            (node, _digest(credential), now),
        )
        history.append_event(
            conn,
            kind="agent.credential",
            node=node,
            message=f"agent credential issued for {node}",
            now=now,
        )
    return credential


def get_agent_credential(conn: sqlite3.Connection, node: str) -> AgentCredentialRow | None:
    """The stored (hashed) credential row of a node, or None."""
    row = conn.execute(
        "SELECT node, credential_hash, issued FROM agent_credentials WHERE node = ?", (node,)
    ).fetchone()
    if row is None:
        return None
    return AgentCredentialRow(
        node=row["node"], credential_hash=row["credential_hash"], issued=row["issued"]
    )


def verify_agent_credential(conn: sqlite3.Connection, node: str, credential: str) -> bool:
    """Whether `credential` is the node's current one (constant-time comparison)."""
    row = get_agent_credential(conn, node)
    return row is not None and hmac.compare_digest(row.credential_hash, _digest(credential))


def revoke_agent_credential(conn: sqlite3.Connection, node: str) -> bool:
    """Remove the node's credential; return whether there was one."""
    with transaction(conn):
        return conn.execute("DELETE FROM agent_credentials WHERE node = ?", (node,)).rowcount > 0
