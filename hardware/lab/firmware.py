"""The lab plays a Raspberry Pi's firmware and kernel switches: pure functions, no I/O.

What a Pi 4/5 with Raspberry Pi OS trixie does at every boot, and what the lab emulates
in each board (`firmware_boot` writes the files, `board_launch.sh` binds them in the
board's own mount namespace, so the host never sees them):

- The firmware builds the kernel command line from the device tree's `/chosen/bootargs`
  (since raspberrypi/linux 6.12 they carry `cgroup_disable=memory`) followed by the first
  line of `/boot/firmware/cmdline.txt`. The board's `/proc/cmdline` shows that line
  (`DT_BOOTARGS` + cmdline.txt, verbatim, cut at the kernel's 2048 bytes), and the same
  words are the arguments of the board's PID 1: in a container systemd and cloud-init read
  `/proc/1/cmdline` instead of `/proc/cmdline`, so `systemd.unit=`, `ds=nocloud;…` and the
  like work in a board as on a Pi.
- The memory cgroup: the Pi kernel applies `cgroup_disable=` and its downstream
  `cgroup_enable=` in order, so memory is available only when `cgroup_enable=memory` comes
  after the device tree's disable (`memory_cgroup_enabled`; `cgroup_memory=1`, needed by older
  kernels, changes nothing on 6.12). The board's `/sys/fs/cgroup/cgroup.controllers` is the real
  list of its cgroup with `memory` added or removed accordingly, and `/proc/cgroups` is the
  host's with memory's `enabled` column set to 1 or 0. Nothing else of the host's cgroups
  changes: on a cgroup v1 host no memory accounting happens in the board either way.
- Swap: Pi OS trixie turns zram swap on at boot (rpi-swap, configured by
  `/etc/rpi/swap.conf` and `swap.conf.d/*.conf`). A board cannot make a zram device or
  enable swap (swap is global to the host), so `/proc/swaps` is emulated from those files at
  every boot (`swap_areas`), and the board's `swapoff` edits that emulated table (the lab
  binds its own `swapoff` over the board's; `free` and /proc/meminfo still show the host's
  swap). No `/etc/rpi/swap.conf` (not Pi OS) means no swap.

The first boot of a lab board (not a card) also gets a `/boot/firmware` on its disk shaped
like Pi OS trixie's: `stock_cmdline_txt` and `STOCK_CONFIG_TXT`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from hardware.cmdline import MAX_CMDLINE, split_args

DT_BOOTARGS = ("reboot=w coherent_pool=1M 8250.nr_uarts=1 pci=pcie_bus_safe cgroup_disable=memory "
               "numa_policy=interleave")
"""What a Pi 5's device tree puts before cmdline.txt on Pi OS trixie (raspberrypi/linux#6980)."""

STOCK_CONFIG_TXT = """\
# For more options and information see
# http://rptl.io/configtxt
# Some settings may impact device functionality. See link above for details

# Uncomment some or all of these to enable the optional hardware interfaces
#dtparam=i2c_arm=on
#dtparam=i2s=on
#dtparam=spi=on

# Enable audio (loads snd_bcm2835)
dtparam=audio=on

# Additional overlays and parameters are documented
# /boot/firmware/overlays/README

# Automatically load overlays for detected cameras
camera_auto_detect=1

# Automatically load overlays for detected DSI displays
display_auto_detect=1

# Automatically load initramfs files, if found
auto_initramfs=1

# Enable DRM VC4 V3D driver
dtoverlay=vc4-kms-v3d
max_framebuffers=2

# Don't have the firmware create an initial video= setting in cmdline.txt.
# Use the kernel's default instead.
disable_fw_kms_setup=1

# Run in 64-bit mode
arm_64bit=1

# Disable compensation for displays with overscan
disable_overscan=1

# Run as fast as firmware / board allows
arm_boost=1

[cm4]
# Enable host mode on the 2711 built-in XHCI USB controller.
# This line should be removed if the legacy DWC2 controller is required
# (e.g. for USB device mode) or if USB support is not required.
otg_mode=1

[cm5]
dtoverlay=dwc2,dr_mode=host

[all]
"""
"""Pi OS trixie's config.txt as pi-gen writes it (stage1/00-boot-files)."""

SWAP_MECHANISMS = ("auto", "zram", "swapfile", "zram+file", "none")
"""rpi-swap's `[Main] Mechanism=` values (swap.conf(5))."""

ZRAM_MAX_MIB = 2048
"""rpi-swap's default cap on the zram device's size ([Zram] MaxSizeMiB)."""

SWAP_FILE = "/var/swap"
"""rpi-swap's default swap file ([File] Path)."""

PROC_SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"


def partuuid(board: str) -> str:
    """A stable 8-hex-digit disk identifier for a board (Pi OS's root=PARTUUID=<id>-02)."""
    return hashlib.sha256(f"pilab-card:{board}".encode()).hexdigest()[:8]


def stock_cmdline_txt(board: str) -> str:
    """Pi OS trixie's cmdline.txt after its first boot (the one-time `resize` is gone)."""
    return (f"console=serial0,115200 console=tty1 root=PARTUUID={partuuid(board)}-02 rootfstype=ext4 "
            "fsck.repair=yes rootwait\n")


def first_line(data: bytes) -> str:
    """What the firmware takes from cmdline.txt: its first line, with anything unprintable dropped."""
    text = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    return "".join(c if c.isprintable() else " " for c in text).strip()


