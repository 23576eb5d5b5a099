"""Pure parsers of what the doctor reads on a node (files under /proc, /sys, command output).

Each takes text exactly as captured and returns plain data. They never
raise: output they do not recognise gives None (or an empty collection), and
the check that uses it reports "cannot tell" with the fix. That keeps the
doctor from crashing on a kernel or tool version nobody has seen yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml


def proc_swaps(text: str) -> tuple[str, ...]:
    """Active swap areas from /proc/swaps (header skipped; octal escapes like \\040 decoded)."""
    areas: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] == "Filename":
            continue
        areas.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[0]))
    return tuple(areas)


def proc_cgroups(text: str) -> dict[str, bool]:
    """/proc/cgroups: controller name -> enabled column."""
    controllers: dict[str, bool] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 4 or fields[0].startswith("#"):
            continue
        if fields[3] in ("0", "1"):
            controllers[fields[0]] = fields[3] == "1"
    return controllers


def cgroup_controllers(text: str) -> frozenset[str]:
    """/sys/fs/cgroup/cgroup.controllers (cgroup v2): the space-separated controller names."""
    return frozenset(text.split())


def iptables_backend(text: str) -> str | None:
    """`iptables --version` -> "nf_tables" or "legacy"; None if it is not iptables output.

    iptables 1.8+ prints the backend in brackets: "iptables v1.8.9 (nf_tables)".
    Before 1.8 there was only the legacy backend and no bracket.
    """
    match = re.search(r"\bip6?tables v(\d+)\.(\d+)[.\d]*(?: \((nf_tables|legacy)\))?", text)
    if match is None:
        return None
    if match.group(3):
        return match.group(3)
    major, minor = int(match.group(1)), int(match.group(2))
    return "legacy" if (major, minor) < (1, 8) else None


THROTTLE_BITS = {
    0: "under-voltage detected",
    1: "ARM frequency capped",
    2: "currently throttled",
    3: "soft temperature limit active",
    16: "under-voltage has occurred",
    17: "ARM frequency capping has occurred",
    18: "throttling has occurred",
    19: "soft temperature limit has occurred",
}
"""Bits of `vcgencmd get_throttled` (Raspberry Pi documentation, "vcgencmd")."""


@dataclass(frozen=True)
class Throttling:
    """Decoded get_throttled flags."""

    raw: int
    """The value as read."""
    now: tuple[str, ...]
    """Conditions active right now (bits 0-3)."""
    since_boot: tuple[str, ...]
    """Conditions that happened since boot (bits 16-19)."""


def throttled(text: str) -> Throttling | None:
    """`vcgencmd get_throttled` ("throttled=0x50005") or the firmware sysfs node ("50005")."""
    match = re.fullmatch(r"\s*(?:throttled=)?(?:0x)?([0-9a-fA-F]{1,8})\s*", text)
    if match is None:
        return None
    raw = int(match.group(1), 16)
    now = tuple(name for bit, name in THROTTLE_BITS.items() if bit < 16 and raw >> bit & 1)
    past = tuple(name for bit, name in THROTTLE_BITS.items() if bit >= 16 and raw >> bit & 1)
    return Throttling(raw, now, past)


def ntp_synchronized(text: str) -> bool | None:
    """`timedatectl show -p NTPSynchronized` ("NTPSynchronized=yes") or its --value form."""
    match = re.search(r"^(?:NTPSynchronized=)?(yes|no)\s*$", text.strip(), re.MULTILINE)
    if match is None:
        return None
    return match.group(1) == "yes"


STA_UNSYNC = 0x0040
TIME_ERROR = 5


def adjtimex_synchronized(state: int, status: int) -> bool:
    """adjtimex(2) read-only: the kernel clock is NTP-synchronised unless TIME_ERROR/STA_UNSYNC.

    This is the same test timedated uses for NTPSynchronized.
    """
    return state != TIME_ERROR and not status & STA_UNSYNC


def meminfo_total_mb(text: str) -> int | None:
    """MemTotal from /proc/meminfo, in MiB."""
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) // 1024 if match else None


def sysctl_int(text: str) -> int | None:
    """A /proc/sys value such as "1\\n"."""
    stripped = text.strip()
    return int(stripped) if re.fullmatch(r"-?\d{1,18}", stripped) else None


def proc_modules(text: str) -> frozenset[str]:
    """Loaded module names from /proc/modules."""
    return frozenset(line.split()[0] for line in text.splitlines() if line.split())


def module_names(text: str) -> frozenset[str]:
    """Module names in modules.builtin or modules.dep ("kernel/net/bridge/br_netfilter.ko.xz: ...")."""
    names: set[str] = set()
    for line in text.splitlines():
        path = line.split(":", 1)[0].strip()
        match = re.search(r"([^/]+)\.ko(?:\.\w+)?$", path)
        if match:
            names.add(match.group(1).replace("-", "_"))
    return frozenset(names)


def filesystems(text: str) -> frozenset[str]:
    """File system types the kernel knows now, from /proc/filesystems."""
    return frozenset(line.split()[-1] for line in text.splitlines() if line.split())


USERLAND_BITS = {
    "arm64": 64, "amd64": 64, "ppc64el": 64, "s390x": 64, "riscv64": 64, "loong64": 64,
    "armhf": 32, "armel": 32, "i386": 32,
}
"""Debian architecture names and their word size."""


def userland_bits(dpkg_arch: str | None, long_bit: str | None) -> tuple[int | None, str]:
    """Word size of the userland: from `dpkg --print-architecture`, else `getconf LONG_BIT`."""
    if dpkg_arch is not None:
        arch = dpkg_arch.strip()
        if arch in USERLAND_BITS:
            return USERLAND_BITS[arch], arch
    if long_bit is not None and long_bit.strip() in ("32", "64"):
        bits = int(long_bit.strip())
        return bits, f"{bits}-bit (getconf LONG_BIT)"
    return None, "unknown"


KERNEL_64BIT = frozenset({"aarch64", "arm64", "x86_64", "ppc64le", "s390x", "riscv64", "loongarch64"})


def kubelet_fail_swap_on(text: str) -> bool | None:
    """failSwapOn from a KubeletConfiguration YAML (default true); None if it is not readable."""
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError):
        # PyYAML raises ValueError for impossible timestamps ("2001-13-45") and
        # RecursionError for absurd nesting, besides its own YAMLError.
        return None
    if document is None:
        return True
    if not isinstance(document, dict):
        return None
    value = document.get("failSwapOn", True)
    return value if isinstance(value, bool) else None


def os_codename(text: str) -> str | None:
    """VERSION_CODENAME from /etc/os-release (bookworm, trixie, ...)."""
    match = re.search(r"^VERSION_CODENAME=\"?([A-Za-z0-9_.-]+)\"?\s*$", text, re.MULTILINE)
    return match.group(1) if match else None
