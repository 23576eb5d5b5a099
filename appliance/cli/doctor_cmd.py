"""`appliance doctor`: preflight checks of this machine as a cluster node."""

from __future__ import annotations

import json

import click

from hardware.doctor import exit_code, render_table, run_doctor, to_json


@click.command()
@click.option("--role", type=click.Choice(["master", "worker"]), default="worker", show_default=True,
              help="The role this node will have (the master needs more RAM).")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def doctor(ctx: click.Context, role: str, output: str) -> None:
    """Check this machine can run a cluster node; exit 1 if any check fails."""
    checks = run_doctor(role)
    if output == "json":
        click.echo(json.dumps(to_json(checks), indent=2))
    else:
        click.echo(render_table(checks))
    ctx.exit(exit_code(checks))
