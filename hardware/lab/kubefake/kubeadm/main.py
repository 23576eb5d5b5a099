"""The `kubeadm` command line (simulated by the appliance lab): init, join, token, reset, version.

Flags are kubeadm's (cobra style: `--flag value` or `--flag=value`); errors
are printed as kubeadm prints them, with its exit codes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from ..release import SIMULATED, current
from . import token as token_cmd
from .config import JoinConfig, NodeRegistration
from .errors import EXIT_VALIDATION, KubeadmError
from .init import InitOptions, new_token_text, run_init
from .join import JoinOptions, run_join
from .reset import run_reset

INIT_CONFIG_FLAGS = ("node-name", "apiserver-advertise-address", "apiserver-bind-port", "pod-network-cidr",
                     "service-cidr", "service-dns-domain", "apiserver-cert-extra-sans", "kubernetes-version",
                     "control-plane-endpoint", "cri-socket", "token", "token-ttl")
"""init flags that change the configuration."""


class Parser(argparse.ArgumentParser):
    """argparse that fails like cobra: one error line, exit code 1."""

    def error(self, message: str) -> NoReturn:
        raise KubeadmError(message.replace("unrecognized arguments:", "unknown flag:"))


def _list(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


def build_parser() -> Parser:
    """kubeadm's commands and flags."""
    parser = Parser(prog="kubeadm", add_help=True, allow_abbrev=False)
    parser.add_argument("--v", "-v", default="0")
    commands = parser.add_subparsers(dest="command", parser_class=Parser)
    init = commands.add_parser("init", allow_abbrev=False)
    init.add_argument("--config", type=Path)
    for name in INIT_CONFIG_FLAGS:
        init.add_argument(f"--{name}")
    init.add_argument("--ignore-preflight-errors", type=_list, default=[])
    init.add_argument("--skip-token-print", action="store_true")
    init.add_argument("--upload-certs", action="store_true")
    init.add_argument("--v", "-v", default="0")
    join = commands.add_parser("join", allow_abbrev=False)
    join.add_argument("endpoint", nargs="?", default="")
    join.add_argument("--config", type=Path)
    join.add_argument("--token", default="")
    join.add_argument("--discovery-token", default="")
    join.add_argument("--tls-bootstrap-token", default="")
    join.add_argument("--discovery-token-ca-cert-hash", action="append", default=[])
    join.add_argument("--discovery-token-unsafe-skip-ca-verification", action="store_true")
    join.add_argument("--node-name", default="")
    join.add_argument("--cri-socket", default="")
    join.add_argument("--ignore-preflight-errors", type=_list, default=[])
    join.add_argument("--control-plane", action="store_true")
    join.add_argument("--v", "-v", default="0")
    token = commands.add_parser("token", allow_abbrev=False)
    token.add_argument("--kubeconfig", type=Path, default=Path("/etc/kubernetes/admin.conf"))
    token.add_argument("--dry-run", action="store_true")
    token_commands = token.add_subparsers(dest="token_command", parser_class=Parser)
    create = token_commands.add_parser("create", allow_abbrev=False)
    create.add_argument("token", nargs="?")
    create.add_argument("--ttl", default="24h0m0s")
    create.add_argument("--description", default="")
    create.add_argument("--usages", type=_list, default=["signing", "authentication"])
    create.add_argument("--groups", type=_list, default=["system:bootstrappers:kubeadm:default-node-token"])
    create.add_argument("--print-join-command", action="store_true")
    create.add_argument("--config", type=Path)
    create.add_argument("--kubeconfig", type=Path, dest="sub_kubeconfig")
    listing = token_commands.add_parser("list", allow_abbrev=False)
    listing.add_argument("-o", "--output", "--experimental-output", default="text")
    listing.add_argument("--kubeconfig", type=Path, dest="sub_kubeconfig")
    delete = token_commands.add_parser("delete", allow_abbrev=False)
    delete.add_argument("values", nargs="*")
    delete.add_argument("--kubeconfig", type=Path, dest="sub_kubeconfig")
    token_commands.add_parser("generate", allow_abbrev=False)
    reset = commands.add_parser("reset", allow_abbrev=False)
    reset.add_argument("-f", "--force", action="store_true")
    reset.add_argument("--cri-socket", default="")
    reset.add_argument("--ignore-preflight-errors", type=_list, default=[])
    reset.add_argument("--v", "-v", default="0")
    version = commands.add_parser("version", allow_abbrev=False)
    version.add_argument("-o", "--output", default="")
    return parser


