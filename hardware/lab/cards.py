"""Boards that boot from SD-card files (`lab up --cards DIR`): the card's layout and its loop devices.

A card file is what `appliance flash` writes to a card (Raspberry Pi OS's layout): an MBR
with a FAT32 boot partition first and an ext4 root partition second. Board `pi-N` boots
from `DIR/pi-N.img`, the master board from `DIR/master.img`.

The root partition is attached read-write (`losetup --offset --sizelimit`, one loop device
for exactly that partition) and mounted as the board's root: the card IS the board's disk,
as on a Pi, so what the board writes (cloud-init's first-boot state, SSH host keys) is on
the card afterwards, and no overlay is needed. The launcher lazily detaches the loop device
right after mounting it (the kernel then frees it with the last unmount, i.e. when the
board's mount namespace dies at power-off), and `lab down` also detaches any loop device
still backed by a card file (`leftover_loops`), so none is left behind.

`parse_mbr` is pure and takes hostile input: any malformed table is one CardError.
"""

from __future__ import annotations

import json
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import ApplianceError

SECTOR = 512
FAT_TYPES = frozenset({0x0B, 0x0C, 0x0E, 0x06})
"""MBR partition types of FAT boot partitions (Pi OS uses 0x0c, FAT32 LBA)."""
LINUX_TYPE = 0x83
GPT_PROTECTIVE = 0xEE


class CardError(ApplianceError, ValueError):
    """A card file the lab cannot boot (missing, wrong layout); the message names the file and the fix."""


@dataclass(frozen=True)
class Partition:
    """One primary partition of an MBR."""

    index: int
    """1-4."""
    kind: int
    """The partition type byte."""
    start: int
    """First sector."""
    sectors: int
    """Length in sectors."""

    @property
    def offset(self) -> int:
        """Start in bytes."""
        return self.start * SECTOR

    @property
    def size(self) -> int:
        """Length in bytes."""
        return self.sectors * SECTOR


@dataclass(frozen=True)
class CardLayout:
    """Where a card's boot and root partitions are."""

    boot: Partition
    """Partition 1: FAT32 `bootfs` (cmdline.txt, config.txt, the cloud-init seed)."""
    root: Partition
    """Partition 2: ext4 `rootfs`."""


def parse_mbr(sector: bytes, image_size: int, where: str = "card") -> CardLayout:
    """The boot and root partitions of a Pi OS card from its first sector; CardError if it is not one."""
    fix = "fix: write the card with `appliance flash` from a Raspberry Pi OS image"
    if len(sector) < SECTOR or sector[510:512] != b"\x55\xaa":
        raise CardError(f"{where} has no MBR partition table; {fix}")
    parts = []
    for index in range(4):
        entry = sector[446 + 16 * index: 462 + 16 * index]
        kind = entry[4]
        start, sectors = struct.unpack("<II", entry[8:16])
        if kind == GPT_PROTECTIVE:
            raise CardError(f"{where} has a GPT partition table; Raspberry Pi OS cards use MBR; {fix}")
        if kind:
            parts.append(Partition(index + 1, kind, start, sectors))
    for part in parts:
        if part.start == 0 or part.sectors == 0 or part.offset + part.size > image_size:
            raise CardError(f"{where}: partition {part.index} (sectors {part.start}+{part.sectors}) is empty "
                            f"or lies outside the {image_size}-byte file; {fix}")
    ordered = sorted(parts, key=lambda p: p.start)
    for first, second in zip(ordered, ordered[1:], strict=False):
        if first.start + first.sectors > second.start:
            raise CardError(f"{where}: partitions {first.index} and {second.index} overlap; {fix}")
    by_index = {p.index: p for p in parts}
    boot, root = by_index.get(1), by_index.get(2)
    if boot is None or boot.kind not in FAT_TYPES:
        raise CardError(f"{where}: partition 1 is not a FAT boot partition; {fix}")
    if root is None or root.kind != LINUX_TYPE:
        raise CardError(f"{where}: partition 2 is not a Linux root partition; {fix}")
    return CardLayout(boot=boot, root=root)


def card_file(cards: Path, board: str) -> Path:
    """The card file a board boots from: DIR/pi-N.img, or DIR/master.img for the master board."""
    return cards / ("master.img" if board == "master-board" else f"{board}.img")


def read_layout(path: Path) -> CardLayout:
    """Read and check a card file's partition table."""
    try:
        with open(path, "rb") as f:
            sector = f.read(SECTOR)
            size = f.seek(0, 2)
    except FileNotFoundError:
        raise CardError(f"{path} does not exist; fix: write it with `appliance flash IMAGE {path}`, "
                        "or leave out --cards") from None
    except IsADirectoryError:
        raise CardError(f"{path} is a directory, not a card file; fix: point --cards at a directory of .img files") from None
    return parse_mbr(sector, size, str(path))


def check_cards(cards: Path, boards: list[str]) -> dict[str, CardLayout]:
    """Every board's card layout, or one line naming the first card that is missing or wrong."""
    if not cards.is_dir():
        raise CardError(f"--cards {cards} is not a directory; fix: give the directory holding "
                        "master.img and pi-1.img, pi-2.img, …")
    return {board: read_layout(card_file(cards, board)) for board in boards}


def leftover_loops(cards: Path) -> list[str]:
    """Loop devices still backed by a file in `cards` (e.g. after a SIGKILLed lab)."""
    out = subprocess.run(["losetup", "--list", "--json", "--output", "NAME,BACK-FILE"],
                         capture_output=True, text=True, check=False).stdout
    try:
        devices = json.loads(out or "{}").get("loopdevices", [])
    except json.JSONDecodeError:
        return []
    folder = str(cards.resolve())
    return [d["name"] for d in devices
            if str(d.get("back-file") or "").removesuffix(" (deleted)").startswith(folder + "/")]


def detach(devices: list[str]) -> None:
    """Detach loop devices (lazily when still mounted: the kernel frees them at the last unmount)."""
    for device in devices:
        subprocess.run(["losetup", "--detach", device], capture_output=True, check=False)
