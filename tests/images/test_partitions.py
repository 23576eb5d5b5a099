"""MBR and GPT parsing: real tables written by sfdisk, crafted ones, and fuzzing."""

from __future__ import annotations

import struct
import subprocess
import uuid
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.partitions import (
    GPT_BASIC_DATA,
    MalformedPartitionTable,
    PartitionTable,
    check_fits,
    parse_table,
)
from tests.images.fat_tools import need

MIB = 1024 * 1024


def _sfdisk(path: Path, size_mib: int, script: str) -> bytes:
    need("sfdisk")
    subprocess.run(["truncate", "-s", f"{size_mib}M", str(path)], check=True)
    subprocess.run(["sfdisk", "-q", str(path)], input=script, text=True, check=True, capture_output=True)
    with open(path, "rb") as handle:
        return handle.read(MIB)


def test_pi_os_mbr(tmp_path: Path) -> None:
    head = _sfdisk(tmp_path / "pi.img", 64, "label: dos\nlabel-id: 0x6c3f2b21\nstart=8192, size=65536, type=c\nstart=73728, type=83\n")
    table = parse_table(head)
    assert table.scheme == "mbr" and table.disk_id == "6c3f2b21"
    assert table.boot().start == 8192 * 512 and table.boot().size == 32 * MIB and table.boot().type == "0x0c"
    assert table.root().index == 2 and table.root().end == 64 * MIB
    check_fits(table, 64 * MIB)
    with pytest.raises(MalformedPartitionTable, match="beyond the end"):
        check_fits(table, 40 * MIB)


def test_gpt(tmp_path: Path) -> None:
    head = _sfdisk(tmp_path / "gpt.img", 64, "label: gpt\nstart=2048, size=65536, type=U, name=\"boot\"\nstart=67584, size=40000, type=L, name=\"root\"\n")
    table = parse_table(head)
    assert table.scheme == "gpt"
    assert table.boot().label == "boot" and table.boot().start == 2048 * 512
    assert table.root().label == "root"
    check_fits(table, 64 * MIB)
    with pytest.raises(MalformedPartitionTable, match="truncated"):
        check_fits(table, 60 * MIB)  # the backup GPT at the end is gone


def _mbr(*entries: tuple[int, int, int]) -> bytes:
    sector = bytearray(512)
    for number, (ptype, first, count) in enumerate(entries):
        struct.pack_into("<B3sB3sII", sector, 446 + 16 * number, 0, b"", ptype, b"", first, count)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


@pytest.mark.parametrize(("entries", "message"), [
    (((0x0C, 8192, 1000), (0x83, 8500, 1000)), "overlap"),
    (((0x0C, 8192, 0),), "zero-length"),
    (((0x0C, 0, 100),), "sector 0"),
    ((), "no partitions"),
])
def test_crafted_mbr(entries: tuple[tuple[int, int, int], ...], message: str) -> None:
    with pytest.raises(MalformedPartitionTable, match=message):
        parse_table(_mbr(*entries))


def test_unknown_layouts() -> None:
    with pytest.raises(MalformedPartitionTable, match="0x55AA"):
        parse_table(bytes(4096))
    with pytest.raises(MalformedPartitionTable, match="no FAT boot partition"):
        parse_table(_mbr((0x83, 2048, 1000))).boot()
    with pytest.raises(MalformedPartitionTable, match="no Linux root"):
        parse_table(_mbr((0x0C, 2048, 1000))).root()
    fat_boot_sector = bytearray(512)
    fat_boot_sector[0:3] = b"\xeb\x58\x90"
    fat_boot_sector[446] = 0x33  # boot code, not a table
    fat_boot_sector[450] = 0x0C
    fat_boot_sector[510:512] = b"\x55\xaa"
    with pytest.raises(MalformedPartitionTable, match="bare file system"):
        parse_table(bytes(fat_boot_sector))


def _gpt(entries: list[tuple[str, int, int]], count: int = 128, tamper: str = "") -> bytes:
    disk = bytearray(34 * 512)
    disk[0:512] = _mbr((0xEE, 1, 0xFFFFFFFF))
    array_bytes = bytearray(count * 128)
    for number, (ptype, first, last) in enumerate(entries):
        struct.pack_into("<16s16sQQQ72s", array_bytes, number * 128, uuid.UUID(ptype).bytes_le,
                         uuid.uuid4().bytes_le, first, last, 0, "p".encode("utf-16-le"))
    if tamper != "entries":
        entries_crc = zlib.crc32(array_bytes)
    else:
        entries_crc = 0
    header = bytearray(struct.pack("<8sIII4sQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, b"\0" * 4, 1,
                                   200_000, 34, 199_966, uuid.uuid4().bytes_le, 2, count, 128, entries_crc))
    struct.pack_into("<I", header, 16, zlib.crc32(header) if tamper != "header" else 1)
    disk[512:512 + 92] = header
    disk[1024:1024 + min(len(array_bytes), 32 * 512)] = array_bytes[:32 * 512]
    return bytes(disk)


def test_crafted_gpt() -> None:
    good = [(GPT_BASIC_DATA, 2048, 4095), ("0fc63daf-8483-4772-8e79-3d69d8477de4", 4096, 9000)]
    assert isinstance(parse_table(_gpt(good)), PartitionTable)
    with pytest.raises(MalformedPartitionTable, match="header checksum"):
        parse_table(_gpt(good, tamper="header"))
    with pytest.raises(MalformedPartitionTable, match="entry array checksum"):
        parse_table(_gpt(good, tamper="entries"))
    with pytest.raises(MalformedPartitionTable, match="overlap"):
        parse_table(_gpt([(GPT_BASIC_DATA, 2048, 5000), (GPT_BASIC_DATA, 4096, 9000)]))
    with pytest.raises(MalformedPartitionTable, match="ends before it starts"):
        parse_table(_gpt([(GPT_BASIC_DATA, 5000, 4000)]))
    with pytest.raises(MalformedPartitionTable, match="usable range"):
        parse_table(_gpt([(GPT_BASIC_DATA, 2048, 10**12)]))
    with pytest.raises(MalformedPartitionTable, match="entries"):
        parse_table(_gpt(good, count=100_000))


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=2048), st.integers(0, 2**40))
def test_fuzz_only_documented_error(data: bytes, size: int) -> None:
    head = bytearray(data)
    if len(head) >= 512:  # give half the examples a signature so the entry parsing is reached
        head[510:512] = b"\x55\xaa"
    try:
        table = parse_table(bytes(head))
        check_fits(table, size)
    except MalformedPartitionTable:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0x0C, 0x83, 0xEE, 0x05, 0x00, 0x07]), st.integers(0, 2**32 - 1),
                          st.integers(0, 2**32 - 1)), min_size=1, max_size=4))
def test_fuzz_mbr_entries(entries: list[tuple[int, int, int]]) -> None:
    try:
        table = parse_table(_mbr(*entries) + bytes(4096))
    except MalformedPartitionTable:
        return
    starts = sorted((p.start, p.end) for p in table.partitions)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(starts, starts[1:], strict=False))
    assert all(p.size > 0 and p.start >= 512 for p in table.partitions)
