"""FAT32 writing without mounting: fsck.fat finds nothing, mtools reads back every byte."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
from pathlib import Path

import pytest

from images.fat import FatVolume, MalformedFat
from images.region import FileRegion, MemoryRegion
from tests.images.fat_tools import fsck, make_fat, mtools_list, mtools_read

NOW = dt.datetime(2026, 5, 4, 12, 30, 10)
KERNEL = random.Random(8).randbytes(3 * 1024 * 1024 + 17)
BASE = {
    "cmdline.txt": b"console=serial0,115200 root=PARTUUID=abcd-02 rootwait\n",
    "config.txt": b"[all]\narm_64bit=1\n",
    "kernel8.img": KERNEL,
    "user-data": b"#cloud-config\n",
    "overlays/disable-wifi.dtbo": b"\xd0\x0d\xfe\xed" + bytes(900),
    "bcm2711-rpi-4-b.dtb": random.Random(9).randbytes(52_000),
}


def _open(path: Path) -> tuple[int, FatVolume]:
    fd = os.open(path, os.O_RDWR)
    return fd, FatVolume(FileRegion(fd, 0, path.stat().st_size), NOW)


def test_reads_what_mtools_wrote(tmp_path: Path) -> None:
    image = make_fat(tmp_path / "boot.img", BASE)
    fd, fat = _open(image)
    try:
        for name, data in BASE.items():
            assert fat.read_file(name) == data, name
        names = {entry.name for entry in fat.listdir("/")}
        assert {"cmdline.txt", "config.txt", "kernel8.img", "user-data", "overlays"} <= names
        assert fat.geometry.label == "bootfs"
    finally:
        os.close(fd)


def test_writes_pass_fsck_and_read_back_in_mtools(tmp_path: Path) -> None:
    image = make_fat(tmp_path / "boot.img", BASE)
    new = {
        "cmdline.txt": BASE["cmdline.txt"].rstrip(b"\n") + b" cgroup_enable=memory" * 40 + b"\n",
        "user-data": b"#cloud-config\nhostname: picluster-master\n" * 300,  # grows across clusters
        "meta-data": b"instance-id: abc\n",
        "network-config": b"network:\n  version: 2\n",
        "Mixed.Case.Name.txt": b"mixed",
        "appliance/cards.pub": b"ssh-ed25519 AAAA card=pi-1\n",
        "appliance/wheels/PyYAML-6.0.2-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl":
            random.Random(3).randbytes(700_000),
        "firstrun.sh": b"",  # empty file: no cluster
    }
    fd, fat = _open(image)
    try:
        with fat:
            for name, data in new.items():
                fat.write_file(name, data)
    finally:
        os.close(fd)
    fsck(image)
    for name, data in {**BASE, **new}.items():
        assert mtools_read(image, name) == data, name
    assert "Mixed.Case.Name.txt" in mtools_list(image)
    assert "cmdline.txt" in mtools_list(image)  # an 8.3 lower-case name stays lower case
    fd, fat = _open(image)
    try:
        assert fat.read_file("APPLIANCE/CARDS.PUB") == new["appliance/cards.pub"]  # FAT ignores case
    finally:
        os.close(fd)


def test_directory_grows_past_its_cluster(tmp_path: Path) -> None:
    image = make_fat(tmp_path / "boot.img", BASE)
    names = [f"appliance/wheels/package_number_{n:03d}-1.0-py3-none-any.whl" for n in range(120)]
    fd, fat = _open(image)
    try:
        with fat:
            for number, name in enumerate(names):
                fat.write_file(name, f"wheel {number}".encode())
    finally:
        os.close(fd)
    fsck(image)
    listed = mtools_list(image, "appliance/wheels")
    assert listed == sorted(n.rsplit("/", 1)[1] for n in names)
    assert mtools_read(image, names[97]) == b"wheel 97"


def test_replacing_frees_the_old_clusters(tmp_path: Path) -> None:
    image = make_fat(tmp_path / "boot.img", BASE)
    fd, fat = _open(image)
    try:
        free_before = fat.fat[2:].count(0)
        with fat:
            fat.write_file("kernel8.img", b"small")
        assert fat.fat[2:].count(0) == free_before + len(KERNEL) // 512  # 6145 clusters, 1 kept
    finally:
        os.close(fd)
    fsck(image)
    assert mtools_read(image, "kernel8.img") == b"small"


def test_full_partition_is_a_clear_error(tmp_path: Path) -> None:
    image = make_fat(tmp_path / "boot.img", {})
    fd, fat = _open(image)
    try:
        with pytest.raises(MalformedFat, match="boot partition is full"):
            fat.write_file("huge.bin", bytes(45 * 1024 * 1024))
    finally:
        os.close(fd)
    fsck(image)  # the failed write never reached the FAT on disk


def test_fat16_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fat16.img"
    subprocess.run(["truncate", "-s", "20M", str(path)], check=True)
    subprocess.run(["mkfs.fat", "-F", "16", str(path)], check=True, capture_output=True)
    with pytest.raises(MalformedFat, match="FAT16"):
        FatVolume(MemoryRegion(bytearray(path.read_bytes())))
