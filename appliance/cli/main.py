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
from foundation.errors import ApplianceError


class ApplianceGroup(click.Group):
    """A click group that reports ApplianceError as one line instead of a traceback."""

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

    from appliance.cli import kubeconfig_cmd, nodes_cmd, provision_cmd, tokens_cmd

    cli.add_command(provision_cmd.provision)
    cli.add_command(nodes_cmd.nodes)
    cli.add_command(tokens_cmd.tokens)
    cli.add_command(kubeconfig_cmd.kubeconfig)


_register_groups()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="appliance")


if __name__ == "__main__":
    main()
