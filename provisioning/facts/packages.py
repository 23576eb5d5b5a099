"""Package facts: what dpkg has installed (and at which version), what is held, the Kubernetes apt source."""

from __future__ import annotations

import re
from dataclasses import dataclass

from provisioning import paths
from provisioning.facts import script as s

PACKAGES = ("containerd", "containernetworking-plugins", "kubeadm", "kubelet", "kubectl",
            "gpg", "curl", "ca-certificates", "iptables", "python3-pyroute2", "python3-yaml")
"""Packages the plans install or rely on."""

SECTIONS = (
    s.command("dpkg", "dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' "
                      + " ".join(PACKAGES)),
    s.file("k8s_sources", paths.K8S_SOURCES),
    s.digest("k8s_keyring", paths.K8S_KEYRING),
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]{0,100}$")
_VERSION = re.compile(r"^[A-Za-z0-9.+~:-]{1,100}$")


@dataclass(frozen=True)
class Package:
    """One package as dpkg knows it."""

    name: str
    """Package name."""
    version: str
    """Installed (or last known) version."""
    installed: bool
    """True when fully installed (dpkg status `installed`)."""
    held: bool
    """True when marked hold (apt-mark hold), so upgrades leave it alone."""


@dataclass(frozen=True)
class PackageFacts:
    """The packages of PACKAGES and the Kubernetes apt source."""

    packages: dict[str, Package]
    """By name; a package dpkg does not know is absent."""
    k8s_sources: str | None
    """Text of the Kubernetes sources list, None when missing."""
    k8s_keyring_sha256: str | None
    """sha256 of the dearmored signing key, None when missing."""

    def installed(self, name: str) -> Package | None:
        """The package if it is fully installed, else None."""
        package = self.packages.get(name)
        return package if package is not None and package.installed else None


def parse_dpkg_query(text: str) -> dict[str, Package]:
    """`${Package}\\t${Version}\\t${db:Status-Abbrev}` lines; malformed lines are skipped.

    Status-Abbrev is three letters: the wanted state (`h` = hold), the current state
    (`i` = installed) and an error flag (blank when fine). Reading holds here spares
    `apt-mark showhold`, which loads the whole apt cache (seconds on a Pi).
    """
    found: dict[str, Package] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 3:
            continue
        name, version, status = fields[0].strip(), fields[1].strip(), fields[2]
        if not _NAME.match(name) or (version and not _VERSION.match(version)) or len(status) < 2:
            continue
        healthy = len(status) < 3 or status[2] == " "
        found[name] = Package(name, version, status[1] == "i" and healthy, status[0] == "h")
    return found


def upstream_version(version: str) -> str:
    """The upstream part of a Debian version: no epoch, no revision (1:1.34.2-1.1 → 1.34.2)."""
    without_epoch = version.split(":", 1)[-1]
    return without_epoch.rsplit("-", 1)[0] if "-" in without_epoch else without_epoch


def minor_of(version: str) -> str | None:
    """`MAJOR.MINOR` of a version such as 1.34.2-1.1 (None when it does not start that way)."""
    match = re.match(r"^(\d+)\.(\d+)(?:\D|$)", upstream_version(version))
    return f"{match.group(1)}.{match.group(2)}" if match else None


def parse(raw: dict[str, str]) -> PackageFacts:
    """PackageFacts from the gathered sections."""
    return PackageFacts(
        packages=parse_dpkg_query(raw.get("dpkg", "")),
        k8s_sources=s.file_text(raw.get("k8s_sources")),
        k8s_keyring_sha256=s.sha256_of(raw.get("k8s_keyring")),
    )
