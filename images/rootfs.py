"""Facts about an image's root file system (ext4), read without mounting: facts apart from judgments.

`gather_root_facts` runs `debugfs` (e2fsprogs; no root needed for an image
file) on the root partition inside the image (`IMAGE?offset=N`, e2fsprogs'
own syntax) and collects raw text: the os-release file, the names in
/usr/lib (python3.N folders) and the first bytes of the python3 binary.
The judgments are pure: `python_version`, `elf_arch`, `judge_root`.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from images.errors import ImageError

ELF_MACHINES = {0xB7: "aarch64", 0x3E: "x86_64", 0x28: "arm", 0x03: "i386", 0xF3: "riscv64"}
SUPPORTED_ARCHES = ("aarch64", "x86_64")
"""aarch64: Pi OS 64-bit; x86_64: lab cards (the lab's own architecture)."""


@dataclass(frozen=True)
class RootFacts:
    """Raw facts read from the root partition."""

    os_release: str
    """Text of /usr/lib/os-release (or /etc/os-release), empty when missing."""
    usr_lib_names: tuple[str, ...]
    """Names directly under /usr/lib."""
    python_header: bytes
    """First 64 bytes of /usr/bin/python3.N for the newest N found, empty when missing."""


@dataclass(frozen=True)
class RootInfo:
    """What the build needs to know about the card's system."""

    arch: str
    """Machine of the userland (aarch64, x86_64)."""
    python: str
    """Debian python3's version, `3.13`."""
    os_name: str
    """PRETTY_NAME from os-release."""
    codename: str
    """VERSION_CODENAME (trixie, bookworm), empty when unknown."""


def python_version(names: tuple[str, ...]) -> str | None:
    """The newest `python3.N` folder name's version among /usr/lib's names."""
    versions = [int(m.group(1)) for n in names if (m := re.fullmatch(r"python3\.(\d{1,2})", n))]
    return f"3.{max(versions)}" if versions else None


def elf_arch(header: bytes) -> tuple[str, int]:
    """(machine name, ELF class 32/64) of an ELF header; ValueError for anything else."""
    if len(header) < 20 or header[:4] != b"\x7fELF" or header[4] not in (1, 2) or header[5] not in (1, 2):
        raise ValueError("not an ELF file")
    endian = "<" if header[5] == 1 else ">"
    machine, = struct.unpack_from(endian + "H", header, 18)
    return ELF_MACHINES.get(machine, f"machine-0x{machine:x}"), 32 if header[4] == 1 else 64


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value pairs of an os-release file (quotes removed)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key.strip()):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def judge_root(facts: RootFacts, where: str) -> RootInfo:
    """RootInfo, or ImageError for a 32-bit or foreign userland or a root without python3."""
    release = parse_os_release(facts.os_release)
    name = release.get("PRETTY_NAME", "an unknown system")
    python = python_version(facts.usr_lib_names)
    if python is None:
        raise ImageError(f"{where}: no python3 in the root partition ({name}); use Raspberry Pi OS Lite (64-bit)")
    try:
        arch, bits = elf_arch(facts.python_header)
    except ValueError:
        raise ImageError(f"{where}: /usr/bin/python{python} in the root partition is not a program") from None
    if bits == 32 or arch == "arm":
        raise ImageError(
            f"{where}: {name} is a 32-bit system; Kubernetes ships no 32-bit ARM packages since v1.27, "
            "use Raspberry Pi OS Lite (64-bit)"
        )
    if arch not in SUPPORTED_ARCHES:
        raise ImageError(f"{where}: the root partition's programs are for {arch}; use Raspberry Pi OS Lite (64-bit)")
    return RootInfo(arch, python, name, release.get("VERSION_CODENAME", ""))


def _debugfs() -> str:
    found = shutil.which("debugfs") or next((p for p in ("/usr/sbin/debugfs", "/sbin/debugfs") if Path(p).exists()), None)
    if found is None:
        raise ImageError("debugfs not found: it reads the image's root partition without mounting; "
                         "fix: apt-get install e2fsprogs")
    return found


def _run(image: Path, offset: int, request: str) -> bytes:
    result = subprocess.run([_debugfs(), "-R", request, f"{image}?offset={offset}"],
                            capture_output=True, timeout=120, check=False)
    return result.stdout


def gather_root_facts(image: Path, offset: int) -> RootFacts:
    """Read the root partition at byte `offset` of `image` with debugfs (read-only)."""
    listing = _run(image, offset, "ls -p /usr/lib").decode("utf-8", "replace")
    if not listing.strip():
        raise ImageError(f"{image}: the root partition is not an ext4 file system debugfs can read "
                         "(a truncated or corrupt image?)")
    # `ls -p` prints /inode/mode/uid/gid/name/size/ per entry.
    names = tuple(fields[5] for line in listing.splitlines() if len(fields := line.split("/")) > 6)
    os_release = _run(image, offset, "cat /usr/lib/os-release") or _run(image, offset, "cat /etc/os-release")
    python = python_version(names)
    header = _run(image, offset, f"cat /usr/bin/python{python}")[:64] if python else b""
    return RootFacts(os_release.decode("utf-8", "replace"), names, header)
