"""Facts about block devices, gathered from sysfs and mountinfo, apart from any judgment.

`gather(path, sys_root, mountinfo)` reads what the refusal rules need for
one device; `candidates(...)` lists every disk that could be a card. Both take
the sysfs root and the mountinfo text as arguments, so the tests feed them
fixtures (a made-up /sys tree, a made-up mountinfo) as well as the real ones.
The judgments are in `images.refusal`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

SYS = Path("/sys")
MOUNTINFO = Path("/proc/self/mountinfo")
VIRTUAL_PREFIXES = ("loop", "ram", "zram", "dm-", "md", "nbd", "sr")
"""Disks never offered as candidates (loop devices can still be named with --allow-non-removable)."""


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo, the parts used here."""

    device: tuple[int, int]
    """major, minor of the mounted device (0, n for virtual file systems)."""
    mount_point: str
    """Where it is mounted."""
    source: str
    """The mount source as the kernel shows it (/dev/sda1, tmpfs...)."""


@dataclass(frozen=True)
class DeviceFacts:
    """What sysfs and mountinfo say about one disk."""

    path: str
    """As given (/dev/sdb, /dev/loop3)."""
    name: str
    """Kernel name (sdb, mmcblk0, loop3); empty when not a block device."""
    is_block: bool
    """True for a block device node."""
    is_partition: bool
    """True when the path is a partition rather than a whole disk."""
    size: int
    """Bytes (sysfs size x 512)."""
    removable: bool
    """sysfs `removable` (SD readers on USB and mmc slots say 1; many USB sticks too)."""
    read_only: bool
    """sysfs `ro`."""
    loop: bool
    """A loop device."""
    backing_file: str | None
    """A loop device's backing file."""
    model: str
    """Vendor and model as sysfs says them."""
    transport: str
    """usb, mmc, sata/nvme... as far as the sysfs path tells."""
    mounted: tuple[str, ...]
    """Mount points of the disk or any of its partitions (or anything built on them)."""
    holds_root: bool
    """True when / lives on this disk (directly, or through dm/md holders)."""
    holders: tuple[str, ...]
    """Kernel names of devices built on the disk or its partitions (dm, md)."""


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts of a mountinfo text; malformed lines are skipped."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10 or "-" not in fields[6:]:
            continue
        try:
            major, minor = (int(part) for part in fields[2].split(":"))
        except ValueError:
            continue
        separator = fields.index("-", 6)
        source = fields[separator + 2] if len(fields) > separator + 2 else ""
        mount_point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
        mounts.append(Mount((major, minor), mount_point, source))
    return mounts


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _dev_numbers(block: Path) -> tuple[int, int] | None:
    text = _read(block / "dev")
    try:
        major, minor = text.split(":")
        return int(major), int(minor)
    except ValueError:
        return None


def _parts(disk: Path) -> list[Path]:
    """The disk's own sysfs folder and its partitions' folders."""
    found = [disk]
    try:
        found += [child for child in disk.iterdir() if (child / "partition").exists()]
    except OSError:
        pass
    return found


def _holders(block: Path, sys_root: Path, seen: set[str] | None = None) -> set[str]:
    """Every device built on `block`, recursively (dm on a partition, md on dm...)."""
    seen = seen if seen is not None else set()
    try:
        names = [entry.name for entry in (block / "holders").iterdir()]
    except OSError:
        return seen
    for name in names:
        if name not in seen and len(seen) < 256:
            seen.add(name)
            _holders(sys_root / "class" / "block" / name, sys_root, seen)
    return seen


def _transport(disk: Path) -> str:
    try:
        target = os.readlink(disk) if disk.is_symlink() else str(disk.resolve())
    except OSError:
        return ""
    for word in ("usb", "mmc", "nvme", "ata", "virtio"):
        if f"/{word}" in target:
            return word
    return ""


