"""`appliance tokens create|list|revoke`: Kubernetes bootstrap tokens (the API server is the authority)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import click

from appliance.cli.master_options import client_for, master_options
from foundation.errors import UsageError

_DURATION = re.compile(r"(\d{1,6}[smhd])+")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """`30m`, `2h`, `1h30m`, `1d` → seconds, from 1 minute to 24 hours (0, never expiring, is refused)."""
    value = text.strip()
    if not _DURATION.fullmatch(value):
        raise UsageError(f"--ttl {value[:20]!r} is not a duration; write e.g. 30m, 2h or 1d")
    total = sum(int(number) * _UNITS[unit] for number, unit in re.findall(r"(\d+)([smhd])", value))
    if not 60 <= total <= 86400:
        raise UsageError(f"--ttl {value} is outside 1m..24h; a token that lives longer is a standing "
                         "credential to join the cluster — mint a new one when needed")
    return total


@click.group()
def tokens() -> None:
    """Join tokens (Kubernetes bootstrap tokens)."""


@tokens.command()
@click.option("--ttl", default=None, help="How long it works, e.g. 30m, 2h (default kubernetes.token_ttl, 2h).")
@click.option("--description", default="made with appliance tokens create", show_default=True)
@master_options
def create(ttl: str | None, description: str, config_path: Path | None, state_dir: Path | None) -> None:
    """Mint a join token and print the full kubeadm join command (shown once)."""
    client = client_for(config_path, state_dir)
    seconds = parse_ttl(ttl) if ttl else client.config.kubernetes.token_ttl
    if len(description) > 200 or any(ord(c) < 32 for c in description):
        raise UsageError("--description is one line of at most 200 characters")
    _, command = client.create_token(ttl=seconds, description=description)
    click.echo(command)


@tokens.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@master_options
def list_cmd(output: str, config_path: Path | None, state_dir: Path | None) -> None:
    """List join tokens (never their secret half)."""
    found = client_for(config_path, state_dir).tokens()
    if output == "json":
        click.echo(json.dumps({"tokens": [{"id": t.id, "description": t.description, "expires": t.expires,
                                           "usages": list(t.usages)} for t in found]}, indent=2))
        return
    now = time.time()
    click.echo(f"{'ID':<8}{'EXPIRES IN':<12}{'USAGES':<24}DESCRIPTION")
    for t in found:
        left = "never" if t.expires is None else ("expired" if t.expires <= now else f"{(t.expires - now) / 60:.0f}m")
        click.echo(f"{t.id:<8}{left:<12}{','.join(t.usages):<24}{t.description}")


@tokens.command()
@click.argument("token_id")
@master_options
def revoke(token_id: str, config_path: Path | None, state_dir: Path | None) -> None:
    """Revoke the token TOKEN_ID (the 6 characters before the dot)."""
    client_for(config_path, state_dir).revoke_token(token_id)
    click.echo(f"token {token_id.split('.', 1)[0]} revoked")