def kernel_cmdline(cmdline_txt: bytes, dt_bootargs: str = DT_BOOTARGS) -> str:
    """The kernel's command line: device-tree bootargs, then cmdline.txt's first line, cut like the kernel does."""
    line = f"{dt_bootargs} {first_line(cmdline_txt)}".strip()
    encoded = line.encode("utf-8")
    if len(encoded) >= MAX_CMDLINE:
        line = encoded[: MAX_CMDLINE - 1].decode("utf-8", "ignore")
    return line


def memory_cgroup_enabled(cmdline: str) -> bool:
    """True when memory is on after applying cgroup_disable=/cgroup_enable= in command-line order."""
    enabled = True
    for arg in split_args(cmdline):
        key, sep, value = arg.partition("=")
        if not sep or key not in ("cgroup_disable", "cgroup_enable"):
            continue
        if "memory" in value.strip('"').split(","):
            enabled = key == "cgroup_enable"
    return enabled


PI_CONTROLLERS = ("cpuset", "cpu", "io", "pids")
"""What a Pi kernel's cgroup v2 root lists besides memory (captured: pi-bookworm-cgroup-controllers-*).
A host with hybrid cgroups binds these to v1, so its cgroup2 list lacks them; kubeadm's
preflight needs cpu, cpuset and pids, so a board shows them as a Pi does."""


def cgroup_controllers(real: str, memory: bool) -> str:
    """cgroup.controllers as the board sees it: a Pi's list (plus the real one) with `memory` on or off."""
    names = [n for n in PI_CONTROLLERS if n not in real.split()] + [n for n in real.split() if n != "memory"]
    if memory:
        # The kernel lists controllers in its own order: memory after cpuset, cpu and io.
        before = [n for n in names if n in ("cpuset", "cpu", "io")]
        names = before + ["memory"] + [n for n in names if n not in before]
    return " ".join(names) + "\n"


def proc_cgroups(real: str, memory: bool) -> str:
    """/proc/cgroups as the board sees it: memory's `enabled` column 1 or 0 (a row added if missing)."""
    lines = real.splitlines()
    header = lines[0] if lines and lines[0].startswith("#") else "#subsys_name\thierarchy\tnum_cgroups\tenabled"
    rows = [line for line in lines if line.strip() and not line.startswith("#")]
    out, seen = [header], False
    for row in rows:
        fields = row.split()
        if fields[0] == "memory" and len(fields) == 4:
            fields[3] = "1" if memory else "0"
            seen = True
        out.append("\t".join(fields))
    if not seen:
        out.append(f"memory\t0\t1\t{1 if memory else 0}")
    return "\n".join(out) + "\n"


def read_swap_settings(texts: Sequence[str]) -> dict[str, str]:
    """Settings from swap.conf then its drop-ins (in order, later wins), as `Section.Key` → value."""
    settings: dict[str, str] = {}
    for text in texts:
        section = ""
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            header = re.fullmatch(r"\[([^\]]+)\]", line)
            if header:
                section = header.group(1).strip()
                continue
            key, sep, value = line.partition("=")
            if sep and section:
                settings[f"{section}.{key.strip()}"] = value.strip()
    return settings


def swap_areas(settings: dict[str, str] | None) -> tuple[str, ...]:
    """The /proc/swaps lines rpi-swap would make; None = no rpi-swap at all (no swap)."""
    if settings is None:
        return ()
    mechanism = settings.get("Main.Mechanism", "auto").lower()
    if mechanism not in SWAP_MECHANISMS or mechanism == "none":
        return ()  # rpi-swap refuses an unknown mechanism: no swap
    try:
        zram_mib = max(1, min(int(settings.get("Zram.MaxSizeMiB", ZRAM_MAX_MIB)), 1 << 20))
    except ValueError:
        zram_mib = ZRAM_MAX_MIB
    zram = f"/dev/zram0\tpartition\t{zram_mib * 1024 - 4}\t0\t100"
    swapfile = f"{settings.get('File.Path', SWAP_FILE)}\tfile\t{512 * 1024 - 4}\t0\t-2"
    if mechanism in ("auto", "zram"):
        return (zram,)
    if mechanism == "swapfile":
        return (swapfile,)
    return (zram, swapfile)


def proc_swaps(areas: Sequence[str]) -> str:
    """/proc/swaps text for these areas (tab-separated columns after the kernel's header)."""
    return PROC_SWAPS_HEADER + "".join(area + "\n" for area in areas)


@dataclass(frozen=True)
class KernelView:
    """What one boot of a board looks like to its programs (written as kernel.json, shown by `lab status`)."""

    cmdline: str
    """The emulated /proc/cmdline (device-tree bootargs + cmdline.txt)."""
    memory_cgroup: bool
    """Whether the memory cgroup is available in this boot."""
    swaps: tuple[str, ...]
    """Emulated swap areas at boot (/proc/swaps lines)."""
    cmdline_txt: str
    """Where the firmware read cmdline.txt (inside the board)."""

    def to_json(self) -> str:
        """The record as JSON."""
        return json.dumps(asdict(self), indent=1)

    @staticmethod
    def from_json(text: str) -> KernelView:
        """Read a record written by to_json; ValueError if it is not one."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("kernel view is not an object")
        return KernelView(cmdline=str(data["cmdline"]), memory_cgroup=bool(data["memory_cgroup"]),
                          swaps=tuple(str(s) for s in data["swaps"]), cmdline_txt=str(data["cmdline_txt"]))


def kernel_view(cmdline_txt: bytes | None, swap_settings: dict[str, str] | None,
                where: str = "/boot/firmware/cmdline.txt") -> KernelView:
    """The whole emulated kernel state of one boot, from the board's files."""
    line = kernel_cmdline(cmdline_txt or b"")
    return KernelView(cmdline=line, memory_cgroup=memory_cgroup_enabled(line),
                      swaps=swap_areas(swap_settings), cmdline_txt=where)
