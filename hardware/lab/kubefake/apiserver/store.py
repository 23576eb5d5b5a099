"""The API server's objects: an in-memory map kept in one JSON file, as etcd would keep them.

Every write bumps one revision counter (the resourceVersion), so clients see
optimistic concurrency as on a real server. The file is replaced atomically
after each write, so a master that loses power keeps its nodes and tokens.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..textfmt import rfc3339
from . import errors
from .resources import Resource

Object = dict[str, Any]
"""A Kubernetes object as JSON-shaped Python data."""

STATE_FILE = "kubefake-state.json"
"""Name of the state file inside the etcd data directory."""


def meta(obj: Object) -> dict[str, Any]:
    """The object's metadata mapping (created when missing)."""
    value = obj.get("metadata")
    if not isinstance(value, dict):
        value = {}
        obj["metadata"] = value
    return value


def key_of(resource: Resource, namespace: str, name: str) -> str:
    """Storage key, like etcd's /registry/<resource>/<namespace>/<name>."""
    return f"{resource.group}/{resource.name}/{namespace}/{name}"


@dataclass
class Store:
    """All objects, keyed by key_of, and the revision counter."""

    objects: dict[str, Object] = field(default_factory=dict)
    """Objects by storage key."""
    revision: int = 1
    """Last resourceVersion given out."""
    path: Path | None = None
    """Where the state is saved; None keeps it in memory only (unit tests)."""

    def _next_revision(self) -> str:
        self.revision += 1
        return str(self.revision)

    def get(self, resource: Resource, namespace: str, name: str) -> Object:
        """A deep copy of one object, or the NotFound error."""
        obj = self.objects.get(key_of(resource, namespace, name))
        if obj is None:
            raise errors.not_found(resource.name, name, resource.group)
        return copy.deepcopy(obj)

    def find(self, resource: Resource, namespace: str, name: str) -> Object | None:
        """A deep copy of one object, or None."""
        obj = self.objects.get(key_of(resource, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, resource: Resource, namespace: str | None = None) -> list[Object]:
        """Deep copies of all objects of a resource (in one namespace, or all), in key order."""
        prefix = f"{resource.group}/{resource.name}/"
        if namespace is not None:
            prefix += f"{namespace}/"
        return [copy.deepcopy(self.objects[k]) for k in sorted(self.objects) if k.startswith(prefix)]

    def create(self, resource: Resource, obj: Object, now: datetime) -> Object:
        """Store a new object: uid, resourceVersion and creationTimestamp are set here."""
        metadata = meta(obj)
        name = str(metadata.get("name", ""))
        namespace = str(metadata.get("namespace", "")) if resource.namespaced else ""
        key = key_of(resource, namespace, name)
        if key in self.objects:
            raise errors.already_exists(resource.name, name, resource.group)
        metadata.pop("deletionTimestamp", None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["resourceVersion"] = self._next_revision()
        metadata["creationTimestamp"] = rfc3339(now)
        if not resource.namespaced:
            metadata.pop("namespace", None)
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        self.objects[key] = copy.deepcopy(obj)
        self.save()
        return obj

    def update(self, resource: Resource, obj: Object) -> Object:
        """Replace an object; a stale metadata.resourceVersion is a Conflict. uid and age are kept."""
        metadata = meta(obj)
        name = str(metadata.get("name", ""))
        namespace = str(metadata.get("namespace", "")) if resource.namespaced else ""
        key = key_of(resource, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise errors.not_found(resource.name, name, resource.group)
        current_meta = meta(current)
        wanted = metadata.get("resourceVersion")
        if wanted not in (None, "") and wanted != current_meta.get("resourceVersion"):
            raise errors.conflict(resource.name, name, resource.group)
        metadata["uid"] = current_meta.get("uid")
        metadata["creationTimestamp"] = current_meta.get("creationTimestamp")
        metadata["resourceVersion"] = self._next_revision()
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        self.objects[key] = copy.deepcopy(obj)
        self.save()
        return obj

    def delete(self, resource: Resource, namespace: str, name: str) -> Object:
        """Remove an object and return it (NotFound if absent)."""
        key = key_of(resource, namespace if resource.namespaced else "", name)
        obj = self.objects.pop(key, None)
        if obj is None:
            raise errors.not_found(resource.name, name, resource.group)
        self._next_revision()
        self.save()
        return obj

    def save(self) -> None:
        """Write the state file atomically (no-op for an in-memory store)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w") as out:
            json.dump({"revision": self.revision, "objects": self.objects}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)

    @classmethod
    def open(cls, path: Path | None) -> Store:
        """Load the state file if there is one (an unreadable one is set aside, not trusted)."""
        store = cls(path=path)
        if path is None or not path.exists():
            return store
        try:
            state = json.loads(path.read_text())
            store.objects = dict(state["objects"])
            store.revision = int(state["revision"])
        except (ValueError, KeyError, TypeError):
            path.rename(path.with_name(path.name + ".corrupt"))
            store.objects, store.revision = {}, 1
        return store
