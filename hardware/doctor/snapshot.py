"""Reading the node: files, commands and two syscalls, captured raw into a `Snapshot`.

This is the only part of the doctor that touches the machine. Every source
is read once and kept as text (or the reason it could not be read), so the
checks stay pure and tests feed them captured output. Nothing here changes
the node: commands are read-only (`--version`, `show`, `get_throttled`) and
adjtimex is called with modes=0, which only reads the clock state.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from hardware.models import device_tree_revision


@dataclass(frozen=True)
class Reading:
    """The text of one source, or why there is none."""

    source: str
    """Path or command line it came from."""
    text: str | None
    """What it said; None when it could not be read."""
    problem: str = ""
    """Why text is None ("missing", "command not found", "exit 1: ...")."""


@dataclass(frozen=True)
class Disk:
    """Space on one file system."""

    path: str
    """A path on it (/, /var/lib)."""
    total_bytes: int
    """Size of the file system."""
    free_bytes: int
    """Space available to unprivileged users (what kubelet eviction looks at)."""


@dataclass(frozen=True)
class Snapshot:
    """Everything the checks look at, as read from the node."""

    machine: str
    """Kernel architecture (uname -m)."""
    kernel_release: str
    """uname -r, to find /lib/modules/<release>."""
    files: dict[str, Reading]
    """Files by path: /proc/cgroups, /proc/swaps, /proc/sys/..., config files."""
    commands: dict[str, Reading]
    """Command output by name: dpkg_arch, long_bit, iptables, ip6tables, timedatectl, vcgencmd."""
    exists: dict[str, bool] = field(default_factory=dict)
    """Whether a path exists: sockets, /sys/module/<name>, /proc/sys/net/bridge."""
    binaries: dict[str, str | None] = field(default_factory=dict)
    """Where a program is on PATH (containerd, dphys-swapfile), or None."""
    adjtimex: tuple[int, int] | None = None
    """(clock state, status flags) from adjtimex(2), None if the call is unavailable."""
    disks: tuple[Disk, ...] = ()
    """Space on / and /var/lib (deduplicated by file system)."""
    dt_revision: str | None = None
    """Revision code from /proc/device-tree/system/linux,revision (binary, so read apart)."""

    def text(self, key: str) -> str | None:
        """Text of a file or command reading, None when absent."""
        reading = self.files.get(key) or self.commands.get(key)
        return reading.text if reading else None


FILES = (
    "/proc/cpuinfo",
    "/proc/device-tree/model",
    "/proc/meminfo",
    "/proc/cgroups",
    "/sys/fs/cgroup/cgroup.controllers",
    "/proc/cmdline",
    "/proc/swaps",
    "/proc/modules",
    "/proc/filesystems",
    "/proc/net/ip_tables_names",
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/bridge/bridge-nf-call-iptables",
    "/sys/devices/platform/soc/soc:firmware/get_throttled",
    "/var/lib/kubelet/config.yaml",
    "/etc/containerd/config.toml",
    "/etc/os-release",
)

COMMANDS = {
    "dpkg_arch": ("dpkg", "--print-architecture"),
    "long_bit": ("getconf", "LONG_BIT"),
    "iptables": ("iptables", "--version"),
    "ip6tables": ("ip6tables", "--version"),
    "timedatectl": ("timedatectl", "show", "-p", "NTPSynchronized"),
    "vcgencmd": ("vcgencmd", "get_throttled"),
}

PATHS = (
    "/run/containerd/containerd.sock",
    "/proc/sys/net/bridge",
    "/sys/module/br_netfilter",
    "/sys/module/overlay",
    "/etc/dphys-swapfile",
    "/usr/lib/systemd/system-generators/rpi-swap-generator",
    "/lib/systemd/system-generators/rpi-swap-generator",
)

MAX_READ = 4 * 1024 * 1024  # modules.dep is a few hundred kB; nothing we read is larger


def read_file(path: str) -> Reading:
    """A file's text (undecodable bytes replaced), or why it cannot be read."""
    try:
        with open(path, "rb") as handle:
            # Small reads: /proc/sys files answer ENOMEM to a multi-megabyte read().
            chunks: list[bytes] = []
            size = 0
            while size < MAX_READ:
                chunk = handle.read(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
    except FileNotFoundError:
        return Reading(path, None, "missing")
    except OSError as error:
        return Reading(path, None, error.strerror or type(error).__name__)
    return Reading(path, data.decode("utf-8", "replace"))


def run_command(argv: tuple[str, ...], timeout: float = 5.0) -> Reading:
    """A read-only command's stdout, or why there is none (never raises)."""
    shown = " ".join(argv)
    if shutil.which(argv[0]) is None:
        return Reading(shown, None, f"command not found: {argv[0]}")
    env = dict(os.environ, LC_ALL="C")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return Reading(shown, None, f"timed out after {timeout:g} s")
    except OSError as error:
        return Reading(shown, None, error.strerror or type(error).__name__)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or [""])[0][:200]
        return Reading(shown, None, f"exit {done.returncode}: {first}")
    return Reading(shown, done.stdout)


class _Timeval(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>, up to `tick`; the padding covers the rest.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("reserved", ctypes.c_int * 32),
    ]


def read_adjtimex() -> tuple[int, int] | None:
    """(state, status) of the kernel clock; modes=0 makes the call read-only."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return int(state), int(timex.status)


def read_disks(paths: tuple[str, ...] = ("/", "/var/lib")) -> tuple[Disk, ...]:
    """Free space on the file systems holding `paths`, each file system once."""
    seen: set[int] = set()
    disks: list[Disk] = []
    for path in paths:
        try:
            device = os.stat(path).st_dev
            stats = os.statvfs(path)
        except OSError:
            continue
        if device in seen:
            continue
        seen.add(device)
        disks.append(Disk(path, stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize))
    return tuple(disks)


def read_dt_revision(path: str = "/proc/device-tree/system/linux,revision") -> str | None:
    """The firmware's revision cell as hex, or None off a Pi (or on a kernel without it)."""
    try:
        with open(path, "rb") as handle:
            return device_tree_revision(handle.read(16))
    except OSError:
        return None


def collect() -> Snapshot:
    """Read this machine."""
    uname = os.uname()
    files = {path: read_file(path) for path in FILES}
    modules_dir = f"/lib/modules/{uname.release}"
    for name in ("modules.builtin", "modules.dep"):
        files[name] = read_file(os.path.join(modules_dir, name))
    commands = {name: run_command(argv) for name, argv in COMMANDS.items()}
    return Snapshot(
        machine=uname.machine,
        kernel_release=uname.release,
        files=files,
        commands=commands,
        exists={path: os.path.exists(path) for path in PATHS},
        binaries={name: shutil.which(name) for name in ("containerd", "dphys-swapfile", "iptables")},
        adjtimex=read_adjtimex(),
        disks=read_disks(),
        dt_revision=read_dt_revision(),
    )
