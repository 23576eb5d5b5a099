"""System facts: architecture, OS release, hostname, and the boot files and kernel switches."""

from __future__ import annotations

from dataclasses import dataclass

from hardware.cmdline import FIRMWARE_CMDLINE, FIRMWARE_CONFIG, LEGACY_CMDLINE, LEGACY_CONFIG
from hardware.doctor import parsers
from hardware.models import MalformedRevision, cpuinfo_revision, decode_revision
from provisioning.facts import script as s

BOOT_FILES = (FIRMWARE_CMDLINE, LEGACY_CMDLINE, FIRMWARE_CONFIG, LEGACY_CONFIG)

SECTIONS = (
    s.command("machine", "uname -m"),
    s.command("dpkg_arch", "dpkg --print-architecture"),
    s.file("os_release", "/etc/os-release"),
    s.command("hostname", "hostname"),
    s.file("etc_hostname", "/etc/hostname"),
    s.file("etc_hosts", "/etc/hosts"),
    *(s.file(f"boot:{path}", path) for path in BOOT_FILES),
    s.file("proc_cmdline", "/proc/cmdline"),
    s.file("cgroup_controllers", "/sys/fs/cgroup/cgroup.controllers"),
    s.file("proc_cgroups", "/proc/cgroups"),
    s.exists("systemd", "/run/systemd/system"),
    s.command("epoch", "date +%s"),
    s.command("revision", "grep -m1 '^Revision' /proc/cpuinfo"),
    s.command("dt_model", "tr -d '\\000' < /proc/device-tree/model"),
)


@dataclass(frozen=True)
class SystemFacts:
    """What kind of machine the node is and how it booted."""

    machine: str
    """Kernel architecture (uname -m), e.g. aarch64."""
    dpkg_arch: str
    """Debian architecture of the userland (dpkg --print-architecture), e.g. arm64; "" if unknown."""
    os_release: dict[str, str]
    """/etc/os-release as a mapping (ID, VERSION_CODENAME, PRETTY_NAME, …)."""
    hostname: str
    """The running hostname."""
    etc_hostname: str | None
    """/etc/hostname's text, None when missing."""
    etc_hosts: str | None
    """/etc/hosts's text, None when missing."""
    boot_files: dict[str, str | None]
    """cmdline.txt and config.txt under /boot/firmware and /boot: text or None."""
    proc_cmdline: str
    """The running kernel's command line."""
    memory_cgroup: bool | None
    """Whether the running kernel has the memory cgroup (None: cannot tell)."""
    systemd: bool
    """True when systemd is PID 1 (units can be managed)."""
    epoch: int | None = None
    """The node's clock (Unix seconds) when the facts were read, None when unreadable."""
    model: str | None = None
    """The Raspberry Pi model (device tree, else the decoded revision code); None off a Pi."""

    @property
    def pretty_os(self) -> str:
        """A one-line OS name for messages."""
        return self.os_release.get("PRETTY_NAME") or self.os_release.get("ID") or "unknown OS"


def parse_os_release(text: str) -> dict[str, str]:
    """os-release(5): KEY=value lines, values optionally quoted; anything else is skipped."""
    result: dict[str, str] = {}
    for line in text.splitlines()[:200]:
        key, sep, value = line.strip().partition("=")
        if not sep or not key.replace("_", "").isalnum() or not key.isupper():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        result[key] = value[:200]
    return result


def memory_cgroup(controllers: str | None, proc_cgroups: str | None) -> bool | None:
    """cgroup v2's controller list decides when present; else /proc/cgroups (v1)."""
    if controllers is not None:
        return "memory" in parsers.cgroup_controllers(controllers)
    if proc_cgroups is not None:
        return parsers.proc_cgroups(proc_cgroups).get("memory")
    return None


def board_model(revision_line: str, dt_model: str) -> str | None:
    """The board's name: the device tree's own words, else the revision code decoded; None off a Pi."""
    named = dt_model.strip()[:80]
    if named.startswith("Raspberry Pi"):
        return named
    code = cpuinfo_revision(revision_line)
    if code is None:
        return None
    try:
        return decode_revision(code).model
    except MalformedRevision:
        return None


def parse(raw: dict[str, str]) -> SystemFacts:
    """SystemFacts from the gathered sections."""
    return SystemFacts(
        machine=raw.get("machine", "").strip()[:40],
        dpkg_arch=raw.get("dpkg_arch", "").strip()[:40],
        os_release=parse_os_release(s.file_text(raw.get("os_release")) or ""),
        hostname=raw.get("hostname", "").strip()[:253],
        etc_hostname=s.file_text(raw.get("etc_hostname")),
        etc_hosts=s.file_text(raw.get("etc_hosts")),
        boot_files={path: s.file_text(raw.get(f"boot:{path}")) for path in BOOT_FILES},
        proc_cmdline=(s.file_text(raw.get("proc_cmdline")) or "").strip(),
        memory_cgroup=memory_cgroup(s.file_text(raw.get("cgroup_controllers")),
                                    s.file_text(raw.get("proc_cgroups"))),
        systemd=s.flag(raw.get("systemd")),
        epoch=int(raw["epoch"].strip()) if raw.get("epoch", "").strip().isdigit() and len(raw["epoch"]) < 16 else None,
        model=board_model(raw.get("revision", ""), raw.get("dt_model", "")),
    )
