"""`appliance nodes list|approve|reprovision|forget|accept-key`: the nodes the master knows."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from appliance.cli.master_options import client_for, master_options


@click.group()
def nodes() -> None:
    """The nodes the master knows (from DHCP and cluster.yaml)."""


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.0f}h ago"


@nodes.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@master_options
def list_cmd(output: str, config_path: Path | None, state_dir: Path | None) -> None:
    """List nodes: name, MAC, address, model, state, pod CIDR, last seen."""
    views = client_for(config_path, state_dir).nodes()
    if output == "json":
        click.echo(json.dumps({"nodes": [view.to_json() for view in views]}, indent=2))
        return
    header = ("NAME", "MAC", "ADDRESS", "STATE", "READY", "POD CIDR", "LAST SEEN", "MODEL")
    now = time.time()
    rows = [(v.name, v.mac or "-", v.address or "-", v.state,
             "-" if v.ready is None else ("yes" if v.ready else "no"), v.pod_cidr or "-",
             _age(max(0.0, now - v.last_seen)), v.model or "-") for v in views]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@nodes.command()
@click.argument("node")
@master_options
def approve(node: str, config_path: Path | None, state_dir: Path | None) -> None:
    """Approve NODE for provisioning (a name, MAC or address)."""
    view = client_for(config_path, state_dir).approve(node)
    click.echo(f"{view.name}: {view.state}")


@nodes.command()
@click.argument("node")
@master_options
def reprovision(node: str, config_path: Path | None, state_dir: Path | None) -> None:
    """Drain NODE, kubeadm reset, clean, re-run the plans and rejoin it."""
    from appliance.cli.progress import ProgressBoard

    board = ProgressBoard()
    client = client_for(config_path, state_dir, on_progress=board)
    (outcome,) = client.provision([node], "reprovision", False)
    board.close()
    if outcome.ok:
        click.echo(f"{outcome.node}: reprovisioned, {outcome.changed} changed (job {outcome.job_id})")
        return
    click.echo(f"{outcome.node}: {outcome.state} (job {outcome.job_id}): {outcome.error}")
    sys.exit(1)


@nodes.command()
@click.argument("node")
@master_options
def forget(node: str, config_path: Path | None, state_dir: Path | None) -> None:
    """Forget NODE: its name, address and pod CIDR become free (a Pi that returns is discovered anew)."""
    client_for(config_path, state_dir).forget(node)
    click.echo(f"{node}: forgotten")


@nodes.command("accept-key")
@click.argument("node")
@click.option("--fingerprint", metavar="SHA256:…",
              help="Pin only if the node presents this key (from its console: ssh-keygen -lf "
                   "/etc/ssh/ssh_host_ed25519_key.pub).")
@master_options
def accept_key(node: str, fingerprint: str | None, config_path: Path | None, state_dir: Path | None) -> None:
    """Trust the SSH host key NODE presents now (after re-imaging its card)."""
    from appliance.cli.master_client import DirectClient, config_default, state_dir_default

    # Pinning is a registry write and an SSH key exchange: done here, daemon or not.
    client = DirectClient(config_path or config_default(), state_dir or state_dir_default())
    pinned = client.accept_key(node, fingerprint)
    click.echo(f"{node}: host key {pinned} pinned")
