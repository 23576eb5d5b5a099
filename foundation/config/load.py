"""Load and validate cluster.yaml.

    config = load_config("cluster.yaml")        # -> foundation.config.model.Config

Every mistake becomes one line `FILE:LINE: key.path: what is wrong — how to
fix it`, with the line taken from the YAML itself; all of a file's problems
are raised together, in file order, as one ConfigInvalid (a ConfigError).
The stages, each in its own module:

1. `config_yaml`: bytes -> a bounded node tree (encoding, tabs, syntax,
   duplicate keys, alias bombs, non-mapping top level, empty file);
2. `config_secrets.plain_secrets`: no plain secret anywhere in the tree;
3. `config_schema`: known keys only, each value parsed by `config_values` /
   `config_secrets` into the dataclasses of `config_model`;
4. `config_rules`: rules that relate keys (subnet, ranges, CIDRs, nodes).
"""

from __future__ import annotations

import os
from dataclasses import replace
from importlib import resources
from pathlib import Path

from foundation.config.model import Config
from foundation.config.problems import ConfigInvalid, Problem
from foundation.config.rules import Context, check
from foundation.config.schema import Reader, build_schema
from foundation.config.secrets import plain_secrets
from foundation.config.yaml_tree import MAX_BYTES, compose, decode

__all__ = ["ConfigInvalid", "Problem", "default_config_text", "load_config", "parse_config"]


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a cluster.yaml file; raises ConfigInvalid naming every problem."""
    name = os.fspath(path)
    fix_missing = f"write one with `appliance config init --out {name}`"
    try:
        if Path(name).is_dir():
            raise ConfigInvalid([Problem(name, None, "(file)", "is a directory", "give the path of cluster.yaml")])
        with open(name, "rb") as file:
            data = file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigInvalid([Problem(name, None, "(file)", "no such file", fix_missing)]) from None
    except OSError as error:
        raise ConfigInvalid([Problem(name, None, "(file)", f"cannot be read ({error.strerror})",
                                     "check the path and its permissions")]) from None
    return parse_bytes(data, name, base_dir=Path(name).absolute().parent)


def parse_config(text: str, source: str = "<string>", base_dir: Path | None = None) -> Config:
    """Validate cluster.yaml given as text; relative paths in it are resolved against base_dir (default: cwd)."""
    return _parse_text(text, source, base_dir or Path.cwd())


def parse_bytes(data: bytes, source: str = "<bytes>", base_dir: Path | None = None) -> Config:
    """Validate cluster.yaml given as raw bytes (decoding problems are reported like any other)."""
    text, problems = decode(data, source)
    if text is None:
        raise ConfigInvalid(problems)
    return _parse_text(text, source, base_dir or Path.cwd())


def _parse_text(text: str, source: str, base_dir: Path) -> Config:
    root, problems = compose(text, source)
    if root is None:
        raise ConfigInvalid(problems)
    problems = plain_secrets(root, source)
    reader = Reader(source)
    config = reader.section(root, "", build_schema(base_dir))
    problems += reader.problems
    lines = tuple(sorted(reader.lines.items(), key=lambda item: item[1]))
    config = replace(_derive_defaults(config, reader.lines), source=source, key_lines=lines)
    problems += check(Context(config, source, reader.lines, reader.bad))
    if problems:
        raise ConfigInvalid(problems)
    return config


def _derive_defaults(config: Config, given: dict[str, int]) -> Config:
    """Defaults that follow other keys: the web page listens on the master's address, and the
    API server certificate names `kubernetes.<domain>`, unless the file says otherwise."""
    web, kubernetes = config.web, config.kubernetes
    if "web.listen" not in given:
        web = replace(web, listen=(f"{config.network.master_address}:8080", "uplink:8080"))
    if "kubernetes.api_server_sans" not in given:
        kubernetes = replace(kubernetes, api_server_sans=(f"kubernetes.{config.cluster.domain}",))
    return replace(config, web=web, kubernetes=kubernetes)


def default_config_text() -> str:
    """The commented default cluster.yaml that `appliance config init` writes."""
    return resources.files("foundation.config").joinpath("cluster.yaml").read_text(encoding="utf-8")
