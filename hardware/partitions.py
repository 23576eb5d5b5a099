"""Partition tables (MBR and GPT) read from the first bytes of a disk image or SD card.

Shared by the image builder (images/) and the lab's card boot (hardware/lab/cards.py):
one codec for what a Pi's card holds.

A pure codec: `parse_table(head)` takes the image's first bytes (the MBR, the
GPT header and its entry array must lie inside them; 1 MiB is plenty for every
real layout) and returns a `PartitionTable`; `check_fits(table, size)` checks
that every partition lies inside an image of `size` bytes (a streamed .img.xz
only learns its size at the end). One error escapes: `MalformedPartitionTable`.

Raspberry Pi OS uses an MBR (type 0x0c FAT32 `bootfs`, 0x83 ext4 `rootfs`);
Ubuntu for Pi too; other images may use GPT (EFI System or basic data for the
FAT partition, a Linux file system or root type for the root). Only 512-byte
sectors: that is what SD card images use.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass

SECTOR = 512
"""Logical sector size of SD card images."""
MAX_GPT_ENTRIES = 1024
"""More entries than any real GPT has (128 is the norm); bounds the work on a crafted header."""

MBR_FAT_TYPES = {0x0B: "FAT32 (CHS)", 0x0C: "FAT32 (LBA)", 0x06: "FAT16", 0x0E: "FAT16 (LBA)", 0x01: "FAT12"}
MBR_LINUX = 0x83
MBR_PROTECTIVE = 0xEE
MBR_EXTENDED = (0x05, 0x0F, 0x85)

GPT_EFI_SYSTEM = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
GPT_BASIC_DATA = "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"
GPT_LINUX_TYPES = {
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
    "b921b045-1df0-41c3-af44-4c6f280d3fae": "Linux root (ARM-64)",
    "4f68bce3-e8cd-4db1-96e7-fbcaf984b709": "Linux root (x86-64)",
    "69dad710-2ce4-4e3c-b16c-21a1d49abed3": "Linux root (ARM-32)",
}

_MBR_ENTRY = struct.Struct("<B3sB3sII")
_GPT_HEADER = struct.Struct("<8sIII4sQQQQ16sQIII")
_GPT_ENTRY = struct.Struct("<16s16sQQQ72s")


class MalformedPartitionTable(ValueError):
    """The bytes hold no partition table this appliance can use, or a broken one."""


@dataclass(frozen=True)
class Partition:
    """One partition of a disk image."""

    index: int
    """Partition number as the kernel counts it (1-based)."""
    type: str
    """MBR type as `0x0c`, or the GPT type GUID in lower case."""
    label: str
    """GPT partition name; empty for MBR (the file system's own label is elsewhere)."""
    start: int
    """Offset of the first byte, in bytes from the start of the image."""
    size: int
    """Length in bytes."""
    kind: str
    """`fat`, `linux` or `other`: what the type says the partition holds."""

    @property
    def end(self) -> int:
        """Offset just past the last byte."""
        return self.start + self.size


@dataclass(frozen=True)
class PartitionTable:
    """The partitions of an image and the scheme that lists them."""

    scheme: str
    """`mbr` or `gpt`."""
    disk_id: str
    """MBR disk signature (8 hex digits, as in PARTUUID=<id>-02) or the GPT disk GUID."""
    partitions: tuple[Partition, ...]
    """In table order, empty slots left out."""
    required_size: int
    """Smallest image size that holds every partition (and the backup GPT)."""

    def boot(self) -> Partition:
        """The FAT partition the firmware boots from (the first FAT one)."""
        for partition in self.partitions:
            if partition.kind == "fat":
                return partition
        raise MalformedPartitionTable(
            f"unknown layout: no FAT boot partition in the {self.scheme.upper()} table "
            "(a Raspberry Pi image has a FAT32 partition first)"
        )

    def root(self) -> Partition:
        """The Linux root partition (the first Linux one)."""
        for partition in self.partitions:
            if partition.kind == "linux":
                return partition
        raise MalformedPartitionTable(
            f"unknown layout: no Linux root partition in the {self.scheme.upper()} table"
        )


def parse_table(head: bytes) -> PartitionTable:
    """The partition table at the start of an image, given its first bytes (at least 512)."""
    if len(head) < SECTOR:
        raise MalformedPartitionTable(f"image is only {len(head)} bytes long; a disk image has at least a 512-byte MBR")
    if head[510:512] != b"\x55\xaa":
        raise MalformedPartitionTable("no partition table: the first sector lacks the 0x55AA signature")
    entries = [_MBR_ENTRY.unpack_from(head, 446 + 16 * i) for i in range(4)]
    if any(entry[2] == MBR_PROTECTIVE for entry in entries):
        return _parse_gpt(head)
    if head[SECTOR + 0:SECTOR + 8] == b"EFI PART":
        raise MalformedPartitionTable("GPT header found but the MBR is not protective (a hybrid MBR); refusing an ambiguous layout")
    return _parse_mbr(head, entries)


def _parse_mbr(head: bytes, entries: list[tuple[int, bytes, int, bytes, int, int]]) -> PartitionTable:
    partitions: list[Partition] = []
    for number, (status, _chs1, ptype, _chs2, first, count) in enumerate(entries, start=1):
        if ptype == 0 and count == 0:
            continue
        if status not in (0x00, 0x80):
            # A FAT boot sector also ends in 0x55AA; its bytes here are code, not a table.
            raise MalformedPartitionTable(
                f"no partition table: MBR entry {number} has boot flag 0x{status:02x} "
                "(is this a bare file system rather than a disk image?)"
            )
        if ptype == 0:
            raise MalformedPartitionTable(f"MBR entry {number} has type 0 but {count} sectors")
        if ptype in MBR_EXTENDED:
            kind = "other"
        elif ptype in MBR_FAT_TYPES:
            kind = "fat"
        elif ptype == MBR_LINUX:
            kind = "linux"
        else:
            kind = "other"
        partitions.append(_checked(number, f"0x{ptype:02x}", "", first, count, kind))
    if not partitions:
        raise MalformedPartitionTable("the MBR lists no partitions")
    _check_overlaps(partitions)
    disk_id = f"{struct.unpack_from('<I', head, 440)[0]:08x}"
    return PartitionTable("mbr", disk_id, tuple(partitions), max(p.end for p in partitions))


def _checked(number: int, ptype: str, label: str, first: int, count: int, kind: str) -> Partition:
    if count == 0:
        raise MalformedPartitionTable(f"partition {number} is zero-length")
    if first == 0:
        raise MalformedPartitionTable(f"partition {number} starts at sector 0, on top of the partition table")
    return Partition(number, ptype, label, first * SECTOR, count * SECTOR, kind)


def _check_overlaps(partitions: list[Partition]) -> None:
    ordered = sorted(partitions, key=lambda p: p.start)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.start < before.end:
            raise MalformedPartitionTable(
                f"partitions {before.index} and {after.index} overlap "
                f"(bytes {before.start}-{before.end} and {after.start}-{after.end})"
            )


def _parse_gpt(head: bytes) -> PartitionTable:
    if len(head) < 2 * SECTOR:
        raise MalformedPartitionTable("image ends inside the GPT header")
    (signature, _revision, header_size, header_crc, _reserved, current, backup, first_usable,
     last_usable, disk_guid, entries_lba, count, entry_size, entries_crc) = _GPT_HEADER.unpack_from(head, SECTOR)
    if signature != b"EFI PART":
        if head[4096:4104] == b"EFI PART":
            raise MalformedPartitionTable("GPT with 4096-byte sectors; SD card images use 512-byte sectors")
        raise MalformedPartitionTable("protective MBR but no GPT header in sector 1")
    if not 92 <= header_size <= SECTOR:
        raise MalformedPartitionTable(f"GPT header size {header_size} is outside 92..512")
    header = bytearray(head[SECTOR:SECTOR + header_size])
    header[16:20] = b"\0\0\0\0"
    if zlib.crc32(header) != header_crc:
        raise MalformedPartitionTable("GPT header checksum mismatch (corrupt or hand-edited table)")
    if current != 1:
        raise MalformedPartitionTable(f"GPT header says it sits at LBA {current}, not 1")
    if entry_size < 128 or entry_size % 8 or entry_size > 4096:
        raise MalformedPartitionTable(f"GPT entry size {entry_size} is not a multiple of 8 between 128 and 4096")
    if count > MAX_GPT_ENTRIES:
        raise MalformedPartitionTable(f"GPT claims {count} entries; more than {MAX_GPT_ENTRIES} is not a real table")
    if entries_lba < 2 or first_usable > last_usable:
        raise MalformedPartitionTable("GPT header has an impossible layout (entries or usable range)")
    table_start = entries_lba * SECTOR
    table_end = table_start + count * entry_size
    if table_end > len(head):
        raise MalformedPartitionTable(
            f"GPT entries end at byte {table_end}, past the first {len(head)} bytes where they belong"
        )
    raw = head[table_start:table_end]
    if zlib.crc32(raw) != entries_crc:
        raise MalformedPartitionTable("GPT entry array checksum mismatch (corrupt or hand-edited table)")
    partitions: list[Partition] = []
    for number in range(1, count + 1):
        type_guid, _unique, first, last, _attributes, name = _GPT_ENTRY.unpack_from(raw, (number - 1) * entry_size)
        if type_guid == bytes(16):
            continue
        if last < first:
            raise MalformedPartitionTable(f"partition {number} is zero-length (ends before it starts)")
        if first < first_usable or last > last_usable:
            raise MalformedPartitionTable(
                f"partition {number} (LBA {first}-{last}) lies outside the GPT's usable range {first_usable}-{last_usable}"
            )
        ptype = str(uuid.UUID(bytes_le=type_guid))
        kind = "fat" if ptype in (GPT_EFI_SYSTEM, GPT_BASIC_DATA) else "linux" if ptype in GPT_LINUX_TYPES else "other"
        label = name.decode("utf-16-le", "replace").split("\0", 1)[0]
        partitions.append(_checked(number, ptype, label, first, last - first + 1, kind))
    if not partitions:
        raise MalformedPartitionTable("the GPT lists no partitions")
    _check_overlaps(partitions)
    required = max([p.end for p in partitions] + [(max(backup, last_usable) + 1) * SECTOR])
    return PartitionTable("gpt", str(uuid.UUID(bytes_le=disk_guid)), tuple(partitions), required)


def check_fits(table: PartitionTable, image_size: int) -> None:
    """Raise unless every partition ends inside an image of `image_size` bytes."""
    for partition in table.partitions:
        if partition.end > image_size:
            raise MalformedPartitionTable(
                f"partition {partition.index} ends at byte {partition.end}, beyond the end of the "
                f"{image_size}-byte image (a truncated download, or a crafted table)"
            )
    if table.required_size > image_size:
        raise MalformedPartitionTable(
            f"the {table.scheme.upper()} needs {table.required_size} bytes but the image has {image_size} "
            "(a truncated download?)"
        )
