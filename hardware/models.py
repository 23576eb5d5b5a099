"""Raspberry Pi model data: revision codes and MAC address prefixes.

A Pi reports a revision code in `/proc/cpuinfo` ("Revision : c03111"). Codes
from before the Pi 2 are a plain sequence (0002..0015); later ones are a bit
field `NOQuuuWuFMMMCCCCPPPPTTTTTTTTRRRR` (Raspberry Pi documentation,
"Raspberry Pi revision codes"). This module decodes both into a
`RevisionInfo`; whether a board can run the cluster is `hardware.support`.

The decoder is pure: a string in, a record or one `MalformedRevision` out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from foundation.errors import UsageError


class MalformedRevision(UsageError):
    """A revision code that is not hex, too long, or not a known Raspberry Pi code."""


class MalformedMac(UsageError):
    """A MAC address that is not six octets."""


# New-style field tables, exactly as the official documentation lists them.
MEMORY_MB: dict[int, int | None] = {
    0: 256,
    1: 512,
    2: 1024,
    3: 2048,
    4: 4096,
    5: 8192,
    6: 16384,
    7: None,  # "Other": the firmware parameter rpi-sdram-size-gbit says how much
}

MANUFACTURERS: dict[int, str] = {
    0: "Sony UK",
    1: "Egoman",
    2: "Embest",
    3: "Sony Japan",
    4: "Embest",
    5: "Stadium",
}

PROCESSORS: dict[int, str] = {
    0: "BCM2835",
    1: "BCM2836",
    2: "BCM2837",
    3: "BCM2711",
    4: "BCM2712",
}

BOARD_TYPES: dict[int, str] = {
    0x00: "A",
    0x01: "B",
    0x02: "A+",
    0x03: "B+",
    0x04: "2B",
    0x05: "Alpha (early prototype)",
    0x06: "CM1",
    0x08: "3B",
    0x09: "Zero",
    0x0A: "CM3",
    0x0C: "Zero W",
    0x0D: "3B+",
    0x0E: "3A+",
    0x0F: "Internal use only",
    0x10: "CM3+",
    0x11: "4B",
    0x12: "Zero 2 W",
    0x13: "400",
    0x14: "CM4",
    0x15: "CM4S",
    0x16: "Internal use only",
    0x17: "5",
    0x18: "CM5",
    0x19: "500/500+",
    0x1A: "CM5 Lite",
    0x1B: "CM0",
}

# What each SoC's CPU cores are; the architecture decides 32- or 64-bit.
SOC_CPU: dict[str, tuple[str, str]] = {
    "BCM2835": ("ARM1176JZF-S", "armv6l"),
    "BCM2836": ("Cortex-A7", "armv7l"),
    "BCM2837": ("Cortex-A53", "aarch64"),
    "BCM2711": ("Cortex-A72", "aarch64"),
    "BCM2712": ("Cortex-A76", "aarch64"),
}


@dataclass(frozen=True)
class OldStyleBoard:
    """One row of the old-style (pre Pi 2) revision table."""

    model: str
    """Board type as the table names it (B, A, B+, A+, CM1)."""
    pcb_revision: str
    """PCB revision, e.g. "2.0"."""
    memory_mb: int
    """RAM in MB (0015 shipped with 256 or 512 MB; the smaller is recorded)."""
    manufacturer: str
    """Who built it."""


OLD_STYLE: dict[int, OldStyleBoard] = {
    0x0002: OldStyleBoard("B", "1.0", 256, "Egoman"),
    0x0003: OldStyleBoard("B", "1.0", 256, "Egoman"),
    0x0004: OldStyleBoard("B", "2.0", 256, "Sony UK"),
    0x0005: OldStyleBoard("B", "2.0", 256, "Qisda"),
    0x0006: OldStyleBoard("B", "2.0", 256, "Egoman"),
    0x0007: OldStyleBoard("A", "2.0", 256, "Egoman"),
    0x0008: OldStyleBoard("A", "2.0", 256, "Sony UK"),
    0x0009: OldStyleBoard("A", "2.0", 256, "Qisda"),
    0x000D: OldStyleBoard("B", "2.0", 512, "Egoman"),
    0x000E: OldStyleBoard("B", "2.0", 512, "Sony UK"),
    0x000F: OldStyleBoard("B", "2.0", 512, "Egoman"),
    0x0010: OldStyleBoard("B+", "1.2", 512, "Sony UK"),
    0x0011: OldStyleBoard("CM1", "1.0", 512, "Sony UK"),
    0x0012: OldStyleBoard("A+", "1.1", 256, "Sony UK"),
    0x0013: OldStyleBoard("B+", "1.2", 512, "Embest"),
    0x0014: OldStyleBoard("CM1", "1.0", 512, "Embest"),
    0x0015: OldStyleBoard("A+", "1.1", 256, "Embest"),
}

NEW_FLAG = 1 << 23
WARRANTY_BIT = 1 << 25
OLD_STYLE_WARRANTY_BIT = 1 << 24  # over-volted old boards report e.g. 1000002


@dataclass(frozen=True)
class RevisionInfo:
    """What a revision code says about a board."""

    revision: str
    """The code as six (or more) lower-case hex digits, e.g. "c03111"."""
    new_style: bool
    """True for bit-field codes (Pi 2 and later), False for the old sequence."""
    board_type: str
    """Board type from the table: "4B", "Zero 2 W", "B+", ... or "unknown type 0x.."."""
    type_code: int | None
    """The numeric TTTTTTTT field (None for old-style codes)."""
    pcb_revision: str
    """PCB revision, e.g. "1.1"."""
    soc: str
    """Processor: BCM2835, BCM2836, BCM2837, BCM2711, BCM2712, or "unknown (n)"."""
    cpu: str
    """CPU core of that SoC, e.g. "Cortex-A72" ("unknown" if the SoC is unknown)."""
    arch: str
    """CPU architecture the cores implement: armv6l, armv7l or aarch64 ("unknown")."""
    memory_mb: int | None
    """RAM in MB; None when the code says "Other"."""
    manufacturer: str
    """Who built the board, or "unknown (n)"."""
    warranty_void: bool
    """The warranty bit (set by over-volting/overclocking)."""

    @property
    def model(self) -> str:
        """A human name: "Raspberry Pi 4B", "Raspberry Pi Zero 2 W", "Raspberry Pi CM4"."""
        if self.board_type.startswith(("unknown", "Internal", "Alpha")):
            return f"Raspberry Pi ({self.board_type})"
        if self.board_type == "2B" and self.soc == "BCM2837":
            return "Raspberry Pi 2B (with BCM2837)"
        return f"Raspberry Pi {self.board_type}"


_HEX = re.compile(r"(?:0[xX])?([0-9a-fA-F]{1,8})")


def decode_revision(text: str) -> RevisionInfo:
    """Decode a revision code as found in /proc/cpuinfo ("a02082", "0xa02082", "0010").

    Raises MalformedRevision for anything that is not a documented code.
    """
    stripped = text.strip()
    match = _HEX.fullmatch(stripped)
    if match is None:
        shown = stripped[:40].encode("unicode_escape").decode("ascii")
        raise MalformedRevision(
            f"revision code {shown!r} is not 1-8 hex digits; "
            "copy it from the 'Revision' line of /proc/cpuinfo (e.g. c03111)"
        )
    code = int(match.group(1), 16)
    if code & NEW_FLAG:
        return _decode_new_style(code)
    return _decode_old_style(code)


def _decode_new_style(code: int) -> RevisionInfo:
    type_code = (code >> 4) & 0xFF
    soc_code = (code >> 12) & 0xF
    soc = PROCESSORS.get(soc_code, f"unknown ({soc_code})")
    cpu, arch = SOC_CPU.get(soc, ("unknown", "unknown"))
    maker_code = (code >> 16) & 0xF
    return RevisionInfo(
        revision=f"{code:06x}",
        new_style=True,
        board_type=BOARD_TYPES.get(type_code, f"unknown type 0x{type_code:02x}"),
        type_code=type_code,
        pcb_revision=f"1.{code & 0xF}",
        soc=soc,
        cpu=cpu,
        arch=arch,
        memory_mb=MEMORY_MB[(code >> 20) & 0x7],
        manufacturer=MANUFACTURERS.get(maker_code, f"unknown ({maker_code})"),
        warranty_void=bool(code & WARRANTY_BIT),
    )


def _decode_old_style(code: int) -> RevisionInfo:
    warranty_void = bool(code & OLD_STYLE_WARRANTY_BIT)
    base = code & ~OLD_STYLE_WARRANTY_BIT
    board = OLD_STYLE.get(base)
    if board is None:
        raise MalformedRevision(
            f"revision code {code:04x} is neither a new-style code (bit 23 unset) "
            "nor one of the old-style codes 0002-0015; check the 'Revision' line of /proc/cpuinfo"
        )
    cpu, arch = SOC_CPU["BCM2835"]
    return RevisionInfo(
        revision=f"{code:04x}",
        new_style=False,
        board_type=board.model,
        type_code=None,
        pcb_revision=board.pcb_revision,
        soc="BCM2835",
        cpu=cpu,
        arch=arch,
        memory_mb=board.memory_mb,
        manufacturer=board.manufacturer,
        warranty_void=warranty_void,
    )


_CPUINFO_REVISION = re.compile(r"^Revision\s*:\s*(\S+)\s*$", re.MULTILINE)


def cpuinfo_revision(cpuinfo: str) -> str | None:
    """The revision code from /proc/cpuinfo text, or None (not a Pi, or a kernel without it)."""
    match = _CPUINFO_REVISION.search(cpuinfo)
    return match.group(1) if match else None


def device_tree_revision(raw: bytes) -> str | None:
    """/proc/device-tree/system/linux,revision (a 32-bit big-endian cell) as hex, or None.

    Kernels without the Raspberry Pi patches (mainline, Ubuntu) print no
    Revision line in /proc/cpuinfo; the firmware still puts the code here.
    """
    if len(raw) != 4:
        return None
    return f"{int.from_bytes(raw, 'big'):x}"


def device_tree_model(raw: bytes) -> str:
    """/proc/device-tree/model is NUL-terminated; return it as clean text."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


