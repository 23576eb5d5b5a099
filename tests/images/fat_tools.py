"""Small FAT32 file systems for the tests, made by the real tools (mkfs.fat, mtools)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

os.environ.setdefault("MTOOLS_SKIP_CHECK", "1")  # mtools otherwise frets over CHS geometry of image files

FAT_MIB = 40
"""Smallest comfortable FAT32 with 512-byte clusters (FAT32 needs 65,525 clusters or more)."""


def need(*tools: str) -> None:
    """Fail (never skip) when a tool the test needs is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    assert not missing, f"missing {missing}: scripts/install installs them"


def make_fat(path: Path, files: dict[str, bytes], size_mib: int = FAT_MIB, cluster_sectors: int = 1,
             label: str = "bootfs") -> Path:
    """A FAT32 image file at `path` holding `files` (paths with / make directories), written by mtools."""
    need("mkfs.fat", "mcopy", "mmd")
    subprocess.run(["truncate", "-s", f"{size_mib}M", str(path)], check=True)
    subprocess.run(["mkfs.fat", "-F", "32", "-s", str(cluster_sectors), "-n", label, str(path)],
                   check=True, capture_output=True)
    staging = path.with_suffix(".files")
    staging.mkdir(exist_ok=True)
    made: set[str] = set()
    for name, data in files.items():
        parts = name.split("/")
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth])
            if directory not in made:
                subprocess.run(["mmd", "-i", str(path), f"::{directory}"], check=True)
                made.add(directory)
        source = staging / name.replace("/", "__")
        source.write_bytes(data)
        subprocess.run(["mcopy", "-i", str(path), str(source), f"::{name}"], check=True)
    shutil.rmtree(staging)
    return path


def fsck(path: Path, offset: int = 0) -> str:
    """Output of `fsck.fat -n`; asserts it found nothing to fix."""
    need("fsck.fat")
    target = path
    if offset:
        raise ValueError("fsck.fat reads a whole file: extract the partition first")
    result = subprocess.run(["fsck.fat", "-n", str(target)], capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = [line for line in output.splitlines()[1:] if line.strip()]
    # A clean check prints only the version line and the summary "N files, M/K clusters".
    assert len(lines) == 1 and " files, " in lines[0], output
    return output


def mtools_read(path: Path, name: str) -> bytes:
    """A file read back by mtools (a second, independent FAT reader)."""
    need("mtype")
    return subprocess.run(["mtype", "-i", str(path), f"::{name}"], check=True, capture_output=True).stdout


def mtools_list(path: Path, directory: str = "") -> list[str]:
    """Long names in a directory as mtools lists them (`mdir -b` prints full paths)."""
    need("mdir")
    out = subprocess.run(["mdir", "-b", "-i", str(path), f"::{directory}"], check=True, capture_output=True,
                         text=True).stdout
    return sorted(line.rstrip("/").rsplit("/", 1)[-1] for line in out.splitlines() if line.strip())
