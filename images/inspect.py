"""`appliance image inspect`: partitions, boot files and the seed found in an image (plain .img).

The JSON shape is the CLI contract: `{"partitions": [{"index", "type",
"label", "start", "size"}], "boot_files": [...], "seed": {...} | null}`.
Labels are the file systems' own (FAT volume label, ext4 volume name) for MBR
partitions, the GPT names for GPT ones.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from hardware.partitions import MalformedPartitionTable, Partition, parse_table
from images.customize import CLOUD_INIT_FILES, read_seed_record
from images.errors import ImageError
from images.fat import FatVolume, MalformedFat
from images.region import FileRegion
from images.stream import XZ_MAGIC


def ext4_label(superblock: bytes) -> str | None:
    """The volume name of an ext2/3/4 superblock (the 1024 bytes at partition offset 1024), else None."""
    if len(superblock) < 0x88 or struct.unpack_from("<H", superblock, 0x38)[0] != 0xEF53:
        return None
    return superblock[0x78:0x88].split(b"\0", 1)[0].decode("utf-8", "replace")


def _label(fd: int, partition: Partition) -> str:
    if partition.label:
        return partition.label
    if partition.kind == "fat":
        try:
            return FatVolume(FileRegion(fd, partition.start, partition.size)).geometry.label
        except MalformedFat:
            return ""
    if partition.kind == "linux":
        return ext4_label(os.pread(fd, 1024, partition.start + 1024)) or ""
    return ""


def inspect_image(path: Path) -> dict[str, object]:
    """What the image holds, as the JSON of `appliance image inspect`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as error:
        raise ImageError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        head = os.pread(fd, 1 << 20, 0)
        if head.startswith(XZ_MAGIC):
            raise ImageError(f"{path}: a compressed .xz image; inspect the .img (xz -dk {path.name}), "
                             "or an image made by `appliance image build`")
        size = os.fstat(fd).st_size
        try:
            table = parse_table(head)
        except MalformedPartitionTable as error:
            raise ImageError(f"{path}: {error}") from None
        partitions = [{"index": p.index, "type": p.type, "label": _label(fd, p), "start": p.start, "size": p.size,
                       "kind": p.kind} for p in table.partitions]
        result: dict[str, object] = {"scheme": table.scheme, "disk_id": table.disk_id, "size": size,
                                     "partitions": partitions, "boot_files": [], "seed": None}
        try:
            boot = table.boot()
        except MalformedPartitionTable:
            return result
        if boot.end > size:
            raise ImageError(f"{path}: the boot partition ends beyond the end of the file (a truncated image)")
        try:
            fat = FatVolume(FileRegion(fd, boot.start, boot.size))
            result["boot_files"] = [{"path": name.lstrip("/"), "size": entry.size}
                                    for name, entry in fat.walk("/") if not entry.is_dir]
            record = read_seed_record(fat)
            names = {entry.name.lower() for entry in fat.listdir("/")}
        except MalformedFat as error:
            raise ImageError(f"{path}: boot partition: {error}") from None
        if record is not None:
            result["seed"] = {"appliance": True, **record}
        elif names & set(CLOUD_INIT_FILES):
            result["seed"] = {"appliance": False, "mechanism": "cloud-init",
                              "files": sorted(names & set(CLOUD_INIT_FILES))}
        elif "firstrun.sh" in names:
            result["seed"] = {"appliance": False, "mechanism": "firstrun", "files": ["firstrun.sh"]}
        return result
    finally:
        os.close(fd)
