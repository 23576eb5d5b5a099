"""Remembered root facts of base images, so a rebuild can seed the boot partitions while the base streams.

The card's payload depends on the root's architecture and Python, which a
streamed .img.xz only reveals once its root partition has been decompressed,
after the boot partition. Seeding then, and hashing the outputs afterwards,
costs a second pass over both images. When the facts are known before the
stream starts, the boot partitions are seeded as soon as they are written and
the outputs are hashed while the rest streams (see `images.build`).

Known beforehand means: read from a plain .img itself (debugfs needs no
decompression), or remembered from an earlier build of the same file (same
path, size and modification time). Either way the facts are read again from
the finished image and compared; a mismatch throws the guess away and builds
again without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hardware.partitions import MalformedPartitionTable, parse_table
from images.errors import ImageError
from images.rootfs import RootInfo, gather_root_facts, judge_root
from images.stream import XZ_MAGIC
from images.wheels import cache_dir


def _store() -> Path:
    return cache_dir().parent / "base-facts.json"


def _key(base: Path) -> str | None:
    try:
        info = base.stat()
    except OSError:
        return None
    return f"{base.resolve()}|{info.st_size}|{info.st_mtime_ns}"


def _load() -> dict[str, dict[str, str]]:
    try:
        data = json.loads(_store().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def known_facts(base: Path) -> RootInfo | None:
    """The root facts of `base` without streaming it, or None when they cannot be had cheaply."""
    try:
        with open(base, "rb") as handle:
            head = handle.read(1 << 20)
    except OSError:
        return None
    if not head.startswith(XZ_MAGIC):
        try:
            root = parse_table(head).root()
            return judge_root(gather_root_facts(base, root.start), str(base))
        except (MalformedPartitionTable, ImageError):
            return None  # the stream finds and reports the problem
    key = _key(base)
    entry = _load().get(key or "")
    if not isinstance(entry, dict):
        return None
    try:
        return RootInfo(entry["arch"], entry["python"], entry["os_name"], entry["codename"])
    except KeyError:
        return None


def remember_facts(base: Path, info: RootInfo) -> None:
    """Remember the facts of a compressed base for the next build (best effort)."""
    key = _key(base)
    if key is None:
        return
    data = _load()
    data[key] = {"arch": info.arch, "python": info.python, "os_name": info.os_name, "codename": info.codename}
    store = _store()
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        partial = store.with_name(store.name + f".{os.getpid()}")
        partial.write_text(json.dumps(dict(list(data.items())[-64:]), indent=1))
        partial.replace(store)
    except OSError:
        pass


def forget_facts(base: Path) -> None:
    """Drop what was remembered about `base`."""
    key = _key(base)
    data = _load()
    if key in data:
        del data[key]
        try:
            _store().write_text(json.dumps(data, indent=1))
        except OSError:
            pass
