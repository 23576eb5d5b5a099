"""The lab nodes' Debian root filesystem: built once with mmdebstrap, then cached.

Every lab node mounts this tree read-only as the lower layer of an overlay
(its "SD card" is the upper layer), so it is built once per package list and
never changed afterwards. The cache directory name carries a hash of the
package list and of the build recipe: change either and a new root is built
next to the old one instead of silently reusing a stale one.

Why these choices:
- `--variant=apt` plus an explicit package list and no recommends keeps the
  root small (~400 MB) and the build a few minutes.
- The mirror is the host's own apt sources file (deb822), so the lab uses the
  same mirror the machine is already configured for and nothing else.
- The tree is built in a temporary directory and renamed into place, so a
  crashed build never leaves a half-built root that looks cached.
- SSH host keys are deleted from the shared root: each node generates its own
  on first boot and keeps them on its own disk, like a freshly flashed Pi.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import EnvironmentProblem

CACHE_DIR = Path(os.environ.get("APPLIANCE_LAB_CACHE", "/var/cache/appliance-lab"))
"""Where built roots are kept (one directory per package-list hash)."""

SUITE = "bookworm"
"""Debian release of the nodes (same as Raspberry Pi OS bookworm's base)."""

PACKAGES: tuple[str, ...] = (
    "openssh-server", "openssh-sftp-server", "python3", "iproute2", "nftables", "iptables",
    "dhcpcd5", "udhcpc", "isc-dhcp-client", "busybox", "cloud-init", "sudo", "procps",
    "iputils-ping", "curl", "dnsutils", "containernetworking-plugins", "python3-yaml",
    "python3-pyroute2", "ca-certificates", "kmod", "netbase", "mount", "locales",
    # the install steps of pkgs.k8s.io (curl Release.key | gpg --dearmor) and the Kubernetes fake's PKI
    "gpg", "python3-cryptography",
)
"""What a node needs: sshd, real DHCP clients, busybox (its init), cloud-init, CNI plugins, gpg."""

RECIPE_VERSION = "4"
"""Bump when the customize hooks below change, so the cache key changes with them."""

# Run inside the new root after the packages are installed (mmdebstrap passes it as $1).
CUSTOMIZE_HOOKS: tuple[str, ...] = (
    'chroot "$1" useradd --create-home --shell /bin/bash --groups sudo pi',
    'echo "pi ALL=(ALL) NOPASSWD:ALL" > "$1/etc/sudoers.d/010_pi-nopasswd"',
    'chmod 0440 "$1/etc/sudoers.d/010_pi-nopasswd"',
    'rm -f "$1"/etc/ssh/ssh_host_*',
    'printf "PermitRootLogin prohibit-password\\nPasswordAuthentication no\\nUseDNS no\\n"'
    ' > "$1/etc/ssh/sshd_config.d/10-lab.conf"',
    'rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"',
    # Generated locales, as on Raspberry Pi OS (en_GB) and cloud-init's default (en_US):
    # Debian's locale-gen ignores cloud-init's argument, so its locale module needs them made.
    'sed -i -e "s/^# en_GB.UTF-8/en_GB.UTF-8/" -e "s/^# en_US.UTF-8/en_US.UTF-8/" "$1/etc/locale.gen"',
    'chroot "$1" locale-gen >/dev/null',
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
"""The host's apt sources; used as the build's mirror list when present."""


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
    text = "\n".join([SUITE, RECIPE_VERSION, *CUSTOMIZE_HOOKS, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def root_path(packages: tuple[str, ...] = PACKAGES) -> Path:
    """Directory of the cached root for this package list."""
    return CACHE_DIR / f"rootfs-{SUITE}-{cache_key(packages)}"


def is_built(path: Path) -> bool:
    """A root counts as built when its completion stamp exists (written last)."""
    return (path / ".pilab-complete").exists()


def mmdebstrap_command(target: Path, packages: tuple[str, ...]) -> list[str]:
    """The mmdebstrap command line that builds a root into `target`."""
    command = [
        "mmdebstrap", "--variant=apt", "--mode=root", "--quiet",
        "--aptopt=APT::Install-Recommends \"false\"",
        "--include=" + ",".join(packages),
    ]
    command += [f"--dpkgopt={rule}" for rule in DPKG_EXCLUDES]
    command += [f"--customize-hook={hook}" for hook in CUSTOMIZE_HOOKS]
    command += [SUITE, str(target)]
    if HOST_SOURCES.exists():
        command.append(str(HOST_SOURCES))
    return command


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
    try:
        result = subprocess.run(
            mmdebstrap_command(staging, packages),
            stdin=subprocess.DEVNULL,  # mmdebstrap reads a sources list from stdin when it is a pipe
            stdout=log_file or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
    finally:
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
