"""Real Debian packages for the plans (containerd, runc, containernetworking-plugins), fetched once.

`apt-get download` on the host (the same release as the boards' root)
fetches each package and what it depends on that the boards' root lacks;
the .debs are cached under the lab's cache directory, so CI downloads once.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from foundation.errors import EnvironmentProblem

WANTED = ("containerd", "runc", "containernetworking-plugins")
"""What the provisioning plans install from Debian besides the Kubernetes packages."""


def installed_in(root: Path | None) -> set[str]:
    """Packages installed in a Debian root (its dpkg status), or none."""
    if root is None:
        return set()
    status = root / "var/lib/dpkg/status"
    if not status.exists():
        return set()
    names, current = set(), ""
    for line in status.read_text(errors="replace").splitlines():
        if line.startswith("Package: "):
            current = line.split(": ", 1)[1]
        elif line.startswith("Status: ") and line.endswith(" installed"):
            names.add(current)
    return names


def closure(packages: tuple[str, ...]) -> list[str]:
    """The packages and their (recursive, no recommends) dependencies, virtual ones left out."""
    result = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                             "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *packages],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EnvironmentProblem(f"apt-cache depends failed: {result.stderr.strip()}; fix: apt-get update")
    names = {line.strip() for line in result.stdout.splitlines() if line and not line.startswith((" ", "<"))}
    return sorted(n for n in names if re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", n))


def fetch(cache: Path, root: Path | None, packages: tuple[str, ...] = WANTED) -> list[Path]:
    """The .debs of `packages` plus their dependencies missing from `root`, downloaded into `cache` once."""
    cache.mkdir(parents=True, exist_ok=True)
    have = installed_in(root)
    wanted = [p for p in closure(packages) if p in packages or p not in have]
    missing = [p for p in wanted if not list(cache.glob(f"{p}_*.deb"))]
    if missing:
        result = subprocess.run(["apt-get", "download", "-q", *missing], cwd=cache, capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise EnvironmentProblem(f"apt-get download {' '.join(missing)} failed: {result.stderr.strip()[-300:]}; "
                                     "fix: apt-get update (the Debian mirror must be reachable)")
    return sorted(d for p in wanted for d in cache.glob(f"{p}_*.deb"))
