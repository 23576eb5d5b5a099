"""`appliance config init|check`: write the default cluster.yaml, and validate one."""

from __future__ import annotations

import sys

import click

from foundation.config import ConfigInvalid, default_config_text, load_config
from foundation.errors import UsageError


@click.group()
def config() -> None:
    """Write and validate cluster.yaml."""


@config.command()
@click.option("--out", "out", metavar="FILE", help="Write here instead of to standard output.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def init(out: str | None, force: bool) -> None:
    """Write the default, commented cluster.yaml (the book's network)."""
    text = default_config_text()
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        # "x" refuses an existing file atomically; --force replaces it.
        with open(out, "w" if force else "x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        raise UsageError(f"{out}: already exists — pass --force to overwrite it") from None
    except OSError as error:
        raise UsageError(f"{out}: cannot write ({error.strerror}) — choose another path") from None
    click.echo(f"wrote {out}; edit it, then run `appliance config check {out}`")


@config.command()
@click.argument("file", metavar="FILE")
def check(file: str) -> None:
    """Validate FILE: prints "FILE: ok" and exits 0, or one line per problem and exits 2."""
    try:
        load_config(file)
    except ConfigInvalid as invalid:
        for problem in invalid.problems:
            click.echo(str(problem), err=True)
        sys.exit(invalid.exit_code)
    click.echo(f"{file}: ok")
