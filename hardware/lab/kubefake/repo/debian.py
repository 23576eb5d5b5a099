"""Real Debian packages for the plans (containerd, runc, containernetworking-plugins), fetched once.

`apt-get download` on the host fetches each package and what it depends on
that the boards' root lacks, from the boards' release: when it is not the
host's own (a trixie root on a bookworm host), apt runs with a private
state whose sources are the host's mirror with the boards' suite. The
.debs are cached under the lab's cache directory, so CI downloads once.
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


HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
"""The host's apt sources (deb822), whose mirror the boards' suite is fetched from."""


def host_suite() -> str:
    """VERSION_CODENAME of the host."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


def apt_options(suite: str, work: Path) -> list[str]:
    """apt options that fetch from `suite`: none for the host's own suite, else a private apt state."""
    host = host_suite()
    if not suite or suite == host:
        return []
    if not HOST_SOURCES.exists():
        raise EnvironmentProblem(f"{HOST_SOURCES} not found: it names the Debian mirror for the boards' {suite} "
                                 "packages; fix: configure apt with a deb822 sources file")
    sources = re.sub(rf"\b{re.escape(host)}(?=(-updates|-security)?\b)", suite, HOST_SOURCES.read_text())
    for directory in ("sources", "lists/partial", "cache/archives/partial"):
        (work / directory).mkdir(parents=True, exist_ok=True)
    (work / "sources" / "debian.sources").write_text(sources)
    options = ["-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={work / 'sources'}",
               "-o", f"Dir::State::Lists={work / 'lists'}", "-o", f"Dir::Cache={work / 'cache'}"]
    result = subprocess.run(["apt-get", *options, "update", "-q"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EnvironmentProblem(f"apt-get update for {suite} failed: {result.stderr.strip()[-300:]}; "
                                 "fix: check the Debian mirror in " + str(HOST_SOURCES))
    return options


def closure(packages: tuple[str, ...], options: list[str] | None = None) -> list[str]:
    """The packages and their (recursive, no recommends) dependencies, virtual ones left out."""
    result = subprocess.run(["apt-cache", *(options or []), "depends", "--recurse", "--no-recommends", "--no-suggests",
                             "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *packages],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EnvironmentProblem(f"apt-cache depends failed: {result.stderr.strip()}; fix: apt-get update")
    names = {line.strip() for line in result.stdout.splitlines() if line and not line.startswith((" ", "<"))}
    return sorted(n for n in names if re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", n))


def fetch(cache: Path, root: Path | None, packages: tuple[str, ...] = WANTED, suite: str = "") -> list[Path]:
    """The .debs of `packages` plus their dependencies missing from `root`, from `suite` (default: the
    host's), downloaded into `cache/<suite>` once (the dependency list is kept there too)."""
    suite = suite or host_suite()
    cache = cache / suite
    cache.mkdir(parents=True, exist_ok=True)
    listed = cache / f"closure-{'-'.join(packages)}.txt"
    options: list[str] | None = None
    if listed.exists():
        names = listed.read_text().split()
    else:
        options = apt_options(suite, cache.parent / f"apt-{suite}")
        names = closure(packages, options)
        listed.write_text("\n".join(names) + "\n")
    have = installed_in(root)
    wanted = [p for p in names if p in packages or p not in have]
    missing = [p for p in wanted if not list(cache.glob(f"{p}_*.deb"))]
    if missing:
        options = options if options is not None else apt_options(suite, cache.parent / f"apt-{suite}")
        result = subprocess.run(["apt-get", *options, "download", "-q", *missing], cwd=cache, capture_output=True,
                                text=True, check=False)
        if result.returncode != 0:
            raise EnvironmentProblem(f"apt-get download {' '.join(missing)} failed: {result.stderr.strip()[-300:]}; "
                                     "fix: apt-get update (the Debian mirror must be reachable)")
    return sorted(d for p in wanted for d in cache.glob(f"{p}_*.deb"))
