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

An image is smaller than the card it is written to; Pi OS grows its root partition and file
system to the end of the card at first boot (`resize` on its cmdline.txt). The lab does the
same at power-on (`grow_root`): sfdisk moves partition 2's end to the end of the card file,
then e2fsck and resize2fs grow the ext4 through a loop device (offline: online growth needs
CAP_SYS_RESOURCE, which a container may lack). It is idempotent and finishes an interrupted
growth: it looks at the file system's own size, not at a flag.

`card_layout` and `ext4_size` are pure and take hostile input (through hardware.partitions,
the image builder's codec too): any malformed table is one CardError.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import ApplianceError
from hardware.partitions import MalformedPartitionTable, Partition, check_fits, parse_table

HEAD_BYTES = 1 << 20
"""How much of a card file holds its partition table (MBR, or GPT header and entries)."""
GROW_SLACK = 16 << 20
"""A root partition or file system this close to its room is left as it is (alignment leftovers)."""
EXT4_MAGIC = 0xEF53



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


def ext4_size(superblock: bytes) -> int | None:
    """Bytes an ext2/3/4 file system spans, from its superblock (the 1024 bytes at offset 1024 of
    the partition); None when it is not one."""
    if len(superblock) < 0x154 or struct.unpack_from("<H", superblock, 0x38)[0] != EXT4_MAGIC:
        return None
    blocks_lo, = struct.unpack_from("<I", superblock, 0x04)
    log_block, = struct.unpack_from("<I", superblock, 0x18)
    incompat, = struct.unpack_from("<I", superblock, 0x60)
    blocks_hi = struct.unpack_from("<I", superblock, 0x150)[0] if incompat & 0x80 else 0  # 64bit feature
    if log_block > 6:  # blocks of 1 KiB … 64 KiB
        return None
    return ((blocks_hi << 32) | blocks_lo) * (1024 << log_block)


def grow_root(path: Path) -> CardLayout:
    """Grow the card's root partition and ext4 to the end of the card file, as Pi OS's first boot
    does (see the module docstring); the layout after. CardError when a tool fails."""
    layout = read_layout(path)
    size = os.path.getsize(path)
    if layout.root.end + GROW_SLACK <= size:
        _tool(["sfdisk", "--no-reread", "--no-tell-kernel", "--quiet", "-N", "2", str(path)], path, input=", +\n")
        layout = read_layout(path)
    with open(path, "rb") as card:
        card.seek(layout.root.start + 1024)
        spans = ext4_size(card.read(1024))
    if spans is None or spans + GROW_SLACK > layout.root.size:
        return layout
    loop = _tool(["losetup", "--find", "--show", "--offset", str(layout.root.start), "--sizelimit",
                  str(layout.root.size), str(path)], path).strip()
    try:
        # -p repairs what a power cut leaves (a board's power-off is a SIGKILL) and refuses more.
        _tool(["e2fsck", "-f", "-p", loop], path)
        _tool(["resize2fs", loop], path)
    finally:
        subprocess.run(["losetup", "--detach", loop], capture_output=True, check=False)
    return layout


def _tool(command: list[str], card: Path, input: str | None = None) -> str:
    done = subprocess.run(command, input=input, capture_output=True, text=True, check=False)
    # e2fsck -p: 1 means errors were corrected, which is fine.
    if done.returncode != 0 and not (command[0] == "e2fsck" and done.returncode == 1):
        raise CardError(f"{card}: growing the root partition to the card failed ({command[0]}: "
                        f"{(done.stderr or done.stdout).strip()[-200:]}); fix: flash the card again")
    return done.stdout


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
