"""Entry point of the `appliance` command.

Each command group is a module of its own; this file only assembles them and
turns every ApplianceError into one actionable line and an exit code
(2 bad input or config, 1 the operation failed). `--debug` shows tracebacks.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from appliance import __version__
from foundation.errors import ApplianceError


class ApplianceGroup(click.Group):
    """A click group that reports ApplianceError as one line instead of a traceback, and imports
    each command's module only when it is asked for (click's documented lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, name=cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ApplianceError as error:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            # A config with several problems says one line per problem; each stays one line.
            for line in str(error).splitlines() or [type(error).__name__]:
                click.echo(f"error: {line}", err=True)
            sys.exit(error.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own usage errors and exits: click prints them
        except Exception as error:  # a bug: still one line unless --debug asks for more
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: internal error ({type(error).__name__}: {error}); "
                       "rerun with --debug for the traceback and report it", err=True)
            sys.exit(1)


@click.group(cls=ApplianceGroup)
@click.version_option(__version__, prog_name="appliance")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """The Pi cluster appliance: the four-Pi Kubernetes cluster of
    'Kubernetes: Up and Running', made one appliance."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


COMMANDS = {
    "config": ("appliance.cli.config_cmd", "config"),
    "hardware": ("appliance.cli.hardware_cmd", "hardware"),
    "doctor": ("appliance.cli.doctor_cmd", "doctor"),
    "agent": ("appliance.cli.agent_cmd", "agent"),
    "lab": ("appliance.cli.lab_cmd", "lab_group"),
    "netd": ("appliance.cli.netd_cmd", "netd"),
    "image": ("appliance.cli.image_cmd", "image"),
    "flash": ("appliance.cli.flash_cmd", "flash"),
    "master": ("appliance.cli.master_cmd", "master"),
    "provision": ("appliance.cli.provision_cmd", "provision"),
    "nodes": ("appliance.cli.nodes_cmd", "nodes"),
    "tokens": ("appliance.cli.tokens_cmd", "tokens"),
    "kubeconfig": ("appliance.cli.kubeconfig_cmd", "kubeconfig"),
}
"""Command name -> (module, attribute). A command's module is imported only when that command
runs (or --help lists them all), so `appliance provision` never pays for the lab's imports."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="appliance")


if __name__ == "__main__":
    main()
