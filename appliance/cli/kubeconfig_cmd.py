"""`appliance kubeconfig [--out FILE]`: the admin kubeconfig for a laptop on the home network."""

from __future__ import annotations

import os
from pathlib import Path

import click

from appliance.cli.master_options import client_for, master_options


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write it to FILE (mode 0600) instead of printing it.")
@master_options
def kubeconfig(out: Path | None, config_path: Path | None, state_dir: Path | None) -> None:
    """The cluster's admin kubeconfig, addressed so a laptop on the home network reaches it."""
    data = client_for(config_path, state_dir).kubeconfig()
    if out is None:
        click.echo(data.decode(), nl=False)
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(out, 0o600)
    click.echo(f"{out}: written (mode 0600); use it with: kubectl --kubeconfig {out} get nodes", err=True)
