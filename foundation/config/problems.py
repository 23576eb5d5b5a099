"""One problem in cluster.yaml, and the error that carries them."""

from __future__ import annotations

from dataclasses import dataclass

from yaml.nodes import Node

from foundation.errors import ConfigError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file, rendered as one actionable line."""

    source: str
    """The file (or `<string>`) the config came from."""
    line: int | None
    """1-based line in that file; None when the file itself cannot be read."""
    path: str
    """Key path such as `network.dhcp_range` or `nodes[1].mac`; `(yaml)` for syntax."""
    what: str
    """What is wrong; never echoes a secret."""
    fix: str
    """How to fix it."""

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        line = f"{where}: {self.path}: {self.what} — {self.fix}"
        # Key names and file names come from the user: keep the message one line.
        return "".join(char if char.isprintable() else "?" for char in line)


class ConfigInvalid(ConfigError):
    """cluster.yaml has problems; the message is one line per problem, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        ordered = sorted(problems, key=lambda p: (p.line or 0, p.path))
        self.problems: tuple[Problem, ...] = tuple(ordered)
        super().__init__("\n".join(str(problem) for problem in ordered))


class Invalid(Exception):
    """Raised by a value parser: what is wrong with one value and how to fix it."""

    def __init__(self, what: str, fix: str, node: Node | None = None, index: int | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix
        self.node = node
        """The node at fault when it is a list entry (else the key's value node is meant)."""
        self.index = index
        """The list index of that entry."""