def _same_backing(sys_root: Path, name: str, backing: str) -> list[Path]:
    """Other loop devices whose backing file is `backing`."""
    try:
        loops = [entry for entry in (sys_root / "block").iterdir() if entry.name.startswith("loop")]
    except OSError:
        return []
    return [entry for entry in loops if entry.name != name and _read(entry / "loop" / "backing_file") == backing]


def disk_facts(name: str, path: str, sys_root: Path, mounts: list[Mount]) -> DeviceFacts:
    """Facts about the whole disk `name` (a folder under sys_root/block)."""
    disk = sys_root / "block" / name
    parts = _parts(disk)
    numbers = {n for part in parts if (n := _dev_numbers(part)) is not None}
    holders: set[str] = set()
    for part in parts:
        holders |= _holders(part, sys_root)
    for holder in holders:
        numbers_of = _dev_numbers(sys_root / "class" / "block" / holder)
        if numbers_of is not None:
            numbers.add(numbers_of)
    loop = name.startswith("loop")
    backing = _read(disk / "loop" / "backing_file") or None
    if backing is not None:
        # The kernel may lack partition tables for loop devices (then partitions are attached as more loop
        # devices with --offset, as the lab does): every loop device on the same file counts as this card.
        for other in _same_backing(sys_root, name, backing):
            numbers_of = _dev_numbers(other)
            if numbers_of is not None:
                numbers.add(numbers_of)
                holders.add(other.name)
    names = {part.name for part in parts} | holders
    # By device number, and by source name too: / on an overlay or in a container has no number of its disk.
    ours = [m for m in mounts if m.device in numbers or m.source.removeprefix("/dev/") in names]
    mounted = tuple(sorted({m.mount_point for m in ours}))
    holds_root = any(m.mount_point == "/" for m in ours)
    size = int(_read(disk / "size") or 0) * 512
    vendor, model = _read(disk / "device" / "vendor"), _read(disk / "device" / "model")
    return DeviceFacts(
        path=path, name=name, is_block=True, is_partition=False, size=size,
        removable=_read(disk / "removable") == "1", read_only=_read(disk / "ro") == "1", loop=loop,
        backing_file=backing, model=" ".join(part for part in (vendor, model) if part),
        transport="loop" if loop else _transport(disk), mounted=mounted, holds_root=holds_root,
        holders=tuple(sorted(holders)),
    )


def gather(path: str, sys_root: Path = SYS, mountinfo: str | None = None) -> DeviceFacts:
    """Facts about the device node at `path` (a file that is no block device gives is_block=False)."""
    mounts = parse_mountinfo(mountinfo if mountinfo is not None else _read(MOUNTINFO))
    try:
        info = os.stat(path)
    except OSError:
        info = None
    if info is None or not stat.S_ISBLK(info.st_mode):
        return DeviceFacts(path, "", False, False, 0, False, False, False, None, "", "", (), False, ())
    block = sys_root / "dev" / "block" / f"{os.major(info.st_rdev)}:{os.minor(info.st_rdev)}"
    try:
        real = block.resolve(strict=True)
    except OSError:
        return DeviceFacts(path, "", False, False, 0, False, False, False, None, "", "", (), False, ())
    if (real / "partition").exists():
        facts = disk_facts(real.parent.name, path, sys_root, mounts)
        return DeviceFacts(**{**facts.__dict__, "name": real.name, "is_partition": True})
    return disk_facts(real.name, path, sys_root, mounts)


def candidates(sys_root: Path = SYS, mountinfo: str | None = None) -> list[DeviceFacts]:
    """Disks that could be cards: not virtual, not empty; removable or not (the rules judge)."""
    mounts = parse_mountinfo(mountinfo if mountinfo is not None else _read(MOUNTINFO))
    found: list[DeviceFacts] = []
    try:
        names = sorted(entry.name for entry in (sys_root / "block").iterdir())
    except OSError:
        return found
    for name in names:
        if name.startswith(VIRTUAL_PREFIXES):
            continue
        facts = disk_facts(name, f"/dev/{name}", sys_root, mounts)
        if facts.size > 0:
            found.append(facts)
    return found
