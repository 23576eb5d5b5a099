"""Crafted FAT file systems: loops, wild cluster numbers, lying sizes. A clear MalformedFat, never a
hang, never an access outside the partition."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from images.fat import FatVolume, MalformedFat
from images.fat.entries import parse_directory
from images.region import MemoryRegion, OverlayRegion
from tests.images.fat_tools import make_fat

FILES = {"cmdline.txt": b"root=/dev/mmcblk0p2\n", "a-long-file-name.txt": b"x" * 3000,
         "overlays/one.dtbo": b"dtbo"}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = make_fat(tmp_path_factory.mktemp("fat") / "boot.img", FILES)
    return path.read_bytes()


def _fat_entry_offset(data: bytes, cluster: int) -> int:
    reserved, = struct.unpack_from("<H", data, 14)
    return reserved * 512 + cluster * 4


def _entry_of(volume: FatVolume, name: str) -> int:
    entry = volume.stat(name)
    assert entry is not None
    return entry.first_cluster


def test_chain_that_loops_is_refused_quickly(pristine: bytes) -> None:
    data = bytearray(pristine)
    first = _entry_of(FatVolume(MemoryRegion(bytearray(pristine))), "a-long-file-name.txt")
    struct.pack_into("<I", data, _fat_entry_offset(data, first + 2), first)  # 6th cluster -> 1st
    volume = FatVolume(MemoryRegion(data))
    with pytest.raises(MalformedFat, match="loops"):
        volume.read_file("a-long-file-name.txt")
    with pytest.raises(MalformedFat, match="loops"):
        volume.write_file("a-long-file-name.txt", b"new")


def test_root_directory_chain_loop(pristine: bytes) -> None:
    data = bytearray(pristine)
    root, = struct.unpack_from("<I", data, 44)
    struct.pack_into("<I", data, _fat_entry_offset(data, root), root)
    with pytest.raises(MalformedFat, match="loops"):
        FatVolume(MemoryRegion(data)).listdir("/")


def test_cluster_beyond_the_data_area(pristine: bytes) -> None:
    data = bytearray(pristine)
    first = _entry_of(FatVolume(MemoryRegion(bytearray(pristine))), "cmdline.txt")
    struct.pack_into("<I", data, _fat_entry_offset(data, first), 0x0FFFFFF0)
    with pytest.raises(MalformedFat, match="outside the data area"):
        FatVolume(MemoryRegion(data)).read_file("cmdline.txt")


def test_size_larger_than_chain(pristine: bytes) -> None:
    volume = FatVolume(MemoryRegion(bytearray(pristine)))
    entry = volume.stat("cmdline.txt")
    assert entry is not None
    data = bytearray(pristine)
    root_offset = volume.geometry.cluster_offset(volume.geometry.root_cluster)
    struct.pack_into("<I", data, root_offset + entry.short_slot * 32 + 28, 10_000_000)
    with pytest.raises(MalformedFat, match="more than its"):
        FatVolume(MemoryRegion(data)).read_file("cmdline.txt")


def test_subdirectory_pointing_at_its_parent_does_not_recurse_forever(pristine: bytes) -> None:
    volume = FatVolume(MemoryRegion(bytearray(pristine)))
    overlays = volume.stat("overlays")
    assert overlays is not None
    data = bytearray(pristine)
    # overlays/one.dtbo becomes a directory whose data is overlays itself: a directory cycle.
    sub_offset = volume.geometry.cluster_offset(overlays.first_cluster)
    slot = next(e for e in parse_directory(bytes(data[sub_offset:sub_offset + 512])) if e.name == "one.dtbo").short_slot
    data[sub_offset + slot * 32 + 11] = 0x10
    struct.pack_into("<H", data, sub_offset + slot * 32 + 26, overlays.first_cluster & 0xFFFF)
    struct.pack_into("<H", data, sub_offset + slot * 32 + 20, overlays.first_cluster >> 16)
    with pytest.raises(MalformedFat, match="deeper"):
        list(FatVolume(MemoryRegion(data)).walk("/"))


def test_file_system_larger_than_its_partition(pristine: bytes) -> None:
    with pytest.raises(MalformedFat, match="claims"):
        FatVolume(MemoryRegion(bytearray(pristine[: len(pristine) // 2])))


def test_not_a_fat_at_all() -> None:
    with pytest.raises(MalformedFat):
        FatVolume(MemoryRegion(bytearray(4096)))


@pytest.fixture(scope="module")
def shared(pristine: bytes) -> MemoryRegion:
    """One read-only copy for every fuzz example (copying 40 MiB per example would be most of the run)."""
    return MemoryRegion(bytearray(pristine))


@pytest.fixture(scope="module")
def targets(pristine: bytes) -> list[int]:
    """Where the metadata lies: boot sector, the two FATs' starts, the root directory."""
    geometry = FatVolume(MemoryRegion(bytearray(pristine))).geometry
    return [0, geometry.fat_offset, geometry.fat_offset + geometry.fat_size,
            geometry.cluster_offset(geometry.root_cluster)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 80 * 1024), st.binary(min_size=1, max_size=8)), min_size=1, max_size=12))
def test_mutated_metadata_gives_only_malformed_fat(shared: MemoryRegion, targets: list[int],
                                                   edits: list[tuple[int, bytes]]) -> None:
    # The pristine image is shared and never changed: mutations and the volume's own writes land
    # in an overlay, whose bounds checks raise OutOfBounds (not a MalformedFat) on any stray access.
    region = OverlayRegion(shared)
    for position, patch in edits:
        offset = targets[position % len(targets)] + (position // len(targets)) % 1024
        region.write(offset, patch)
    try:
        mutated = FatVolume(region)
        for path, entry in mutated.walk("/"):
            if not entry.is_dir:
                mutated.read_file(path)
        with mutated:
            mutated.write_file("user-data", b"#cloud-config\n")
            mutated.write_file("appliance/a-long-name-for-a-wheel.whl", b"w" * 2000)
    except (MalformedFat, FileNotFoundError, FileExistsError, IsADirectoryError):
        pass
