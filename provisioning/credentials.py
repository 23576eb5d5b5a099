"""Issuing a node agent's credential, which provisioning then writes onto the node.

The registry keeps only the secret's hash; the credential itself is returned
once, here, and goes straight into the node's agent state directory
(`AgentCredential.file_text()`, mode 0600).
"""

from __future__ import annotations

import time
from pathlib import Path

from foundation import registry
from foundation.records import AgentCredential


def issue_agent_credential(state_dir: Path, node: str, now: float | None = None) -> AgentCredential:
    """Issue (replacing any older one) the agent credential of `node`; returned once, stored hashed."""
    conn = registry.open_registry(state_dir)
    try:
        registry.require_node(conn, node)
        secret = registry.issue_agent_credential(conn, node, now=time.time() if now is None else now)
    finally:
        conn.close()
    return AgentCredential(node, secret)
