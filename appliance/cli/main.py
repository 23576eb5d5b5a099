"""Entry point of the `appliance` command.

Each command group is a module of its own; this file only assembles them and
turns every ApplianceError into one actionable line and an exit code
(2 bad input or config, 1 the operation failed). `--debug` shows tracebacks.
"""

from __future__ import annotations

import sys
import traceback

import click

from appliance import __version__
from appliance.errors import ApplianceError


class ApplianceGroup(click.Group):
    """A click group that reports ApplianceError as one line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ApplianceError as error:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)


@click.group(cls=ApplianceGroup)
@click.version_option(__version__, prog_name="appliance")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """The Pi cluster appliance: the four-Pi Kubernetes cluster of
    'Kubernetes: Up and Running', made one appliance."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register_groups() -> None:
    # Imported here so that a slow or heavy group never slows `--help` of another.
    from appliance.cli import agent_cmd, config_cmd, doctor_cmd, hardware_cmd

    cli.add_command(config_cmd.config)
    cli.add_command(hardware_cmd.hardware)
    cli.add_command(doctor_cmd.doctor)
    cli.add_command(agent_cmd.agent)

    from appliance.cli import lab_cmd

    cli.add_command(lab_cmd.lab_group, name="lab")

    from appliance.cli import netd_cmd

    cli.add_command(netd_cmd.netd)


_register_groups()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="appliance")


if __name__ == "__main__":
    main()
