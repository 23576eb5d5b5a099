"""Helpers shared by the config tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from foundation.config import ConfigInvalid, Problem, parse_config


def doc(text: str) -> str:
    """A YAML snippet written indented in a test, with line 1 being its first line."""
    return textwrap.dedent(text).lstrip("\n")


def problems_of(text: str, base_dir: Path | None = None) -> list[Problem]:
    """The problems parse_config finds in text (empty when it is valid)."""
    try:
        parse_config(text, "cluster.yaml", base_dir)
    except ConfigInvalid as invalid:
        return list(invalid.problems)
    return []
