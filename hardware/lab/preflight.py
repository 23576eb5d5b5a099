"""Checks before the lab touches the machine: each failure is one line with its fix."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from foundation.errors import EnvironmentProblem

TOOLS: tuple[tuple[str, str], ...] = (
    ("ip", "iproute2"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    ("setsid", "util-linux"),
    ("setpriv", "util-linux"),
    ("pivot_root", "util-linux"),
    ("dnsmasq", "dnsmasq-base"),
    ("udhcpc", "udhcpc"),
    ("ssh-keygen", "openssh-client"),
    ("openssl", "openssl"),
)
"""Host commands the lab runs, with the Debian package that provides each."""

CARD_TOOLS: tuple[tuple[str, str], ...] = (
    ("losetup", "mount"),
    ("mcopy", "mtools"),
    ("sfdisk", "fdisk"),
    ("e2fsck", "e2fsprogs"),
    ("resize2fs", "e2fsprogs"),
)
"""Host commands `lab up --cards` needs besides those: loop devices, reading the FAT boot partition,
growing the root partition to the card (cards.grow_root)."""

NAMESPACES: tuple[str, ...] = ("net", "mnt", "pid", "uts", "cgroup")
"""Kernel namespaces every board needs."""


def check_root() -> None:
    """The lab creates namespaces and mounts: root only."""
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            "appliance lab needs root (network namespaces, mounts); fix: run it with sudo"
        )


def check_kernel(filesystems: Path = Path("/proc/filesystems"), ns_dir: Path = Path("/proc/self/ns")) -> None:
    """overlayfs and the four namespace kinds must be available."""
    try:
        known = filesystems.read_text()
    except OSError:
        known = ""
    if "\toverlay\n" not in known and not known.rstrip().endswith("\toverlay"):
        raise EnvironmentProblem(
            "the kernel has no overlayfs (boards' roots are overlays); "
            "fix: modprobe overlay (package kmod) or boot a kernel with CONFIG_OVERLAY_FS"
        )
    missing = [kind for kind in NAMESPACES if not (ns_dir / kind).exists()]
    if missing:
        raise EnvironmentProblem(
            f"the kernel lacks {', '.join(missing)} namespaces; "
            "fix: boot a kernel with CONFIG_NET_NS, CONFIG_PID_NS, CONFIG_UTS_NS, CONFIG_CGROUPS"
        )


def check_tools(tools: tuple[tuple[str, str], ...] = TOOLS) -> None:
    """Every host command the lab runs must be installed."""
    for command, package in tools:
        if shutil.which(command) is None:
            raise EnvironmentProblem(f"{command} not found (the lab needs it); fix: apt-get install {package}")


def check_root_filesystem(lower: Path) -> None:
    """The cached root must hold sshd and systemd (the boards' init)."""
    for inside, package in (("usr/sbin/sshd", "openssh-server"), ("lib/systemd/systemd", "systemd")):
        if not (lower / inside).exists():
            raise EnvironmentProblem(
                f"the lab root {lower} has no /{inside}; fix: rm -rf {lower} and run "
                f"`appliance lab rootfs` again (it installs {package})"
            )


def check_prefix(prefix: str) -> None:
    """$APPLIANCE_LAB_PREFIX must keep every name within the kernel's 15 characters."""
    from hardware.lab.topology import PREFIX_RE

    if not PREFIX_RE.fullmatch(prefix):
        raise EnvironmentProblem(
            f"APPLIANCE_LAB_PREFIX={prefix!r} is not usable; fix: 1-7 lower-case letters or digits "
            "and a trailing '-', e.g. pilab2-"
        )


def check_disk_dir(directory: Path, mounts: Path = Path("/proc/self/mountinfo")) -> None:
    """Boards' disks are overlay upper dirs, which cannot live on overlayfs (e.g. a container's root)."""
    directory.mkdir(parents=True, exist_ok=True)
    device = os.stat(directory).st_dev
    for line in mounts.read_text().splitlines():
        fields = line.split()
        if " - " not in line:
            continue
        major, minor = (int(x) for x in fields[2].split(":"))
        fstype = line.split(" - ", 1)[1].split()[0]
        if os.makedev(major, minor) == device and fstype == "overlay":
            raise EnvironmentProblem(
                f"{directory} is on overlayfs, where the boards' disks (overlay upper dirs) cannot "
                "live; fix: set APPLIANCE_LAB_DIR to a directory on ext4, xfs or tmpfs"
            )


def check_all() -> None:
    """Root, kernel features, host tools, the namespace prefix and a cgroup2 hierarchy, in that order."""
    from hardware.lab.cgroups import cgroup2_root
    from hardware.lab.topology import PREFIX

    check_root()
    check_kernel()
    check_tools()
    check_prefix(PREFIX)
    cgroup2_root()
