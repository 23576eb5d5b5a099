"""Pi-OS-shaped base images for the tests: the generator is part of the tests.

Layout as pi-gen makes it (export-image): an MBR with a disk id, partition 1
FAT32 `bootfs` (512 MiB by default, 2 KiB clusters: `mkdosfs -F 32 -s 4`)
at 4 MiB, partition 2 ext4 `rootfs` up to the end. The boot partition holds
cmdline.txt and config.txt as trixie ships them, stand-ins for the firmware
and kernel (seeded random bytes, so "byte-identical" checks mean something)
and, in the trixie style, the three cloud-init NoCloud files pi-gen installs;
the bookworm style has none of them (its first boot goes through firstrun.sh).
The root is the lab's Debian root (`hardware.lab.rootfs.ensure_root()`), whole
or as a small slice of it (os-release, python3 and its library folder) for the
tests that need only its facts, and `root_files` may add or replace files of it
(an image made to boot in the lab carries the lab's apt mirror, as Pi OS carries its
distribution's). Images are sparse; `xz_compress` makes the `.img.xz` an official
download looks like.

Nothing is mounted on the host: mkfs.fat --offset, mtools' `img@@offset` and
mke2fs -d with `-E offset=` write straight into the image file (with `root_files`,
mke2fs reads an overlay mounted in a private mount namespace).
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hardware.lab.firmware import STOCK_CONFIG_TXT
from tests.images.fat_tools import need

MIB = 1024 * 1024
BOOT_START = 8192  # sectors: 4 MiB, as pi-gen aligns it
DISK_ID = "6c3f2b21"

TRIXIE_CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID={disk_id}-02 rootfstype=ext4 "
                  "fsck.repair=yes rootwait resize\n")
BOOKWORM_CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID={disk_id}-02 rootfstype=ext4 "
                    "fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
TRIXIE_META_DATA = "dsmode: local\ninstance_id: rpios-image\n"
TRIXIE_USER_DATA = """#cloud-config

# This is the user-data configuration file for cloud-init. By default this sets
# up an initial user called "pi" with password "raspberry" - change these below.
#
#hostname: raspberrypi
#users:
#- name: pi
#  groups: users,adm,dialout,audio,netdev,video,plugdev,cdrom,games,input,gpio,spi,i2c,render,sudo
#  shell: /bin/bash
#  lock_passwd: false
"""
TRIXIE_NETWORK_CONFIG = """# This file contains a netplan-compatible configuration which cloud-init will
# apply on first-boot (note: it will *not* update the config after the first
# boot). Please refer to the cloud-init documentation and the netplan reference
# for full details:
#
#network:
#  version: 2
#  wifis:
#    renderer: NetworkManager
#    wlan0:
#      dhcp4: true
#      regulatory-domain: GB
#      access-points:
#        "myhomewifi":
#          password: "S3kr1t"
"""


def boot_blobs() -> dict[str, bytes]:
    """The firmware and kernel stand-ins: same bytes every run (smaller than the real ones: random
    bytes do not compress, and the tests compress these images)."""
    rng = random.Random(2712)
    return {
        "bootcode.bin": rng.randbytes(52_456),
        "start4.elf": rng.randbytes(254_752),
        "fixup4.dat": rng.randbytes(5_446),
        "kernel8.img": rng.randbytes(1_486_848),
        "kernel_2712.img": rng.randbytes(1_601_536),
        "initramfs8": rng.randbytes(200_001),
        "bcm2711-rpi-4-b.dtb": rng.randbytes(56_093),
        "bcm2712-rpi-5-b.dtb": rng.randbytes(77_663),
        "bcm2710-rpi-3-b-plus.dtb": rng.randbytes(35_380),
        "overlays/README": b"Overlays: see https://github.com/raspberrypi/firmware\n" * 100,
        "overlays/disable-wifi.dtbo": rng.randbytes(801),
        "overlays/vc4-kms-v3d.dtbo": rng.randbytes(3_021),
        "overlays/overlay_map.dtb": rng.randbytes(5_477),
        "LICENCE.broadcom": b"Copyright (c) 2006, Broadcom Corporation.\n" * 20,
        "issue.txt": b"Raspberry Pi reference 2026-06-18\nGenerated using pi-gen (test stand-in)\n",
    }


def boot_files(style: str, disk_id: str = DISK_ID) -> dict[str, bytes]:
    """Every file of the boot partition of a `style` (trixie or bookworm) image."""
    files = boot_blobs()
    files["config.txt"] = STOCK_CONFIG_TXT.encode()  # the one copy of Pi OS's stock file
    if style == "trixie":
        files["cmdline.txt"] = TRIXIE_CMDLINE.format(disk_id=disk_id).encode()
        files["meta-data"] = TRIXIE_META_DATA.encode()
        files["user-data"] = TRIXIE_USER_DATA.encode()
        files["network-config"] = TRIXIE_NETWORK_CONFIG.encode()
    elif style == "bookworm":
        files["cmdline.txt"] = BOOKWORM_CMDLINE.format(disk_id=disk_id).encode()
    else:
        raise ValueError(f"style must be trixie or bookworm, not {style!r}")
    return files


SMALL_ROOT_PATHS = ("etc/os-release", "usr/lib/os-release", "usr/bin/python3",
                    "usr/lib/python3/dist-packages", "etc/cloud/cloud.cfg")
"""What the image builder looks at in a root, besides the Python standard library's os.py."""


