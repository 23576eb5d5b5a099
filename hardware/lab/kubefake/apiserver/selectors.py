"""Label and field selectors (`?labelSelector=`, `?fieldSelector=`), as apimachinery parses them.

Supported: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)` for
labels; `path=v`, `path==v`, `path!=v` for fields (metadata.name,
metadata.namespace, spec.nodeName, status.phase, type, involvedObject.*, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import errors

Predicate = Callable[[dict[str, object]], bool]
"""A test on one object."""

_LABEL_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t for t in terms if t.strip()]


def labels_of(obj: dict[str, object]) -> dict[str, str]:
    """metadata.labels, as strings."""
    metadata = obj.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _label_test(key: str, op: str, value: str, options: set[str]) -> Predicate:
    def test(obj: dict[str, object]) -> bool:
        labels = labels_of(obj)
        if op in ("=", "=="):
            return labels.get(key) == value
        if op == "!=":
            return labels.get(key) != value
        if op == "in":
            return labels.get(key) in options
        if op == "notin":
            return labels.get(key) not in options
        if op == "!":
            return key not in labels
        return key in labels
    return test


def _field_test(path: str, op: str, value: str) -> Predicate:
    def test(obj: dict[str, object]) -> bool:
        return (field_value(obj, path) == value) != (op == "!=")
    return test


def label_selector(text: str) -> Predicate:
    """A predicate for a label selector; BadRequest when it does not parse."""
    tests: list[Predicate] = []
    for term in _split_terms(text):
        match = _LABEL_TERM.match(term)
        if not match or (match.group(1) and (match.group(3) or match.group(5))):
            raise errors.bad_request(f"unable to parse requirement: found '{term.strip()}', expected: identifier")
        negate, key, op, value, set_op, values = match.groups()
        options = {v.strip() for v in (values or "").split(",") if v.strip()}
        tests.append(_label_test(key, "!" if negate else op or set_op or "exists", value or "", options))
    return lambda obj: all(test(obj) for test in tests)


def field_value(obj: dict[str, object], path: str) -> str:
    """The string at a dotted path ("" when absent), as field selectors compare it."""
    value: object = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_selector(text: str) -> Predicate:
    """A predicate for a field selector; BadRequest when it does not parse."""
    tests: list[Predicate] = []
    for term in _split_terms(text):
        match = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not match:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        path, op, value = match.groups()
        tests.append(_field_test(path, op, value))
    return lambda obj: all(test(obj) for test in tests)
