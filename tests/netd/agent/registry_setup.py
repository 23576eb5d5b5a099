"""A real registry in a temporary state directory with a master and workers, for the agent tests."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from foundation import registry
from foundation.registry import NodeRole, NodeRow, NodeState
from foundation.registry.nodes import insert_node

POD_CIDR = IPv4Network("10.244.0.0/16")


def make_registry(state_dir: Path, workers: dict[str, str | None]) -> None:
    """Master 10.0.0.1 (slice 0) and `workers` (name -> address or None), each with a pod CIDR."""
    conn = registry.open_registry(state_dir)
    try:
        registry.ensure_master(
            conn, name="master", address=IPv4Address("10.0.0.1"), pod_cidr=POD_CIDR, node_cidr_mask=24, now=1.0
        )
        for name, address in workers.items():
            add_worker(conn, name, address)
    finally:
        conn.close()


def add_worker(conn: object, name: str, address: str | None) -> None:
    """Insert a joined worker and give it a pod CIDR."""
    insert_node(
        conn,  # type: ignore[arg-type]
        NodeRow(
            name=name, role=NodeRole.WORKER, mac=None, client_id=None,
            address=IPv4Address(address) if address else None, model=None, state=NodeState.JOINED,
            pod_cidr=None, ssh_host_key=None, hostname=None, first_seen=1.0, last_seen=1.0, approved_at=1.0,
        ),
    )  # fmt: skip
    registry.allocate_pod_cidr(conn, name, POD_CIDR, 24)  # type: ignore[arg-type]
