"""`kubeadm token create|list|delete|generate` against the API server with admin.conf."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import kubeconfig, pubkeypin, tokens
from ..client import ApiStatusError, Client
from .cluster import create_token, token_from_options
from .common import now
from .errors import KubeadmError
from .joincmd import join_command, one_line


@dataclass
class TokenOptions:
    """Flags of the token commands."""

    kubeconfig: Path = Path("/etc/kubernetes/admin.conf")
    """--kubeconfig."""
    ttl: str = "24h0m0s"
    """--ttl."""
    description: str = ""
    """--description."""
    usages: list[str] = field(default_factory=lambda: list(tokens.DEFAULT_USAGES))
    """--usages."""
    groups: list[str] = field(default_factory=lambda: list(tokens.DEFAULT_GROUPS))
    """--groups."""
    print_join_command: bool = False
    """--print-join-command."""
    output: str = "text"
    """-o for list."""


def _client(options: TokenOptions) -> tuple[Client, kubeconfig.Kubeconfig]:
    try:
        config = kubeconfig.load(options.kubeconfig)
    except OSError as error:
        raise KubeadmError(f"failed to load admin kubeconfig: open {options.kubeconfig}: "
                           f"{(error.strerror or '').lower()}") from None
    return Client.from_kubeconfig(config, timeout=10), config


def create(options: TokenOptions, given: str | None) -> str:
    """Create a token; its text (or the join command)."""
    try:
        token = token_from_options({"token": given, "ttl": options.ttl, "description": options.description,
                                    "usages": options.usages, "groups": options.groups}, now())
    except ValueError as error:
        raise KubeadmError(str(error)) from None
    client, config = _client(options)
    try:
        create_token(client, token)
    except (ApiStatusError, OSError) as error:
        raise KubeadmError(f"failed to create or update bootstrap token with name "
                           f"{tokens.SECRET_PREFIX}{token.token.id}: {error}") from None
    if not options.print_join_command:
        return f"{token.token}\n"
    pins = [pubkeypin.hash_of(c) for c in pubkeypin.load_certificates(config.ca_pem)]
    return one_line(join_command(config.server.removeprefix("https://"), str(token.token), pins)) + "\n"


def list_tokens(options: TokenOptions) -> tuple[str, str]:
    """(stdout, stderr) of `token list`."""
    client, _ = _client(options)
    try:
        secrets = client.get("/api/v1/namespaces/kube-system/secrets?fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken")
    except (ApiStatusError, OSError) as error:
        raise KubeadmError(f"failed to list bootstrap tokens: {error}") from None
    found, errors = [], []
    for secret in secrets.get("items") or []:  # type: ignore[union-attr]
        try:
            found.append(tokens.from_secret(secret))
        except tokens.TokenError as error:
            errors.append(str(error))
    if options.output == "json":
        return tokens.list_json(found), "".join(errors)
    if options.output == "yaml":
        import yaml
        return "".join(yaml.safe_dump(tokens.output_object(t), sort_keys=False) for t in found), "".join(errors)
    if options.output != "text":
        raise KubeadmError(f'unable to match a printer suitable for the output format "{options.output}", '
                           "allowed formats are: json,jsonpath,jsonpath-as-json,jsonpath-file,text,yaml")
    return tokens.list_text(found, now()), "".join(errors)


def delete(options: TokenOptions, values: list[str]) -> str:
    """Delete tokens by id or full token."""
    if not values:
        raise KubeadmError(f"missing argument; 'token delete' is missing token of form "
                           f"{tokens.go_quote(tokens.TOKEN_ID_PATTERN)} or {tokens.go_quote(tokens.TOKEN_PATTERN)}")
    client, _ = _client(options)
    out = []
    for value in values:
        token_id = value
        if not tokens.is_token_id(value):
            try:
                token_id = tokens.parse_token(value).id
            except tokens.TokenError:
                raise KubeadmError(f"given token didn't match pattern {tokens.go_quote(tokens.TOKEN_ID_PATTERN)} "
                                   f"or {tokens.go_quote(tokens.TOKEN_PATTERN)}") from None
        try:
            client.delete(f"/api/v1/namespaces/kube-system/secrets/{tokens.SECRET_PREFIX}{token_id}")
        except (ApiStatusError, OSError) as error:
            raise KubeadmError(f"failed to delete bootstrap token {tokens.go_quote(token_id)}: {error}") from None
        out.append(f"bootstrap token {tokens.go_quote(token_id)} deleted\n")
    return "".join(out)
