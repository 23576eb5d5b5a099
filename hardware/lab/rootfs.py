"""The lab boards' Debian root filesystem: built once with mmdebstrap, then cached.

Every lab board mounts this tree read-only as the lower layer of an overlay
(its "SD card" is the upper layer), so it is built once per package list and
never changed afterwards. The cache directory name carries a hash of the
package list and of the build recipe: change either and a new root is built
next to the old one instead of silently reusing a stale one.

It stands in for Raspberry Pi OS Lite (trixie), so it is Debian trixie with
what Pi OS Lite boots: systemd as init, D-Bus, NetworkManager with netplan
(netplan's default renderer is NetworkManager, as Pi OS sets it), sshd
(Debian's ssh.service, enabled), cloud-init, and the files of Pi OS's swap
setup (`/etc/rpi/swap.conf`; see `STAND_IN_FILES`). Trixie rather than
bookworm because Pi OS trixie seeds first boot with cloud-init files in the
boot partition, and only cloud-init >= 24.3 (trixie has 25.1) reads a
`network-config` from `seedfrom: file:///boot/firmware` as Pi OS does.

Why these choices:
- `--variant=apt` plus an explicit package list and no recommends keeps the
  root small and the build a few minutes.
- The mirror is the host's own apt mirror (from its deb822 sources file), with
  the suite replaced by ours, so the lab uses the mirror the machine is already
  configured for and nothing else.
- The tree is built in a temporary directory and renamed into place, so a
  crashed build never leaves a half-built root that looks cached.
- SSH host keys and the machine id are deleted from the shared root: each board
  makes its own on first boot and keeps them on its own disk, like a freshly
  flashed Pi.
- Nothing that could change the host from inside a board is installed: no
  systemd-timesyncd (it would set the host's clock; the lab also drops
  CAP_SYS_TIME), no dhcpcd service (dhcpcd-base has only the client the lab
  runs itself), no kernel modules.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import EnvironmentProblem

CACHE_DIR = Path(os.environ.get("APPLIANCE_LAB_CACHE", "/var/cache/appliance-lab"))
"""Where built roots are kept (one directory per package-list hash)."""

SUITE = "trixie"
"""Debian release of the boards (the base of Raspberry Pi OS trixie)."""

PACKAGES: tuple[str, ...] = (
    # What Raspberry Pi OS Lite boots with: systemd as init, D-Bus, logind sessions,
    # NetworkManager + netplan, sshd, cloud-init, sudo.
    "systemd", "systemd-sysv", "dbus", "libpam-systemd", "network-manager", "netplan.io",
    "openssh-server", "openssh-sftp-server", "cloud-init", "sudo", "procps", "kmod", "netbase",
    "mount", "locales", "iproute2", "iputils-ping", "curl", "bind9-dnsutils",
    # Provisioning's needs: package signing and TLS (apt repositories, kubeadm's PKI), python3.
    "gpg", "ca-certificates", "openssl", "python3", "python3-yaml", "python3-cryptography",
    # kubeadm/kubelet dependencies (iptables with the nft backend) and the CNI plugins.
    "iptables", "nftables", "conntrack", "ethtool", "socat", "containernetworking-plugins",
    # The node agent (pyroute2) and the lab's own DHCP clients, all three exercised by tests.
    "python3-pyroute2", "udhcpc", "dhcpcd-base", "isc-dhcp-client", "busybox",
)
"""What a board needs: Pi OS Lite's boot stack, provisioning's tools, real DHCP clients."""

RECIPE_VERSION = "5"
"""Bump when the customize hooks below change, so the cache key changes with them."""

@dataclass(frozen=True)
class StandInFile:
    """A file of Raspberry Pi OS that the root carries in its place (uploaded by mmdebstrap)."""

    path: str
    """Absolute path inside the root."""
    mode: int
    """File mode."""
    content: str
    """The whole file."""


STAND_IN_FILES: tuple[StandInFile, ...] = (
    # Pi OS trixie's stock swap configuration: every setting at its default (zram).
    StandInFile("/etc/rpi/swap.conf", 0o644, (
        "# Stand-in for Raspberry Pi OS's rpi-swap configuration, swap.conf(5). The lab's\n"
        "# firmware reads it (with swap.conf.d/*.conf) at every boot to emulate /proc/swaps.\n"
        "[Main]\n#Mechanism=auto\n\n[File]\n#Path=/var/swap\n\n[Zram]\n#MaxSizeMiB=2048\n")),
    # So that tools looking for rpi-swap (the doctor, provisioning) find it, as on Pi OS.
    StandInFile("/usr/lib/systemd/system-generators/rpi-swap-generator", 0o755, (
        "#!/bin/sh\n"
        "# Stand-in for Raspberry Pi OS's rpi-swap generator. On a Pi it makes the zram\n"
        "# swap device from /etc/rpi/swap.conf; a lab board cannot make a zram device (it\n"
        "# would be the host's), so the lab's firmware emulates its effect in /proc/swaps\n"
        "# at every boot (hardware/lab/firmware.py).\n"
        "exit 0\n")),
    # Pi OS's /lib/netplan/00-network-manager-all.yaml: netplan hands interfaces to NetworkManager.
    StandInFile("/usr/lib/netplan/00-network-manager-all.yaml", 0o600,
                "network:\n  version: 2\n  renderer: NetworkManager\n"),
)
"""Pi OS files the Debian root lacks; part of the cache key."""

# Run inside the new root after the packages are installed (mmdebstrap passes it as $1).
CUSTOMIZE_HOOKS: tuple[str, ...] = (
    'chroot "$1" useradd --create-home --shell /bin/bash --groups sudo pi',
    'echo "pi ALL=(ALL) NOPASSWD:ALL" > "$1/etc/sudoers.d/010_pi-nopasswd"',
    'chmod 0440 "$1/etc/sudoers.d/010_pi-nopasswd"',
    'rm -f "$1"/etc/ssh/ssh_host_*',
    'printf "PermitRootLogin prohibit-password\\nPasswordAuthentication no\\nUseDNS no\\n"'
    ' > "$1/etc/ssh/sshd_config.d/10-lab.conf"',
    # Each board makes its own machine id at first boot (systemd commits it to the board's disk).
    'rm -f "$1/etc/machine-id" "$1/var/lib/dbus/machine-id" && touch "$1/etc/machine-id"',
    # No hostname of the build host: the lab (or cloud-init, on a card) names each board.
    'rm -f "$1/etc/hostname"',
    # Generated locales, as on Raspberry Pi OS (en_GB) and cloud-init's default (en_US):
    # Debian's locale-gen ignores cloud-init's argument, so its locale module needs them made.
    'sed -i -e "s/^# en_GB.UTF-8/en_GB.UTF-8/" -e "s/^# en_US.UTF-8/en_US.UTF-8/" "$1/etc/locale.gen"',
    'chroot "$1" locale-gen >/dev/null',
    'mkdir -p "$1/etc/rpi/swap.conf.d" "$1/boot/firmware"',
    # First-boot chores done once here rather than on every board's first boot (they are
    # skipped when /etc/.updated and /var/.updated are newer than /usr): the journal
    # catalog, the linker cache, and the stamps themselves.
    'chroot "$1" journalctl --update-catalog && chroot "$1" ldconfig',
    'chroot "$1" /usr/lib/systemd/systemd-update-done',
    'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*',
)

DPKG_EXCLUDES: tuple[str, ...] = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
"""Documentation nobody reads inside a lab node; licences stay."""

HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
"""The host's apt sources (deb822); their mirror URLs are used for the build when present."""

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY = "http://deb.debian.org/debian-security"