# MA-L (OUI) assignments to Raspberry Pi in the IEEE public registry
# (standards-oui.ieee.org/oui/oui.txt, checked against the public list in 2024).
# The IEEE also lists a CID 3A-35-41 for Raspberry Pi (Trading) Ltd; a CID is
# not used for globally unique addresses, so boards never carry it on Ethernet.
RASPBERRY_PI_OUIS: dict[str, str] = {
    "b8:27:eb": "Raspberry Pi Foundation",
    "dc:a6:32": "Raspberry Pi Trading Ltd",
    "e4:5f:01": "Raspberry Pi Trading Ltd",
    "28:cd:c1": "Raspberry Pi Trading Ltd",
    "d8:3a:dd": "Raspberry Pi Trading Ltd",
    "2c:cf:67": "Raspberry Pi (Trading) Ltd",
}

_MAC_DIGITS = re.compile(r"[0-9a-fA-F]{12}")


def normalise_mac(mac: str | bytes) -> str:
    """"DC-A6-32-01-02-03", "dca6.3201.0203", b'\\xdc...' -> "dc:a6:32:01:02:03"."""
    if isinstance(mac, bytes | bytearray):
        if len(mac) != 6:
            raise MalformedMac(f"a MAC address has 6 octets, got {len(mac)}")
        return ":".join(f"{octet:02x}" for octet in mac)
    digits = re.sub(r"[:\-.\s]", "", mac)
    if not _MAC_DIGITS.fullmatch(digits):
        shown = mac[:40].encode("unicode_escape").decode("ascii")
        raise MalformedMac(f"{shown!r} is not a MAC address; write it as aa:bb:cc:dd:ee:ff")
    digits = digits.lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def mac_vendor(mac: str | bytes) -> str | None:
    """The Raspberry Pi company a MAC belongs to, or None for any other vendor."""
    return RASPBERRY_PI_OUIS.get(normalise_mac(mac)[:8])


def is_raspberry_pi_mac(mac: str | bytes) -> bool:
    """True when the MAC's OUI is one of Raspberry Pi's."""
    return mac_vendor(mac) is not None
