"""Card files for `lab up --cards`: the MBR reader takes hostile input and says which card is wrong; the
root grows to the card at first power-on, as Pi OS does."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.lab.cards import (
    CardError,
    card_file,
    card_layout,
    check_cards,
    ext4_size,
    grow_root,
    read_layout,
)

SIZE = 64 * 1024 * 1024


def mbr(*entries: tuple[int, int, int], signature: bytes = b"\x55\xaa") -> bytes:
    """An MBR sector with (type, start, sectors) entries."""
    sector = bytearray(512)
    for index, (kind, start, sectors) in enumerate(entries):
        entry = bytearray(16)
        entry[4] = kind
        entry[8:16] = struct.pack("<II", start, sectors)
        sector[446 + 16 * index: 462 + 16 * index] = entry
    sector[510:512] = signature
    return bytes(sector)


PI_OS = mbr((0x0C, 8192, 16384), (0x83, 24576, 100000))


def test_a_pi_os_layout_is_read() -> None:
    layout = card_layout(PI_OS, SIZE)
    assert (layout.boot.start, layout.boot.size) == (8192 * 512, 16384 * 512)
    assert (layout.root.index, layout.root.start) == (2, 24576 * 512)


@pytest.mark.parametrize(("sector", "message"), [
    (b"", "512-byte MBR"),
    (mbr((0x0C, 8192, 16384), signature=b"\x00\x00"), "0x55AA signature"),
    (mbr((0xEE, 1, 1000)), "GPT"),
    (mbr((0x0C, 8192, 16384), (0x83, 20000, 1000)), "overlap"),
    (mbr((0x0C, 8192, 16384), (0x83, 24576, SIZE)), "beyond the end"),
    (mbr((0x0C, 8192, 0), (0x83, 24576, 1000)), "zero|empty|length"),
    (mbr((0x0C, 0, 10), (0x83, 24576, 1000)), "sector 0|overlap|MBR"),
    (mbr((0x83, 8192, 16384), (0x83, 24576, 1000)), "partition 1 is not a FAT"),
    (mbr((0x0C, 8192, 16384)), "partition 2 is not a Linux"),
    (mbr((0x0C, 8192, 16384), (0x07, 24576, 1000)), "partition 2 is not a Linux"),
])
def test_a_wrong_card_is_one_line_with_the_fix(sector: bytes, message: str) -> None:
    with pytest.raises(CardError, match=message) as info:
        card_layout(sector, SIZE, "cards/pi-1.img")
    text = str(info.value)
    assert "\n" not in text and text.startswith("cards/pi-1.img") and "fix:" in text


@given(st.binary(min_size=0, max_size=600), st.integers(min_value=0, max_value=1 << 40))
def test_any_first_sector_is_a_layout_or_a_card_error(sector: bytes, size: int) -> None:
    try:
        layout = card_layout(sector, size)
    except CardError:
        return
    assert layout.root.end <= size
    assert layout.boot.end <= layout.root.start or layout.root.end <= layout.boot.start


def test_card_files_are_named_per_board(tmp_path: Path) -> None:
    assert card_file(tmp_path, "pi-3") == tmp_path / "pi-3.img"
    assert card_file(tmp_path, "master-board") == tmp_path / "master.img"


def test_missing_or_broken_cards_are_named(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="is not a directory"):
        check_cards(tmp_path / "nope", ["pi-1"])
    (tmp_path / "master.img").write_bytes(PI_OS + bytes(SIZE - 512))
    with pytest.raises(CardError, match=r"pi-1\.img does not exist; fix: write it with `appliance flash"):
        check_cards(tmp_path, ["master-board", "pi-1"])
    (tmp_path / "pi-1.img").write_bytes(b"not a card")
    with pytest.raises(CardError, match=r"pi-1\.img: image is only 10 bytes long"):
        check_cards(tmp_path, ["master-board", "pi-1"])
    assert read_layout(tmp_path / "master.img").root.index == 2


@given(st.binary(min_size=0, max_size=2048))
def test_any_superblock_is_a_size_or_none(superblock: bytes) -> None:
    size = ext4_size(superblock)
    assert size is None or size >= 0


def _small_card(path: Path, root_mib: int, card_mib: int) -> None:
    """A card whose ext4 root partition is `root_mib` long, in a file of `card_mib`."""
    subprocess.run(["truncate", "-s", f"{card_mib}M", str(path)], check=True)
    subprocess.run(["sfdisk", "-q", str(path)], check=True, capture_output=True, text=True,
                   input=f"label: dos\nstart=2048, size=16384, type=c\nstart=18432, size={root_mib * 2048}, type=83\n")
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-E", f"offset={18432 * 512}", str(path),
                    f"{root_mib * 1024}k"], check=True)


def _fs_bytes(path: Path, offset: int) -> int:
    """The file system's size as dumpe2fs reads it."""
    out = subprocess.run(["dumpe2fs", "-h", f"{path}?offset={offset}"], capture_output=True, text=True,
                         check=True).stdout
    fields = {line.split(":")[0]: line.split(":")[1].strip() for line in out.splitlines() if ":" in line}
    return int(fields["Block count"]) * int(fields["Block size"])


def _fsck_clean(path: Path, start: int, size: int) -> bool:
    loop = subprocess.run(["losetup", "--find", "--show", "--offset", str(start), "--sizelimit", str(size),
                           str(path)], capture_output=True, text=True, check=True).stdout.strip()
    try:
        return subprocess.run(["e2fsck", "-fn", loop], capture_output=True).returncode == 0
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)


@pytest.mark.root
def test_the_root_grows_to_the_card_once_as_pi_os_first_boot(tmp_path: Path) -> None:
    card = tmp_path / "pi-1.img"
    _small_card(card, root_mib=64, card_mib=256)  # an image written to a bigger card
    with open(card, "rb") as handle:
        handle.seek(18432 * 512 + 1024)
        assert ext4_size(handle.read(1024)) == 64 * 1024 * 1024
    layout = grow_root(card)
    assert layout.root.start == 18432 * 512 and layout.root.end >= 255 * 1024 * 1024
    assert layout.root.size - 4 * 1024 * 1024 <= _fs_bytes(card, layout.root.start) <= layout.root.size
    assert _fsck_clean(card, layout.root.start, layout.root.size)
    before = card.stat().st_mtime_ns
    assert grow_root(card) == layout and card.stat().st_mtime_ns == before  # grown: nothing to do again
    # A growth cut off after the partition moved (a power cut) is finished at the next power-on.
    small = tmp_path / "pi-2.img"
    _small_card(small, root_mib=64, card_mib=256)
    subprocess.run(["sfdisk", "--no-reread", "-q", "-N", "2", str(small)], input=", +\n", text=True, check=True,
                   capture_output=True)
    assert _fs_bytes(small, 18432 * 512) == 64 * 1024 * 1024
    grown = grow_root(small)
    assert grown.root.size - 4 * 1024 * 1024 <= _fs_bytes(small, grown.root.start) <= grown.root.size
