"""`appliance agent run --master URL --state-dir DIR`: the node agent in the foreground."""

from __future__ import annotations

import logging
from pathlib import Path

import click

# The agent itself (pyroute2, threads) is imported only when it runs, so `appliance --help` stays quick.
CNI_CONF_DIR = "/etc/cni/net.d"


@click.group()
def agent() -> None:
    """The node agent (routes, CNI config, liveness) that runs on every node."""


@agent.command("run")
@click.option("--master", "master", required=True, metavar="URL", help="The master's agent API, http://10.0.0.1:8081.")
@click.option(
    "--state-dir",
    "state_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Holds the credential file (mode 0600) and the last config.",
)
@click.option(
    "--cni-dir",
    "cni_dir",
    default=CNI_CONF_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where 10-appliance.conflist is written.",
)
@click.option("--max-backoff", default=60.0, show_default=True, help="Longest retry delay in seconds.")
def run_cmd(master: str, state_dir: Path, cni_dir: Path, max_backoff: float) -> None:
    """Report to the master, program this node's pod routes and write its CNI config."""
    from netd.agent.__main__ import run
    from netd.agent.client import check_master_url
    from netd.agent.runner import AgentOptions

    logging.basicConfig(level=logging.INFO, format="%(asctime)s agent %(levelname)s %(message)s")
    run(
        AgentOptions(
            master_url=check_master_url(master),
            state_dir=state_dir,
            cni_dir=cni_dir,
            min_backoff=min(1.0, max_backoff),
            max_backoff=max_backoff,
        )
    )
