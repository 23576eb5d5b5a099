"""Bytes of cluster.yaml -> a YAML node tree that keeps line numbers, or problems.

PyYAML's composer gives nodes with marks (so every error can name its line),
but on its own it accepts duplicate keys, cyclic and exponential aliases and
undecodable input with errors that are not one line. This layer refuses all of
that up front, so the schema reader only ever walks a small, finite tree.
"""

from __future__ import annotations

import re

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from foundation.config.problems import Problem

MAX_BYTES = 1 << 20
"""cluster.yaml is a small hand-written file; anything bigger is a mistake."""
MAX_NODES = 10_000
"""Node visits allowed after aliases are followed; stops alias bombs and cycles."""
MAX_DEPTH = 32
"""Nesting allowed; cluster.yaml needs four levels."""

SYNTAX = "(yaml)"
"""Stands in the key-path slot of problems that are about the file, not a key."""

# Characters YAML does not allow in a stream (PyYAML's Reader would raise a
# multi-line error), plus the exotic line separators that make PyYAML count
# lines differently from an editor.
_BAD_CHARS = re.compile("[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_STANDARD = "tag:yaml.org,2002:"
# YAML's own types (what SafeLoader resolves); anything else (`!!python/...`,
# `!custom`) is refused even though we never construct it.
_ALLOWED_TAGS = frozenset({"str", "int", "float", "bool", "null", "timestamp", "merge", "value", "binary",
                           "map", "seq", "omap", "pairs", "set"})
_TAB_INDENT = re.compile(r"^[ ]*\t", re.MULTILINE)


def decode(data: bytes, source: str) -> tuple[str | None, list[Problem]]:
    """Decode UTF-8 (an optional BOM is fine) or explain where it is not."""
    if len(data) > MAX_BYTES:
        return None, [Problem(source, 1, SYNTAX, f"the file is larger than {MAX_BYTES // 1024} KiB",
                              "cluster.yaml is a short hand-written file; is this the right file?")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return None, [Problem(source, line, SYNTAX, f"byte 0x{data[error.start]:02x} is not UTF-8",
                              "save the file as UTF-8 text")]
    return text, []


def compose(text: str, source: str) -> tuple[MappingNode | None, list[Problem]]:
    """Parse text into the top-level mapping node; problems if it is not a safe, sane one."""
    bad = _BAD_CHARS.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        return None, [Problem(source, line, SYNTAX, f"character U+{ord(bad.group()):04X} is not allowed here",
                              "remove it; cluster.yaml is plain text")]
    tab = _TAB_INDENT.search(text)
    if tab:
        line = text.count("\n", 0, tab.start()) + 1
        return None, [Problem(source, line, SYNTAX, "a tab in the indentation",
                              "YAML indents with spaces only; replace the tab with spaces")]
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        what = error.problem or error.context or "not valid YAML"
        return None, [Problem(source, line, SYNTAX, f"not valid YAML: {what}",
                              "fix the syntax at this line (quote values that contain ': ' or '#')")]
    except yaml.YAMLError as error:
        return None, [Problem(source, 1, SYNTAX, f"not valid YAML: {str(error).splitlines()[0]}",
                              "fix the syntax")]
    except RecursionError:
        # PyYAML's composer recurses once per nesting level; thousands of
        # levels exhaust the stack. No real cluster.yaml comes near that.
        return None, [Problem(source, 1, SYNTAX, "nested far too deeply",
                              "cluster.yaml needs only a few levels; is this the right file?")]
    if root is None:
        return None, [Problem(source, 1, SYNTAX, "the file is empty",
                              "run `appliance config init` for a commented default file")]
    if not isinstance(root, MappingNode):
        return None, [Problem(source, root.start_mark.line + 1, "(top level)",
                              f"expected a mapping of sections, found {kind_of(root)}",
                              "start with section keys such as `cluster:` and `network:`")]
    problems = _check_tree(root, source)
    return (None, problems) if problems else (root, [])


def kind_of(node: Node) -> str:
    """How a node reads in an error message."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing (null)"
    return f"`{short(node.value)}`" if isinstance(node, ScalarNode) else "a value"


def short(text: str, limit: int = 40) -> str:
    """A value trimmed for an error line (never more than one line)."""
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str) -> str:
    """text with every line break and control character shown as `?`, so a message stays one line."""
    return "".join(char if char.isprintable() else "?" for char in text)


def _check_tree(root: MappingNode, source: str) -> list[Problem]:
    """Bound the tree (alias bombs, cycles, depth), and refuse duplicate and non-scalar keys."""
    problems: list[Problem] = []
    visits = 0
    stack: list[tuple[Node, str, int]] = [(root, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        visits += 1
        line = node.start_mark.line + 1
        if visits > MAX_NODES:
            return [Problem(source, line, SYNTAX, "the file expands to too many values "
                            "(aliases that repeat each other?)", "write the values out without `*aliases`")]
        if depth > MAX_DEPTH:
            return [Problem(source, line, SYNTAX, "nested too deeply",
                            "cluster.yaml needs only a few levels of nesting")]
        if node.tag.removeprefix(_STANDARD) not in _ALLOWED_TAGS:
            return [Problem(source, line, path or "(top level)", f"the YAML tag {short(node.tag)} is not allowed",
                            "remove the `!tag`; cluster.yaml holds plain values")]
        if isinstance(node, SequenceNode):
            stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(node.value))
        elif isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                key_line = key.start_mark.line + 1
                if not isinstance(key, ScalarNode):
                    problems.append(Problem(source, key_line, path or "(top level)",
                                            f"a key must be a plain name, found {kind_of(key)}",
                                            "write keys as `name: value`"))
                    continue
                key_path = f"{path}.{key.value}" if path else str(key.value)
                if key.value in seen:
                    problems.append(Problem(source, key_line, key_path,
                                            f"duplicate key, first given at line {seen[key.value]}",
                                            "keep only one of them"))
                    continue
                seen[key.value] = key_line
                stack.append((value, key_path, depth + 1))
    return problems
