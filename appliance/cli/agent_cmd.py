"""`appliance agent run --master URL --state-dir DIR`: the node agent in the foreground.

A thin wrapper: the agent's one front-end is `python3 -m netd.agent` (what a node runs from
its payload, where there is no click); this command hands it its arguments untouched, so
both parse, check and run the agent the same way, and `--help` is the agent's own.
"""

from __future__ import annotations

import click

USAGE = "--master URL --state-dir DIR [--cni-dir DIR] [--max-backoff SECONDS]"


@click.group()
def agent() -> None:
    """The node agent (routes, CNI config, liveness) that runs on every node."""


@agent.command("run", add_help_option=False, context_settings={"ignore_unknown_options": True})
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED, metavar=USAGE)
@click.pass_context
def run_cmd(ctx: click.Context, arguments: tuple[str, ...]) -> None:
    """Report to the master, program this node's pod routes and write its CNI config."""
    # The agent itself (pyroute2, threads) is imported only when it runs, so `appliance --help` stays quick.
    from netd.agent.__main__ import main

    ctx.exit(main(list(arguments), prog="appliance agent run"))