def version_text(output: str) -> str:
    """`kubeadm version` in its three shapes."""
    info = current().info()
    if output == "short":
        return info["gitVersion"] + "\n"
    if output == "json":
        return json.dumps({"clientVersion": info}, indent=2) + "\n"
    if output == "yaml":
        import yaml
        return yaml.safe_dump({"clientVersion": info}, sort_keys=False)
    if output:
        raise KubeadmError(f'invalid output format: {output}')
    fields = ", ".join(f'{k[0].upper()}{k[1:]}:"{v}"' for k, v in info.items())
    return f"kubeadm version: &version.Info{{{fields}}} ({SIMULATED})\n"


def dispatch(args: argparse.Namespace) -> int:
    """Run the chosen command."""
    if args.command == "init":
        flags = {n: getattr(args, n.replace("-", "_")) for n in INIT_CONFIG_FLAGS
                 if getattr(args, n.replace("-", "_")) is not None}
        return run_init(InitOptions(args.config, flags, args.ignore_preflight_errors, args.skip_token_print))
    if args.command == "join":
        if args.control_plane:
            raise KubeadmError("joining control-plane nodes is not simulated by the appliance lab", EXIT_VALIDATION)
        given = [n for n, v in (("token", args.token), ("discovery-token", args.discovery_token),
                                ("discovery-token-ca-cert-hash", args.discovery_token_ca_cert_hash),
                                ("node-name", args.node_name)) if v]
        node = NodeRegistration(name=args.node_name)
        if args.cri_socket:
            node.cri_socket = args.cri_socket
        join = JoinConfig(node=node, api_server_endpoint=args.endpoint,
                          token=args.discovery_token or args.token, tls_bootstrap_token=args.tls_bootstrap_token or args.token,
                          ca_cert_hashes=list(args.discovery_token_ca_cert_hash),
                          unsafe_skip_ca_verification=args.discovery_token_unsafe_skip_ca_verification)
        return run_join(JoinOptions(args.endpoint, args.config, join, given, args.ignore_preflight_errors))
    if args.command == "token":
        kubeconfig = getattr(args, "sub_kubeconfig", None) or args.kubeconfig
        options = token_cmd.TokenOptions(kubeconfig=kubeconfig)
        if args.token_command == "create":
            options.ttl, options.description = args.ttl, args.description
            options.usages, options.groups = args.usages, args.groups
            options.print_join_command = args.print_join_command
            print(token_cmd.create(options, args.token), end="")
        elif args.token_command == "list":
            options.output = args.output
            out, err = token_cmd.list_tokens(options)
            print(out, end="")
            print(err, end="", file=sys.stderr)
        elif args.token_command == "delete":
            print(token_cmd.delete(options, args.values), end="")
        elif args.token_command == "generate":
            print(new_token_text())
        else:
            raise KubeadmError("missing subcommand; \"token\" is not meant to be run on its own")
        return 0
    if args.command == "reset":
        answer = None if args.force else sys.stdin.readline()
        return run_reset(args.force, answer)
    if args.command == "version":
        print(version_text(args.output), end="")
        return 0
    build_parser().print_help()
    return 0


def main(argv: list[str] | None = None) -> int:
    """kubeadm's entry point: exit code as kubeadm's."""
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
        return dispatch(args)
    except KubeadmError as error:
        sys.stdout.flush()
        print(error.render(), end="", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
