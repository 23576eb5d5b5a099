"""Card files for `lab up --cards`: the MBR reader takes hostile input and says which card is wrong."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.lab.cards import CardError, card_file, check_cards, parse_mbr, read_layout

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
    layout = parse_mbr(PI_OS, SIZE)
    assert (layout.boot.offset, layout.boot.size) == (8192 * 512, 16384 * 512)
    assert (layout.root.index, layout.root.offset) == (2, 24576 * 512)


@pytest.mark.parametrize(("sector", "message"), [
    (b"", "no MBR"),
    (mbr((0x0C, 8192, 16384), signature=b"\x00\x00"), "no MBR"),
    (mbr((0xEE, 1, 1000)), "GPT"),
    (mbr((0x0C, 8192, 16384), (0x83, 20000, 1000)), "overlap"),
    (mbr((0x0C, 8192, 16384), (0x83, 24576, SIZE)), "outside"),
    (mbr((0x0C, 8192, 0), (0x83, 24576, 1000)), "outside"),
    (mbr((0x0C, 0, 10), (0x83, 24576, 1000)), "outside"),
    (mbr((0x83, 8192, 16384), (0x83, 24576, 1000)), "partition 1 is not a FAT"),
    (mbr((0x0C, 8192, 16384)), "partition 2 is not a Linux"),
    (mbr((0x0C, 8192, 16384), (0x07, 24576, 1000)), "partition 2 is not a Linux"),
])
def test_a_wrong_card_is_one_line_with_the_fix(sector: bytes, message: str) -> None:
    with pytest.raises(CardError, match=message) as info:
        parse_mbr(sector, SIZE, "cards/pi-1.img")
    text = str(info.value)
    assert "\n" not in text and text.startswith("cards/pi-1.img") and "fix:" in text


@given(st.binary(min_size=0, max_size=600), st.integers(min_value=0, max_value=1 << 40))
def test_any_first_sector_is_a_layout_or_a_card_error(sector: bytes, size: int) -> None:
    try:
        layout = parse_mbr(sector, size)
    except CardError:
        return
    assert layout.root.offset + layout.root.size <= size
    assert layout.boot.offset + layout.boot.size <= layout.root.offset or \
        layout.root.offset + layout.root.size <= layout.boot.offset


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
    with pytest.raises(CardError, match=r"pi-1\.img has no MBR"):
        check_cards(tmp_path, ["master-board", "pi-1"])
    assert read_layout(tmp_path / "master.img").root.index == 2
