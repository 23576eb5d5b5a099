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

`card_layout` is pure and takes hostile input (through hardware.partitions, the image
builder's codec too): any malformed table is one CardError.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import ApplianceError
from hardware.partitions import MalformedPartitionTable, Partition, check_fits, parse_table

HEAD_BYTES = 1 << 20
"""How much of a card file holds its partition table (MBR, or GPT header and entries)."""



class CardError(ApplianceError, ValueError):
    """A card file is missing or is not a Raspberry Pi OS card; the message names the file and the fix."""


@dataclass(frozen=True)
class CardLayout:
    """Where a card's boot and root partitions are."""

    boot: Partition
    """Partition 1: FAT32 `bootfs` (cmdline.txt, config.txt, the cloud-init seed)."""
    root: Partition
    """Partition 2: ext4 `rootfs`."""


def card_layout(head: bytes, image_size: int, where: str = "card") -> CardLayout:
    """The boot and root partitions of a Pi OS card from its first bytes; CardError if it is not one."""
    fix = "fix: write the card with `appliance flash` from a Raspberry Pi OS image"
    try:
        table = parse_table(head)
        check_fits(table, image_size)
    except MalformedPartitionTable as error:
        raise CardError(f"{where}: {error}; {fix}") from None
    if table.scheme != "mbr":
        raise CardError(f"{where} has a GPT partition table; Raspberry Pi OS cards use MBR; {fix}")
    by_index = {p.index: p for p in table.partitions}
    boot, root = by_index.get(1), by_index.get(2)
    if boot is None or boot.kind != "fat":
        raise CardError(f"{where}: partition 1 is not a FAT boot partition; {fix}")
    if root is None or root.kind != "linux":
        raise CardError(f"{where}: partition 2 is not a Linux root partition; {fix}")
    return CardLayout(boot=boot, root=root)


def card_file(cards: Path, board: str) -> Path:
    """The card file a board boots from: DIR/pi-N.img, or DIR/master.img for the master board."""
    return cards / ("master.img" if board == "master-board" else f"{board}.img")


def read_layout(path: Path) -> CardLayout:
    """Read and check a card file's partition table."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
            size = f.seek(0, 2)
    except FileNotFoundError:
        raise CardError(f"{path} does not exist; fix: write it with `appliance flash IMAGE {path}`, "
                        "or leave out --cards") from None
    except IsADirectoryError:
        raise CardError(f"{path} is a directory, not a card file; fix: point --cards at a directory of .img files") from None
    return card_layout(head, size, str(path))


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
