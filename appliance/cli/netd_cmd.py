"""`appliance netd run --config FILE --state-dir DIR [--only dhcp,dns,nat,routes]`."""

from __future__ import annotations

import logging
from pathlib import Path

import click

# netd itself (sockets, pyroute2, nftables) is imported only when it runs, so `--help` stays quick.


@click.group()
def netd() -> None:
    """The master's network services: DHCP, DNS, NAT and pod routes."""


@netd.command("run")
@click.option("--config", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="cluster.yaml to serve.")
@click.option("--state-dir", "state_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Durable state (the DHCP lease journal lives in DIR/dhcp).")
@click.option("--only", "only", default=None, metavar="dhcp,dns,nat,routes",
              help="Run only these services (default: all in this build).")
@click.option("--verbose", is_flag=True, help="Log every step (DEBUG).")
def run_cmd(config_path: Path, state_dir: Path, only: str | None, verbose: bool) -> None:
    """Run the master's network services in the foreground until SIGTERM or Ctrl-C."""
    from netd.daemon import parse_only, run

    parse_only(only)  # a bad --only fails before anything is loaded or bound
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s netd %(name)s %(levelname)s %(message)s")
    run(config_path, state_dir, only)
