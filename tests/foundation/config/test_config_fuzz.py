"""Fuzzing: whatever the input, only ConfigInvalid escapes, and each problem is one sane line."""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation.config import ConfigInvalid, default_config_text, parse_bytes, parse_config
from foundation.config.model import Config
from foundation.config.schema import Entries, Section, build_schema

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEFAULT_LINES = default_config_text().splitlines()


def check_outcome(parse, line_count: int) -> Config | None:  # type: ignore[no-untyped-def]
    """Run parse; it returns a Config or raises ConfigInvalid with well-formed problems."""
    try:
        return parse()
    except ConfigInvalid as invalid:
        assert invalid.problems
        for problem in invalid.problems:
            line = str(problem)
            assert "\n" not in line and "\r" not in line
            assert problem.line is None or 1 <= problem.line <= line_count + 1, line
            assert " — " in line
        return None


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(data: bytes) -> None:
    check_outcome(lambda: parse_bytes(data, "f.yaml"), data.count(b"\n") + 1)


@FUZZ
@given(st.text(max_size=3000))
def test_random_text(text: str) -> None:
    check_outcome(lambda: parse_config(text, "f.yaml"), text.count("\n") + 1)


TOKENS = ["&a ", "*a", "[", "]", "{", "}", "- ", ": ", ":", "\t", "'", '"', "~", "null", "0", "-1", "1e999",
          "10.0.0.0/8", "10.0.0.1", "!!python/object:os.system", "!!binary", "<<: *a", "? x", "%YAML 1.1",
          "---", "...", "#", "|", ">", "  ", "\\u2028", "yes", "no", "2h", "0x10", "1:30", "node-{n}", "\x00",
          "\ufeff", "\r", "password: x", "$6$x$y", "auto", "ssh-ed25519 AAAA", "uplink:8080"]
payload = st.lists(st.sampled_from(TOKENS) | st.text(max_size=8), max_size=6).map("".join)


@dataclass(frozen=True)
class Mutation:
    op: str
    index: int
    payload: str


mutations = st.lists(st.builds(Mutation, st.sampled_from(["delete", "duplicate", "replace", "insert", "value",
                                                          "indent", "dedent", "swap"]),
                               st.integers(0, len(DEFAULT_LINES) - 1), payload), min_size=1, max_size=4)


def mutate(lines: list[str], mutation: Mutation) -> list[str]:
    lines = list(lines)
    i = mutation.index % max(1, len(lines))
    if not lines:
        return [mutation.payload]
    match mutation.op:
        case "delete":
            del lines[i]
        case "duplicate":
            lines.insert(i, lines[i])
        case "replace":
            lines[i] = mutation.payload
        case "insert":
            lines.insert(i, mutation.payload)
        case "value":
            key, colon, _ = lines[i].partition(":")
            lines[i] = f"{key}: {mutation.payload}" if colon else lines[i] + mutation.payload
        case "indent":
            lines[i] = "  " + lines[i]
        case "dedent":
            lines[i] = lines[i].removeprefix("  ")
        case "swap":
            j = (i + len(mutation.payload) + 1) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
    return lines


@FUZZ
@given(mutations)
def test_mutations_of_the_default_file(changes: list[Mutation]) -> None:
    lines = DEFAULT_LINES
    for change in changes:
        lines = mutate(lines, change)
    text = "\n".join(lines) + "\n"
    check_outcome(lambda: parse_config(text, "cluster.yaml"), text.count("\n") + 1)


def _known_paths(section: Section) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for name, key in section.keys.items():
        if isinstance(key, Section):
            keys[name] = list(key.keys)
        elif isinstance(key, Entries):
            keys[name] = list(key.entry.keys)
    return keys


SECTIONS = _known_paths(build_schema(__import__("pathlib").Path(".")))
scalars = (st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
           | st.text(max_size=20) | st.sampled_from(TOKENS))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, object]:
    """Well-formed YAML with the real keys and values of any type: exercises every parser."""
    doc: dict[str, object] = {}
    for section, keys in SECTIONS.items():
        if draw(st.booleans()):
            body = {key: draw(values) for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True))}
            doc[section] = [body] if section == "nodes" else body
    return doc


@FUZZ
@given(documents())
def test_known_keys_with_values_of_any_type(document: dict[str, object]) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    check_outcome(lambda: parse_config(text, "cluster.yaml"), text.count("\n") + 1)
