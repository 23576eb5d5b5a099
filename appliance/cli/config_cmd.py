"""`appliance config init|check` (filled in by the config work)."""

from __future__ import annotations

import click


@click.group()
def config() -> None:
    """Write and validate cluster.yaml."""
