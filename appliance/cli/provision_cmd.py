"""`appliance provision NODE... [--plan NAME] [--dry-run]`: run a provisioning plan over SSH."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from appliance.cli.master_options import client_for, master_options

PLANS = ("all", "prepare", "kubernetes", "init", "join", "reset", "reprovision")


@click.command()
@click.argument("nodes", nargs=-1, required=True)
@click.option("--plan", type=click.Choice(PLANS), default=None,
              help="What to run (default: everything needed to bring the node to joined).")
@click.option("--dry-run", is_flag=True, help="Print the commands each node would get; change nothing.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@master_options
def provision(nodes: tuple[str, ...], plan: str | None, dry_run: bool, output: str,
              config_path: Path | None, state_dir: Path | None) -> None:
    """Run a provisioning plan on NODEs over SSH, in parallel; prints "N changed" per node."""
    from appliance.cli.progress import ProgressBoard


    board = ProgressBoard() if output == "text" else None
    client = client_for(config_path, state_dir, on_progress=board)
    outcomes = client.provision(list(nodes), plan, dry_run)
    if board is not None:
        board.close()
    if output == "json":
        click.echo(json.dumps({"jobs": [asdict(outcome) | {"commands": list(outcome.commands)}
                                        for outcome in outcomes]}, indent=2))
    else:
        for outcome in outcomes:
            if outcome.dry_run:
                click.echo(f"{outcome.node}: would run ({outcome.plan}, job {outcome.job_id}):")
                for command in outcome.commands:
                    click.echo(f"  {command}")
            if outcome.ok:
                resumed = f", resumed job {outcome.resumed_from}" if outcome.resumed_from else ""
                click.echo(f"{outcome.node}: {outcome.changed} changed "
                           f"({outcome.plan}, {outcome.steps} steps, job {outcome.job_id}{resumed})")
            else:
                click.echo(f"{outcome.node}: {outcome.state} (job {outcome.job_id}): {outcome.error}")
    if not all(outcome.ok for outcome in outcomes):
        sys.exit(1)