def lab_root_python() -> str:
    """Debian python3's version in the lab root (`3.13` on trixie): the Python a lab card's payload targets."""
    from images.rootfs import python_version

    version = python_version(tuple(path.name for path in (lab_root() / "usr" / "lib").iterdir()))
    assert version is not None, f"no python3.N in {lab_root()}/usr/lib"
    return version


def lab_root() -> Path:
    """The lab's cached Debian root (built once by mmdebstrap if missing)."""
    from hardware.lab.rootfs import ensure_root

    return ensure_root().path


def small_root(target: Path, source: Path | None = None) -> Path:
    """A slice of the lab root with what the image builder looks at (os-release, python3)."""
    source = source or lab_root()
    stdlib = sorted(source.glob("usr/lib/python3.*/os.py"))  # python3.11 on bookworm, 3.13 on trixie
    # Pi OS images are named raspberrypi until first boot; the lab's root carries no hostname.
    (target / "etc").mkdir(parents=True, exist_ok=True)
    (target / "etc" / "hostname").write_text("raspberrypi\n")
    for relative in (*SMALL_ROOT_PATHS, *(str(path.relative_to(source)) for path in stdlib)):
        origin = source / relative
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_symlink():
            os.symlink(os.readlink(origin), destination)
            if relative == "usr/bin/python3":  # the symlink's target too (python3.N)
                real = origin.resolve()
                shutil.copy2(real, destination.parent / real.name)
        elif origin.is_dir():
            destination.mkdir(exist_ok=True)
        else:
            shutil.copy2(origin, destination)
    return target


@dataclass(frozen=True)
class BaseImage:
    """A generated base image and what was put into it."""

    path: Path
    """The .img file (sparse)."""
    style: str
    """trixie or bookworm."""
    boot_files: dict[str, bytes]
    """Every file of the boot partition, by path."""
    boot_start: int
    """Byte offset of the boot partition."""
    boot_size: int
    """Its size in bytes."""
    root_start: int
    """Byte offset of the root partition."""


def make_base_image(path: Path, style: str = "trixie", root: Path | None = None, size_mib: int = 1024,
                    boot_mib: int = 512, root_files: dict[str, bytes] | None = None) -> BaseImage:
    """Write a Pi-OS-shaped image to `path` with `root` (default: the lab root) as rootfs, plus
    `root_files` (paths relative to the root) on top of it."""
    need("sfdisk", "mkfs.fat", "mcopy", "mmd", "mke2fs")
    root = root or lab_root()
    files = boot_files(style)
    boot_sectors = boot_mib * MIB // 512
    root_start_sector = BOOT_START + boot_sectors
    if path.exists():
        path.unlink()
    subprocess.run(["truncate", "-s", f"{size_mib}M", str(path)], check=True)
    subprocess.run(["sfdisk", "-q", str(path)], check=True, capture_output=True, text=True, input=(
        f"label: dos\nlabel-id: 0x{DISK_ID}\n"
        f"start={BOOT_START}, size={boot_sectors}, type=c\nstart={root_start_sector}, type=83\n"))
    subprocess.run(["mkfs.fat", "-F", "32", "-s", "4", "-n", "bootfs", "--offset", str(BOOT_START),
                    str(path), str(boot_mib * 1024)], check=True, capture_output=True)
    staging = path.parent / (path.name + ".boot")
    shutil.rmtree(staging, ignore_errors=True)
    for name, data in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    target = f"{path}@@{BOOT_START * 512}"
    subprocess.run(["mcopy", "-s", "-i", target, *sorted(str(p) for p in staging.iterdir()), "::"],
                   check=True, env=env)
    shutil.rmtree(staging)
    root_bytes = size_mib * MIB - root_start_sector * 512
    mke2fs = ["mke2fs", "-q", "-F", "-t", "ext4", "-L", "rootfs", "-d", str(root),
              "-E", f"offset={root_start_sector * 512}", str(path), f"{root_bytes // 1024}k"]
    if root_files:
        _mke2fs_with(mke2fs, root, root_files, path.parent / (path.name + ".root"))
    else:
        subprocess.run(mke2fs, check=True, capture_output=True)
    assert path.stat().st_size == size_mib * MIB
    return BaseImage(path, style, files, BOOT_START * 512, boot_mib * MIB, root_start_sector * 512)


def _mke2fs_with(mke2fs: list[str], root: Path, files: dict[str, bytes], work: Path) -> None:
    """Run `mke2fs -d root` on an overlay of `root` with `files` on top, mounted in a private
    mount namespace (gone with it: nothing appears on the host)."""
    shutil.rmtree(work, ignore_errors=True)
    upper, scratch, merged = work / "upper", work / "work", work / "merged"
    for folder in (upper, scratch, merged):
        folder.mkdir(parents=True)
    for name, data in files.items():
        (upper / name).parent.mkdir(parents=True, exist_ok=True)
        (upper / name).write_bytes(data)
        (upper / name).chmod(0o644)
    options = f"lowerdir={root},upperdir={upper},workdir={scratch}"
    command = mke2fs[:mke2fs.index("-d") + 1] + [str(merged)] + mke2fs[mke2fs.index("-d") + 2:]
    script = f"mount -t overlay overlay -o {shlex.quote(options)} {shlex.quote(str(merged))} && {shlex.join(command)}"
    try:
        subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], check=True,
                       capture_output=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def xz_compress(image: Path, level: str = "-0") -> Path:
    """`image`.xz next to it (xz's default single-stream format, like the official downloads)."""
    need("xz")
    out = image.with_name(image.name + ".xz")
    with open(out, "wb") as handle:
        subprocess.run(["xz", level, "-T2", "-c", str(image)], check=True, stdout=handle)
    return out
