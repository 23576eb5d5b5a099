"""A FAT32 file system inside a `Region`: read, write and create files without mounting.

What it does, and only that: list a directory, read a file, write a file
(create it, or replace its contents), make directories. Writes keep the file
system consistent for `fsck.fat -n`: every FAT copy is updated (or only the
active one when mirroring is off), FSInfo's free count and next-free hint are
recomputed, replaced data's clusters are freed, new directory clusters are
zeroed and get their `.` and `..` entries.

Every structure read from the image is checked before it is used: cluster
numbers must lie in the data area, a chain may not loop or run through a free
or bad cluster, a file's size must fit its chain. Any violation raises
`MalformedFat`; nothing is read or written outside the region.

Changes are written as they are made, the FAT at `flush()` (call it once at
the end; `with FatVolume(...)` does).
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Iterator
from types import TracebackType

from images.fat.entries import (
    ATTR_ARCHIVE,
    ATTR_DIRECTORY,
    DELETED,
    ENTRY,
    DirEntry,
    MalformedFat,
    fat_timestamp,
    make_entries,
    pack_short,
    parse_directory,
    set_cluster_and_size,
)
from images.fat.geometry import Geometry, fsinfo_valid, parse_boot_sector, with_free_counts
from images.region import OutOfBounds, Region

FREE, BAD, END = 0, 0x0FFFFFF7, 0x0FFFFFFF
MASK = 0x0FFFFFFF
DOT, DOTDOT = b".          ", b"..         "
MAX_DEPTH = 32
"""Deeper paths than any boot partition needs; bounds path walks on a crafted image."""


class FatVolume:
    """One FAT32 file system; `region` spans exactly its partition."""

    def __init__(self, region: Region, now: dt.datetime | None = None) -> None:
        self.region = region
        try:
            self.geometry: Geometry = parse_boot_sector(region.read(0, 512), region.size)
            raw = region.read(self._fat_copy_offset(), self.geometry.fat_size)
        except OutOfBounds as error:
            raise MalformedFat(f"FAT structures outside the partition: {error}") from error
        self.fat = array("I")
        self.fat.frombytes(raw[: (self.geometry.cluster_count + 2) * 4])
        if self.fat.itemsize != 4:  # pragma: no cover - every platform Python runs on has a 4-byte "I"
            raise RuntimeError("array('I') is not 32-bit here")
        self._dirty: set[int] = set()  # FAT sectors (of the first copy) changed since the last flush
        stamp = now or dt.datetime(2000, 1, 1)
        self.fat_time, self.fat_date = fat_timestamp(stamp.year, stamp.month, stamp.day,
                                                     stamp.hour, stamp.minute, stamp.second)
        self._next_free = 2

    # -- context manager: flush on success only, so a failed build leaves the FAT untouched ------
    def __enter__(self) -> FatVolume:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.flush()

    def _fat_copy_offset(self, copy: int | None = None) -> int:
        geometry = self.geometry
        index = copy if copy is not None else (geometry.active_fat or 0)
        return geometry.fat_offset + index * geometry.fat_size

    # -- the FAT: chains, allocation -----------------------------------------------------------------
    def chain(self, first: int) -> list[int]:
        """The clusters of the chain starting at `first` (empty for 0), checked for loops and range."""
        if first == 0:
            return []
        clusters: list[int] = []
        cluster = first
        limit = self.geometry.cluster_count
        while True:
            if not 2 <= cluster <= self.geometry.max_cluster:
                raise MalformedFat(f"cluster chain from {first} reaches cluster {cluster}, outside the data area")
            clusters.append(cluster)
            if len(clusters) > limit:
                raise MalformedFat(f"cluster chain from {first} loops (longer than the file system)")
            value = self.fat[cluster] & MASK
            if value >= 0x0FFFFFF8:
                return clusters
            if value == FREE or value == BAD:
                raise MalformedFat(f"cluster chain from {first} runs into a {'free' if value == FREE else 'bad'} cluster")
            cluster = value

    def _set(self, cluster: int, value: int) -> None:
        self.fat[cluster] = (self.fat[cluster] & ~MASK & 0xFFFFFFFF) | value
        self._dirty.add(cluster * 4 // self.geometry.sector_size)

    def allocate(self, count: int) -> list[int]:
        """`count` free clusters (chained, ends marked), first fit from the last allocation."""
        if count == 0:
            return []
        found: list[int] = []
        top = self.geometry.max_cluster + 1
        for start, stop in ((self._next_free, top), (2, self._next_free)):
            position = start
            while len(found) < count and position < stop:
                try:
                    position = self.fat.index(FREE, position, stop)
                except ValueError:
                    break
                found.append(position)
                position += 1
            if len(found) == count:
                break
        if len(found) < count:
            raise MalformedFat(
                f"the boot partition is full: {count} clusters needed, {len(found)} free"
            )
        for this, following in zip(found, found[1:], strict=False):
            self._set(this, following)
        self._set(found[-1], END)
        self._next_free = found[-1] + 1 if found[-1] < self.geometry.max_cluster else 2
        return found

    def release(self, clusters: list[int]) -> None:
        """Mark `clusters` free."""
        for cluster in clusters:
            self._set(cluster, FREE)

    def flush(self) -> None:
        """Write changed FAT sectors to every FAT copy in use, and FSInfo's counts."""
        geometry = self.geometry
        if self._dirty:
            raw = self.fat.tobytes()
            copies = [geometry.active_fat] if geometry.active_fat is not None else range(geometry.fat_count)
            for index in sorted(self._dirty):
                start = index * geometry.sector_size
                piece = raw[start:start + geometry.sector_size]
                for copy in copies:
                    self.region.write(self._fat_copy_offset(copy) + start, piece)
            self._dirty.clear()
        if geometry.fsinfo_offset is not None:
            fsinfo = self.region.read(geometry.fsinfo_offset, 512)
            if fsinfo_valid(fsinfo):
                free = self.fat[2:].count(FREE)
                self.region.write(geometry.fsinfo_offset, with_free_counts(fsinfo, free, self._next_free))

    # -- cluster data -----------------------------------------------------------------------------
    def _runs(self, clusters: list[int]) -> Iterator[tuple[int, int]]:
        """(first cluster, number) of each run of consecutive clusters."""
        index = 0
        while index < len(clusters):
            first = clusters[index]
            length = 1
            while index + length < len(clusters) and clusters[index + length] == first + length:
                length += 1
            yield first, length
            index += length

    def _read_clusters(self, clusters: list[int], limit: int | None = None) -> bytes:
        size = self.geometry.cluster_size
        wanted = len(clusters) * size if limit is None else limit
        out = bytearray()
        for first, length in self._runs(clusters):
            take = min(length * size, wanted - len(out))
            if take <= 0:
                break
            out += self.region.read(self.geometry.cluster_offset(first), take)
        return bytes(out)

    def _write_clusters(self, clusters: list[int], data: bytes) -> None:
        size = self.geometry.cluster_size
        position = 0
        view = memoryview(data)
        for first, length in self._runs(clusters):
            piece = bytes(view[position:position + length * size])
            piece += bytes(length * size - len(piece))  # the tail of the last cluster is zeroed
            self.region.write(self.geometry.cluster_offset(first), piece)
            position += length * size

    # -- directories ------------------------------------------------------------------------------
    def _dir_clusters(self, first: int) -> list[int]:
        return self.chain(self.geometry.root_cluster if first == 0 else first)

    def listdir(self, path: str = "/") -> list[DirEntry]:
        """Entries of the directory at `path` (`.` and `..` left out)."""
        first = self._resolve_dir(path)
        return [e for e in parse_directory(self._read_clusters(self._dir_clusters(first)))
                if e.short_name not in (DOT, DOTDOT)]

    def _resolve_dir(self, path: str) -> int:
        """First cluster of the directory at `path` (0 stands for the root)."""
        parts = [p for p in path.split("/") if p]
        if len(parts) > MAX_DEPTH:
            raise MalformedFat(f"path {path!r} is deeper than {MAX_DEPTH} levels")
        cluster = 0
        for part in parts:
            entry = self._find(cluster, part)
            if entry is None or not entry.is_dir:
                raise FileNotFoundError(f"no directory {path!r} in the boot partition")
            cluster = entry.first_cluster
            if cluster == 0 or cluster == self.geometry.root_cluster:
                raise MalformedFat(f"directory {part!r} points back at the root")
        return cluster

    def _find(self, directory: int, name: str) -> DirEntry | None:
        folded = name.casefold()
        data = self._read_clusters(self._dir_clusters(directory))
        for entry in parse_directory(data):
            if entry.name.casefold() == folded:
                return entry
        return None

    def stat(self, path: str) -> DirEntry | None:
        """The entry at `path`, or None when there is none."""
        parent, _, name = path.strip("/").rpartition("/")
        try:
            return self._find(self._resolve_dir(parent), name)
        except FileNotFoundError:
            return None

    def read_file(self, path: str) -> bytes:
        """The whole content of the file at `path`."""
        entry = self.stat(path)
        if entry is None or entry.is_dir:
            raise FileNotFoundError(f"no file {path!r} in the boot partition")
        clusters = self.chain(entry.first_cluster)
        if entry.size > len(clusters) * self.geometry.cluster_size:
            raise MalformedFat(f"{path}: size {entry.size} is more than its {len(clusters)} clusters hold")
        return self._read_clusters(clusters, entry.size)

    def walk(self, path: str = "/", depth: int = 0) -> Iterator[tuple[str, DirEntry]]:
        """(path, entry) of every file and directory below `path`, depth first."""
        if depth > MAX_DEPTH:
            raise MalformedFat(f"directories nested deeper than {MAX_DEPTH} levels under {path!r} (a loop?)")
        for entry in self.listdir(path):
            full = f"{path.rstrip('/')}/{entry.name}"
            yield full, entry
            if entry.is_dir:
                yield from self.walk(full, depth + 1)

    def makedirs(self, path: str) -> int:
        """Make the directory `path` and its parents as needed; its first cluster (0 = root)."""
        cluster = 0
        for part in [p for p in path.split("/") if p]:
            entry = self._find(cluster, part)
            if entry is not None:
                if not entry.is_dir:
                    raise FileExistsError(f"{part!r} in the boot partition is a file, not a directory")
                cluster = entry.first_cluster
                continue
            new = self.allocate(1)[0]
            parent_ref = 0 if cluster == 0 else cluster
            dots = (pack_short(DOT, ATTR_DIRECTORY, 0, new, 0, self.fat_time, self.fat_date)
                    + pack_short(DOTDOT, ATTR_DIRECTORY, 0, parent_ref, 0, self.fat_time, self.fat_date))
            self._write_clusters([new], dots)
            self._add_entry(cluster, part, ATTR_DIRECTORY, new, 0)
            cluster = new
        return cluster

    def _add_entry(self, directory: int, name: str, attributes: int, first: int, size: int) -> None:
        clusters = self._dir_clusters(directory)
        data = bytearray(self._read_clusters(clusters))
        existing = parse_directory(bytes(data))
        taken = {entry.short_name for entry in existing}
        slots, _short = make_entries(name, taken, attributes, first, size, self.fat_time, self.fat_date)
        needed = len(slots) // ENTRY
        start = _free_run(bytes(data), needed)
        if start is None:  # grow the directory by as many zeroed clusters as the entries need
            end = _end_slot(bytes(data))
            spare = len(data) // ENTRY - end
            grow = -(-(needed - spare + 1) * ENTRY // self.geometry.cluster_size)
            added = self.allocate(grow)
            self._set(clusters[-1], added[0])
            self._write_clusters(added, b"")
            clusters += added
            data += bytes(grow * self.geometry.cluster_size)
            start = end
        if start >= _end_slot(bytes(data)) and (start + needed) * ENTRY < len(data):
            data[(start + needed) * ENTRY] = 0  # whatever followed the old end marker stays unlisted
        data[start * ENTRY:start * ENTRY + len(slots)] = slots
        self._write_slots(clusters, data, start, start + needed + 1)

    def _write_slots(self, clusters: list[int], data: bytearray, first_slot: int, end_slot: int) -> None:
        """Write back the clusters of a directory holding slots [first_slot, end_slot)."""
        size = self.geometry.cluster_size
        per_cluster = size // ENTRY
        last = min(end_slot, len(data) // ENTRY)
        for index in range(first_slot // per_cluster, (last - 1) // per_cluster + 1):
            self.region.write(self.geometry.cluster_offset(clusters[index]),
                              bytes(data[index * size:(index + 1) * size]))

    def write_file(self, path: str, content: bytes) -> None:
        """Create the file at `path` (and its directories), or replace its content."""
        parent, _, name = path.strip("/").rpartition("/")
        directory = self.makedirs(parent) if parent else 0
        count = -(-len(content) // self.geometry.cluster_size)
        entry = self._find(directory, name)
        if entry is not None and entry.is_dir:
            raise IsADirectoryError(f"{path!r} in the boot partition is a directory")
        old = self.chain(entry.first_cluster) if entry is not None else []
        self.release(old)
        clusters = self.allocate(count)
        self._write_clusters(clusters, content)
        first = clusters[0] if clusters else 0
        if entry is None:
            self._add_entry(directory, name, ATTR_ARCHIVE, first, len(content))
            return
        dir_clusters = self._dir_clusters(directory)
        data = bytearray(self._read_clusters(dir_clusters))
        slot = entry.short_slot
        raw = bytes(data[slot * ENTRY:(slot + 1) * ENTRY])
        data[slot * ENTRY:(slot + 1) * ENTRY] = set_cluster_and_size(raw, first, len(content), self.fat_time, self.fat_date)
        self._write_slots(dir_clusters, data, slot, slot + 1)


def _end_slot(data: bytes) -> int:
    """Index of the end-of-directory marker (or the slot count when the directory is full)."""
    for slot in range(len(data) // ENTRY):
        if data[slot * ENTRY] == 0:
            return slot
    return len(data) // ENTRY


def _free_run(data: bytes, needed: int) -> int | None:
    """First slot of `needed` consecutive free slots (deleted ones, or at the end with one more to
    stay the end marker), else None."""
    total = len(data) // ENTRY
    run_start, run = 0, 0
    for slot in range(total):
        first = data[slot * ENTRY]
        if first == 0:
            # From here on all is free; the slot after the new entries must stay an end marker.
            return slot if total - slot >= needed + 1 else (run_start if run >= needed else None)
        if first == DELETED:
            if run == 0:
                run_start = slot
            run += 1
            if run >= needed:
                return run_start
        else:
            run = 0
    return None
