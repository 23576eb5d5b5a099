"""FAT directory entries: 32-byte records, long names (VFAT LFN) and 8.3 short names.

Pure functions over bytes. A directory is read as a list of `DirEntry` (each
with the slots it occupies, so it can be rewritten in place); new entries are
built by `make_entries`. Rules followed (Microsoft's FAT specification, and
what Linux's vfat driver and mtools do):

- A name that fits 8.3 with an all-lower or all-upper base and extension is
  stored as a short name only, its case kept in the NT case bits (0x08 base,
  0x10 extension): `cmdline.txt` is `CMDLINE TXT` + 0x18, as Linux writes it.
- Any other name gets LFN entries (UTF-16, 13 characters each, in reverse
  order, each carrying the short name's checksum) and a unique `BASIS~N.EXT`.
- LFN entries whose order or checksum do not match their short entry are
  ignored (the short name is used), as Linux does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

ENTRY = 32
ATTR_READ_ONLY, ATTR_HIDDEN, ATTR_SYSTEM, ATTR_VOLUME, ATTR_DIRECTORY, ATTR_ARCHIVE = 1, 2, 4, 8, 0x10, 0x20
ATTR_LFN = 0x0F
CASE_LOWER_BASE, CASE_LOWER_EXT = 0x08, 0x10
DELETED = 0xE5
LFN_LAST = 0x40
LFN_CHARS = 13
MAX_NAME = 255

_SHORT = struct.Struct("<11sBBBHHHHHHHI")
_SFN_ALLOWED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789$%'-_@~`!(){}^#&")
_LFN_FORBIDDEN = set('\\/:*?"<>|') | {chr(c) for c in range(32)}


class MalformedFat(ValueError):
    """The bytes are not a FAT32 file system this code can use safely."""


@dataclass
class DirEntry:
    """A file or directory as its directory lists it."""

    name: str
    """Long name if a valid one precedes the short entry, else the short name with its case bits applied."""
    short_name: bytes
    """The 11 bytes of the 8.3 name as stored."""
    attributes: int
    """ATTR_* bits."""
    first_cluster: int
    """First cluster of the data (0 for an empty file)."""
    size: int
    """File size in bytes (0 for directories)."""
    slots: list[int] = field(default_factory=list)
    """Indexes of the 32-byte slots this entry occupies in its directory, LFN slots first."""

    @property
    def is_dir(self) -> bool:
        """True for a subdirectory."""
        return bool(self.attributes & ATTR_DIRECTORY)

    @property
    def short_slot(self) -> int:
        """Slot of the short (8.3) entry, which holds the cluster and size."""
        return self.slots[-1]


def lfn_checksum(short_name: bytes) -> int:
    """The checksum every LFN entry carries of its short name."""
    total = 0
    for byte in short_name:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def _short_to_text(raw: bytes, case: int) -> str:
    base = raw[:8].rstrip(b" ")
    ext = raw[8:11].rstrip(b" ")
    if base[:1] == b"\x05":  # 0x05 stands for a leading 0xE5 byte
        base = b"\xe5" + base[1:]
    base_text = base.decode("cp437")
    ext_text = ext.decode("cp437")
    if case & CASE_LOWER_BASE:
        base_text = base_text.lower()
    if case & CASE_LOWER_EXT:
        ext_text = ext_text.lower()
    return f"{base_text}.{ext_text}" if ext_text else base_text


def _lfn_piece(slot: bytes) -> str | None:
    units = slot[1:11] + slot[14:26] + slot[28:32]
    text = units.decode("utf-16-le", "replace")
    end = text.find("\0")
    return text if end < 0 else text[:end]


def parse_directory(data: bytes) -> list[DirEntry]:
    """Every live entry (volume labels left out, dot entries kept) of a directory's bytes."""
    entries: list[DirEntry] = []
    pending: list[tuple[int, int, int, str | None]] = []  # (slot, order, checksum, text)
    for slot in range(len(data) // ENTRY):
        raw = data[slot * ENTRY:(slot + 1) * ENTRY]
        if raw[0] == 0x00:
            break
        if raw[0] == DELETED:
            pending = []
            continue
        if raw[11] == ATTR_LFN:
            pending.append((slot, raw[0], raw[13], _lfn_piece(raw)))
            continue
        (name11, attributes, case, _tenth, _ctime, _cdate, _adate, high, _wtime, _wdate, low,
         size) = _SHORT.unpack(raw)
        if attributes & ATTR_VOLUME and not attributes & ATTR_DIRECTORY:
            pending = []
            continue
        long_name = _assemble_lfn(pending, lfn_checksum(name11))
        slots = [p[0] for p in pending] if long_name is not None else []
        name = long_name if long_name is not None else _short_to_text(name11, case)
        entries.append(DirEntry(name, name11, attributes, (high << 16) | low, size, [*slots, slot]))
        pending = []
    return entries


def _assemble_lfn(pending: list[tuple[int, int, int, str | None]], checksum: int) -> str | None:
    if not pending or not pending[0][1] & LFN_LAST:
        return None
    count = pending[0][1] & 0x1F
    if count == 0 or count != len(pending):
        return None
    pieces: list[str] = []
    for position, (_slot, order, chk, text) in enumerate(pending):
        if (order & 0x1F) != count - position or chk != checksum or text is None:
            return None
        pieces.append(text)
    name = "".join(reversed(pieces))
    return name if name and len(name) <= MAX_NAME else None


def check_name(name: str) -> None:
    """Raise ValueError unless `name` is a file name this code may create."""
    if not name or name in (".", "..") or len(name) > MAX_NAME:
        raise ValueError(f"bad FAT file name {name!r}")
    if any(c in _LFN_FORBIDDEN for c in name) or name != name.rstrip(" ."):
        raise ValueError(f"FAT file name {name!r} has a character FAT cannot store")
    if any(ord(c) > 0xFFFF for c in name):
        raise ValueError(f"FAT file name {name!r} has a character outside UCS-2")


def plain_short_name(name: str) -> tuple[bytes, int] | None:
    """(11-byte short name, case bits) when `name` needs no LFN, else None."""
    base, dot, ext = name.partition(".")
    if dot and "." in ext:
        return None
    if not base or len(base) > 8 or len(ext) > 3 or (dot and not ext):
        return None
    case = 0
    for part, flag in ((base, CASE_LOWER_BASE), (ext, CASE_LOWER_EXT)):
        if part.islower():
            case |= flag
        elif part != part.upper():
            return None  # mixed case needs a long name to keep it
        if any(ord(c) > 127 or ord(c.upper()) not in _SFN_ALLOWED for c in part):
            return None
    return (base.upper().ljust(8) + ext.upper().ljust(3)).encode("ascii"), case


def short_name_for(name: str, taken: set[bytes]) -> bytes:
    """A unique `BASIS~N.EXT` short name for a long `name`, not in `taken`."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem.strip("."):
        stem, ext = name, ""

    def clean(text: str) -> str:
        out = []
        for char in text.upper():
            if char in " .":
                continue
            out.append(char if ord(char) < 128 and ord(char) in _SFN_ALLOWED else "_")
        return "".join(out)

    basis, ext_part = clean(stem.lstrip(".")) or "_", clean(ext)[:3]
    for number in range(1, 1_000_000):
        tail = f"~{number}"
        candidate = (basis[:8 - len(tail)] + tail).ljust(8) + ext_part.ljust(3)
        encoded = candidate.encode("ascii")
        if encoded not in taken:
            return encoded
    raise ValueError(f"no free short name for {name!r}")


def pack_short(short_name: bytes, attributes: int, case: int, first_cluster: int, size: int,
               fat_time: int, fat_date: int) -> bytes:
    """One 32-byte short entry."""
    return _SHORT.pack(short_name, attributes, case, 0, fat_time, fat_date, fat_date,
                       first_cluster >> 16, fat_time, fat_date, first_cluster & 0xFFFF, size)


def make_entries(name: str, taken: set[bytes], attributes: int, first_cluster: int, size: int,
                 fat_time: int, fat_date: int) -> tuple[bytes, bytes]:
    """(bytes of every slot for a new entry named `name`, its short name)."""
    check_name(name)
    plain = plain_short_name(name)
    if plain is not None and plain[0] not in taken:
        short, case = plain
        return pack_short(short, attributes, case, first_cluster, size, fat_time, fat_date), short
    short = short_name_for(name, taken)
    checksum = lfn_checksum(short)
    units = name.encode("utf-16-le")
    count = -(-len(name) // LFN_CHARS)
    padded = units + (b"\0\0" if len(name) % LFN_CHARS else b"")
    padded += b"\xff" * (count * LFN_CHARS * 2 - len(padded))
    slots = bytearray()
    for order in range(count, 0, -1):
        chunk = padded[(order - 1) * 26:order * 26]
        flag = LFN_LAST if order == count else 0
        slots += bytes([order | flag]) + chunk[0:10] + bytes([ATTR_LFN, 0, checksum]) + chunk[10:22] + b"\0\0" + chunk[22:26]
    slots += pack_short(short, attributes, 0, first_cluster, size, fat_time, fat_date)
    return bytes(slots), short


def set_cluster_and_size(raw: bytes, first_cluster: int, size: int, fat_time: int, fat_date: int) -> bytes:
    """A short entry `raw` pointing at new data (name, attributes and creation time kept)."""
    out = bytearray(raw)
    struct.pack_into("<H", out, 20, first_cluster >> 16)
    struct.pack_into("<HHHI", out, 22, fat_time, fat_date, first_cluster & 0xFFFF, size)
    struct.pack_into("<H", out, 18, fat_date)
    return bytes(out)


def fat_timestamp(year: int, month: int, day: int, hour: int, minute: int, second: int) -> tuple[int, int]:
    """(time, date) words of a FAT timestamp; years outside 1980-2107 are clamped."""
    year = min(max(year, 1980), 2107)
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day
