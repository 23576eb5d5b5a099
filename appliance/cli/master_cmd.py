"""`appliance master run --config FILE --state-dir DIR`: the whole master in the foreground."""

from __future__ import annotations

import os
from pathlib import Path

import click

# The daemon (sockets, nftables, Flask) is imported only when it runs, so `--help` stays quick.


def _default_config() -> Path:
    return Path(os.environ.get("APPLIANCE_CONFIG", "/etc/appliance/cluster.yaml"))


def _default_state_dir() -> Path:
    return Path(os.environ.get("APPLIANCE_STATE_DIR", "/var/lib/appliance"))


@click.group()
def master() -> None:
    """The master daemon: network services, provisioning and the web page."""


@master.command("run")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=_default_config,
              show_default="$APPLIANCE_CONFIG or /etc/appliance/cluster.yaml", help="cluster.yaml to serve.")
@click.option("--state-dir", "state_dir", type=click.Path(file_okay=False, path_type=Path),
              default=_default_state_dir, show_default="$APPLIANCE_STATE_DIR or /var/lib/appliance",
              help="Durable state: the registry, leases, keys.")
@click.option("--simulated-kubernetes", is_flag=True,
              help="Say on the page that Kubernetes is simulated (the lab sets this).")
@click.option("--only", "only", default=None, metavar="dhcp,dns,nat,routes,api",
              help="Run only these netd services (default: all in this build).")
@click.option("--verbose", is_flag=True, help="Log every step (DEBUG).")
def run_cmd(config_path: Path, state_dir: Path, simulated_kubernetes: bool, only: str | None,
            verbose: bool) -> None:
    """netd, the provisioner, the agent API and the web page in one process, until SIGTERM.

    Logs one JSON object per line on stderr; under systemd (Type=notify) it sends READY=1 once
    serving and WATCHDOG=1 while its loop runs.
    """
    from appliance.master import logs
    from appliance.master.daemon import run
    from netd.daemon import parse_only

    parse_only(only)  # a bad --only fails before anything is loaded or bound
    logs.install(verbose)
    run(config_path, state_dir, simulated_kubernetes=simulated_kubernetes, only=only)


@master.command("unit")
def unit_cmd() -> None:
    """Print the systemd unit the master image installs (appliance-master.service)."""
    from importlib.resources import files

    click.echo(files("appliance.master").joinpath("systemd/appliance-master.service").read_text(), nl=False)
