"""Options every command that acts on the master shares: --config and --state-dir (CLI.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def master_options(command: F) -> F:
    """Add --config (default $APPLIANCE_CONFIG, else /etc/appliance/cluster.yaml) and --state-dir
    (default $APPLIANCE_STATE_DIR, else /var/lib/appliance)."""
    command = click.option("--state-dir", "state_dir", type=click.Path(file_okay=False, path_type=Path),
                           default=None, help="The master's state (registry, keys, admin.conf); "
                           "default $APPLIANCE_STATE_DIR, else /var/lib/appliance.")(command)
    command = click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                           default=None, help="cluster.yaml; default $APPLIANCE_CONFIG, "
                           "else /etc/appliance/cluster.yaml.")(command)
    return command


def client_for(config_path: Path | None, state_dir: Path | None, **kwargs: Any) -> Any:
    """connect() with the defaults filled in."""
    from appliance.cli.master_client import connect, state_dir_default

    return connect(config_path, state_dir or state_dir_default(), **kwargs)
