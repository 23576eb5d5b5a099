"""Reading results back for the tests: a partition of an image file, its FAT files, via mtools too."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from hardware.partitions import parse_table
from images.fat import FatVolume
from images.region import FileRegion


def extract_boot(image: Path, target: Path) -> Path:
    """The image's boot partition copied into its own file (for fsck.fat and mtools)."""
    with open(image, "rb") as handle:
        boot = parse_table(handle.read(1 << 20)).boot()
        handle.seek(boot.start)
        with open(target, "wb") as out:
            remaining = boot.size
            while remaining:
                chunk = handle.read(min(remaining, 1 << 22))
                out.write(chunk)
                remaining -= len(chunk)
    return target


def boot_file(image: Path, name: str) -> bytes:
    """A file of the image's boot partition, read by our FAT code."""
    fd = os.open(image, os.O_RDONLY)
    try:
        head = os.pread(fd, 1 << 20, 0)
        boot = parse_table(head).boot()
        return FatVolume(FileRegion(fd, boot.start, boot.size)).read_file(name)
    finally:
        os.close(fd)


def region_sha256(image: Path, start: int, size: int) -> str:
    """SHA-256 of bytes [start, start+size) of a file."""
    digest = hashlib.sha256()
    with open(image, "rb") as handle:
        handle.seek(start)
        remaining = size
        while remaining:
            chunk = handle.read(min(remaining, 1 << 22))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def cloud_init_schema(path: Path) -> str:
    """`cloud-init schema --config-file`; asserts it passes."""
    result = subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
