"""Flat apt repositories (`deb [signed-by=...] URL /`): Packages, Release, InRelease, Release.gpg.

Packages stanzas are the .deb's control fields plus Filename, Size and
checksums; Release lists the index files with MD5/SHA256 (apt needs SHA256),
and is signed with the lab key (gpgkey.py), clear-signed as InRelease and
detached as Release.gpg.
"""

from __future__ import annotations

import gzip
import hashlib
import subprocess
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from foundation.errors import EnvironmentProblem

from .gpgkey import LabKey


def control_of(deb: Path) -> str:
    """The control file of a .deb (dpkg-deb --field prints it)."""
    result = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EnvironmentProblem(f"dpkg-deb cannot read {deb}: {result.stderr.strip()}; fix: rebuild the repository")
    return result.stdout.rstrip("\n")


def _sums(data: bytes) -> dict[str, str]:
    return {"MD5sum": hashlib.md5(data, usedforsecurity=False).hexdigest(), "SHA1": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
            "SHA256": hashlib.sha256(data).hexdigest()}


def packages_index(root: Path, debs: list[Path]) -> str:
    """The Packages file for `debs` (paths relative to `root`)."""
    stanzas = []
    for deb in sorted(debs):
        data = deb.read_bytes()
        extra = {"Filename": str(deb.relative_to(root)), "Size": str(len(data)), **_sums(data)}
        stanzas.append(control_of(deb) + "\n" + "".join(f"{k}: {v}\n" for k, v in extra.items()))
    return "\n".join(stanzas)


def write_indexes(root: Path, debs: list[Path], origin: str, label: str, key: LabKey,
                  now: datetime | None = None) -> None:
    """Packages, Packages.gz, Release (+ InRelease, Release.gpg, Release.key) for a flat repository."""
    packages = packages_index(root, debs).encode()
    (root / "Packages").write_bytes(packages)
    (root / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
    moment = now or datetime.now(UTC)
    architectures = sorted({line.split(": ", 1)[1] for line in packages.decode().splitlines()
                            if line.startswith("Architecture: ")})
    lines = [f"Origin: {origin}", f"Label: {label}", "Architectures: " + " ".join(architectures),
             f"Date: {format_datetime(moment, usegmt=True)}"]
    for field, algorithm in (("MD5Sum", "md5"), ("SHA256", "sha256")):
        lines.append(f"{field}:")
        for name in ("Packages", "Packages.gz"):
            data = (root / name).read_bytes()
            lines.append(f" {hashlib.new(algorithm, data).hexdigest()} {len(data):>16} {name}")
    release = root / "Release"
    release.write_text("\n".join(lines) + "\n")
    for name in ("InRelease", "Release.gpg"):
        (root / name).unlink(missing_ok=True)
    key.sign(release, root / "InRelease", clear=True)
    key.sign(release, root / "Release.gpg", clear=False)
    (root / "Release.key").write_bytes(key.public_armored())