def mirror_lines(host_sources: str | None, suite: str = SUITE) -> list[str]:
    """One-line apt sources for `suite` (+ updates, security) on the host's mirrors.

    The host's deb822 file names its mirror for its own suite; the lab root may be a
    newer suite, so only the URIs are taken from it (the security mirror is the one
    whose suites end in `-security`).
    """
    debian, security = DEFAULT_MIRROR, DEFAULT_SECURITY
    for stanza in re.split(r"\n\s*\n", host_sources or ""):
        fields = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith((" ", "\t", "#")):
                fields[key.strip().lower()] = value.strip()
        uris, suites = fields.get("uris", "").split(), fields.get("suites", "").split()
        if not uris or not uris[0].startswith(("http://", "https://")):
            continue
        if any(s.endswith("-security") for s in suites):
            security = uris[0]
        elif suites:
            debian = uris[0]
    return [f"deb {debian} {suite} main", f"deb {debian} {suite}-updates main",
            f"deb {security} {suite}-security main"]


@dataclass(frozen=True)
class RootInfo:
    """A built (or to-be-built) root filesystem."""

    path: Path
    """The directory holding the root tree."""
    cached: bool
    """True if it already existed (no build ran)."""
    build_seconds: float | None
    """How long the build took, when one ran."""


