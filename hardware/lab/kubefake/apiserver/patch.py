"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch.

The strategic merge patch is the merge patch plus what kubectl's patches for
nodes and pods rely on: lists with a merge key (conditions by `type`,
addresses by `type`, taints by `key`+`effect`, containers by `name`) are
merged item by item, `$patch: delete` removes an item, and the
`$setElementOrder/...` and `$retainKeys` directives are honoured loosely
(order is taken from the patch). Other lists are replaced, as with a merge patch.
"""

from __future__ import annotations

import copy
from typing import Any

from . import errors

MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "conditions": ("type",), "addresses": ("type",), "taints": ("key", "effect"),
    "containers": ("name",), "initContainers": ("name",), "ownerReferences": ("uid",),
    "volumes": ("name",), "env": ("name",), "ports": ("containerPort",), "tolerations": ("key",),
}
"""patchMergeKey of the lists the fake's objects carry."""

MEDIA_TYPES = ["application/json-patch+json", "application/merge-patch+json",
               "application/apply-patch+yaml", "application/strategic-merge-patch+json"]
"""What the real server lists as accepted PATCH media types."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _item_key(item: Any, keys: tuple[str, ...]) -> tuple[Any, ...] | None:
    if not isinstance(item, dict):
        return None
    return tuple(item.get(k) for k in keys)


def _strategic_list(target: Any, patch: list[Any], keys: tuple[str, ...]) -> list[Any]:
    result = [copy.deepcopy(i) for i in target] if isinstance(target, list) else []
    for item in patch:
        wanted = _item_key(item, keys)
        index = next((i for i, old in enumerate(result) if wanted is not None and _item_key(old, keys) == wanted), None)
        if isinstance(item, dict) and item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(strategic_merge_patch({}, item))
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge for the lists in MERGE_KEYS, merge patch elsewhere."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    if patch.get("$patch") == "replace":
        result = {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS:
            result[key] = _strategic_list(result.get(key), value, MERGE_KEYS[key])
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise errors.bad_request(f"json patch path {path!r} does not start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise errors.bad_request(f"json patch: path /{'/'.join(parts)} does not exist")
    return node


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 add/remove/replace/test/copy/move; a bad operation is a BadRequest."""
    if not isinstance(operations, list):
        raise errors.bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
            raise errors.bad_request("json patch operation needs string 'op' and 'path'")
        kind, parts = op["op"], _pointer(op["path"])
        if kind in ("copy", "move"):
            source = _pointer(str(op.get("from", "")))
            value = _get(doc, source)
            if kind == "move":
                doc = _remove(doc, source)
            doc = _add(doc, parts, copy.deepcopy(value))
        elif kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            doc = _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise errors.ApiError(422, "Invalid", f"testing value {op['path']} failed")
        else:
            raise errors.bad_request(f"Unexpected kind: {kind}")
    return doc


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise errors.bad_request(f"json patch: path /{'/'.join(parts)} does not exist")


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts), parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and (last == "-" or (last.isdigit() and int(last) <= len(parent))):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        raise errors.bad_request(f"json patch: cannot add at /{'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    _get(doc, parts)
    parent, last = _parent(doc, parts), parts[-1]
    if isinstance(parent, dict):
        del parent[last]
    else:
        parent.pop(int(last))
    return doc


def apply(target: dict[str, object], media_type: str, body: Any) -> Any:
    """The patched object for a PATCH of `media_type`."""
    if media_type == "application/merge-patch+json":
        return merge_patch(target, body)
    if media_type == "application/strategic-merge-patch+json":
        return strategic_merge_patch(target, body)
    if media_type == "application/json-patch+json":
        return json_patch(target, body)
    raise errors.unsupported_media_type(MEDIA_TYPES)