def cache_key(packages: tuple[str, ...] = PACKAGES) -> str:
    """Short hash of what makes a root: suite, recipe version, hooks and sorted packages."""
    stand_ins = [f"{f.path} {f.mode:o}\n{f.content}" for f in STAND_IN_FILES]
    text = "\n".join([SUITE, RECIPE_VERSION, *CUSTOMIZE_HOOKS, *stand_ins, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def root_path(packages: tuple[str, ...] = PACKAGES) -> Path:
    """Directory of the cached root for this package list."""
    return CACHE_DIR / f"rootfs-{SUITE}-{cache_key(packages)}"


def is_built(path: Path) -> bool:
    """A root counts as built when its completion stamp exists (written last)."""
    return (path / ".pilab-complete").exists()


def mmdebstrap_command(target: Path, packages: tuple[str, ...], uploads: Path) -> list[str]:
    """The mmdebstrap command line that builds a root into `target`.

    `uploads` is a directory holding the STAND_IN_FILES by index (see `write_uploads`).
    """
    command = [
        "mmdebstrap", "--variant=apt", "--mode=root", "--quiet",
        "--aptopt=APT::Install-Recommends \"false\"",
        "--include=" + ",".join(packages),
    ]
    command += [f"--dpkgopt={rule}" for rule in DPKG_EXCLUDES]
    command += [f"--customize-hook={hook}" for hook in CUSTOMIZE_HOOKS]
    for index, stand_in in enumerate(STAND_IN_FILES):
        command += [f'--customize-hook=mkdir -p "$1{os.path.dirname(stand_in.path)}"',
                    f"--customize-hook=upload {uploads / str(index)} {stand_in.path}",
                    f'--customize-hook=chmod {stand_in.mode:o} "$1{stand_in.path}"']
    host = HOST_SOURCES.read_text() if HOST_SOURCES.exists() else None
    return [*command, SUITE, str(target), *mirror_lines(host)]


def write_uploads(directory: Path) -> None:
    """Write each STAND_IN_FILES entry to `directory`/INDEX for mmdebstrap's upload hooks."""
    for index, stand_in in enumerate(STAND_IN_FILES):
        (directory / str(index)).write_text(stand_in.content)


def ensure_root(packages: tuple[str, ...] = PACKAGES, *, log: Path | None = None) -> RootInfo:
    """Return the cached root for `packages`, building it first if needed."""
    path = root_path(packages)
    if is_built(path):
        return RootInfo(path=path, cached=True, build_seconds=None)
    if shutil.which("mmdebstrap") is None:
        raise EnvironmentProblem(
            "mmdebstrap not found: it builds the lab nodes' root; fix: apt-get install mmdebstrap"
        )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".building")
    if staging.exists():
        shutil.rmtree(staging)
    started = time.monotonic()
    log_file = open(log, "ab") if log else None  # noqa: SIM115 - closed below
    uploads = Path(tempfile.mkdtemp(prefix="pilab-root-files-"))
    try:
        write_uploads(uploads)
        result = subprocess.run(
            mmdebstrap_command(staging, packages, uploads),
            stdin=subprocess.DEVNULL,  # mmdebstrap reads a sources list from stdin when it is a pipe
            stdout=log_file or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
    finally:
        shutil.rmtree(uploads, ignore_errors=True)
        if log_file:
            log_file.close()
    if result.returncode != 0:
        tail = (result.stdout or b"").decode(errors="replace").strip().splitlines()[-5:]
        shutil.rmtree(staging, ignore_errors=True)
        raise EnvironmentProblem(
            f"building the lab root with mmdebstrap failed (exit {result.returncode}): "
            f"{' | '.join(tail) or 'see ' + str(log)}; fix: check the apt mirror in {HOST_SOURCES}"
        )
    (staging / ".pilab-complete").write_text(cache_key(packages) + "\n")
    staging.rename(path)
    return RootInfo(path=path, cached=False, build_seconds=time.monotonic() - started)
