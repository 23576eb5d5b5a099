"""Where a node's Kubernetes pods live in the cgroup tree, and which files hold their figures.

The kubelet makes one cgroup per pod and one per container under `kubepods`,
named after its cgroup driver:
- systemd: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid, _ for ->.slice/
  cri-containerd-<64 hex>.scope` (guaranteed pods sit right under kubepods.slice,
  `kubepods-pod<uid>.slice`; CRI-O names `crio-<id>.scope`, Docker `docker-<id>.scope`);
- cgroupfs: `kubepods/burstable/pod<uid>/<64 hex>` (guaranteed: `kubepods/pod<uid>/...`).
Static pods have 32-hex UIDs (a hash) instead of the dashed form.

The naming rules are pure functions over directory names (`find_pods` takes
a lister, so tests hand it a dict); `layout_from_mounts` reads /proc/mounts'
text; `stat_files` says which file holds which figure on cgroup v1 and v2.
Standard library only (the node agent's payload).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from native.cgroup_stat import BLKIO_V1, INTEGER, IO_V2, KEYED, StatFile

QOS_CLASSES = ("guaranteed", "burstable", "besteffort")
_UID = r"[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}"
_SYSTEMD_POD = re.compile(rf"kubepods(?:-(burstable|besteffort))?-pod({_UID})\.slice")
_CGROUPFS_POD = re.compile(rf"pod({_UID})")
_SYSTEMD_CONTAINER = re.compile(r"(cri-containerd|crio|docker)-([0-9a-f]{64})\.scope")
_CGROUPFS_CONTAINER = re.compile(r"[0-9a-f]{64}")
V1_CONTROLLERS = ("cpuacct", "memory", "blkio", "pids")
"""The cgroup v1 hierarchies the figures come from."""


@dataclass(frozen=True)
class ContainerCgroup:
    """One container's cgroup."""

    id: str
    """The runtime's container id (64 hex)."""
    runtime: str
    """containerd, crio, docker, or "" when the name does not say (cgroupfs driver)."""
    path: str
    """Relative cgroup path (from the hierarchy's root)."""


@dataclass(frozen=True)
class PodCgroup:
    """One pod's cgroup and its containers'."""

    uid: str
    """The pod's UID as Kubernetes writes it (dashes, or 32 hex for static pods)."""
    qos: str
    """guaranteed, burstable or besteffort."""
    path: str
    """Relative cgroup path of the pod."""
    containers: tuple[ContainerCgroup, ...]
    """Its containers' cgroups, sorted by path."""


@dataclass(frozen=True)
class CgroupLayout:
    """Where the hierarchies are mounted (or, in tests, where a test tree starts)."""

    version: int
    """1 (per-controller hierarchies) or 2 (the unified one)."""
    roots: dict[str, Path]
    """v2: {"unified": root}; v1: controller -> root of its hierarchy."""

    def walk_root(self) -> Path | None:
        """The hierarchy pods are looked for in."""
        if self.version == 2:
            return self.roots.get("unified")
        return self.roots.get("cpuacct") or self.roots.get("memory")


def pod_of(name: str, parent_qos: str | None) -> tuple[str, str] | None:
    """(uid, qos) when the directory `name` is a pod's cgroup; `parent_qos` is its parent's QoS."""
    match = _SYSTEMD_POD.fullmatch(name) or _CGROUPFS_POD.fullmatch(name)
    if match is None:
        return None
    uid = match.group(match.lastindex or 1).replace("_", "-")
    qos = match.group(1) if match.re is _SYSTEMD_POD and match.group(1) else parent_qos
    return uid, qos or "guaranteed"


def container_of(name: str) -> tuple[str, str] | None:
    """(runtime, id) when the directory `name` is a container's cgroup."""
    match = _SYSTEMD_CONTAINER.fullmatch(name)
    if match is not None:
        runtime = "containerd" if match.group(1) == "cri-containerd" else match.group(1)
        return runtime, match.group(2)
    if _CGROUPFS_CONTAINER.fullmatch(name):
        return "", name
    return None


def _qos_dir(name: str) -> str | None:
    for qos in ("burstable", "besteffort"):
        if name in (qos, f"kubepods-{qos}.slice"):
            return qos
    return None


def find_pods(list_dirs: Callable[[str], list[str]]) -> list[PodCgroup]:
    """Every pod cgroup under kubepods; `list_dirs(relative path)` names a directory's subdirectories."""
    pods = []
    for top in ("kubepods.slice", "kubepods"):
        below = list_dirs(top)
        candidates: list[tuple[str, str, str | None]] = [(top, name, None) for name in below]
        for name in below:
            qos = _qos_dir(name)
            if qos is not None:
                candidates += [(f"{top}/{name}", child, qos) for child in list_dirs(f"{top}/{name}")]
        for parent, name, qos in candidates:
            found = pod_of(name, qos)
            if found is None:
                continue
            path = f"{parent}/{name}"
            containers = []
            for child in sorted(list_dirs(path)):
                container = container_of(child)
                if container is not None:
                    containers.append(ContainerCgroup(container[1], container[0], f"{path}/{child}"))
            pods.append(PodCgroup(found[0], found[1], path, tuple(containers)))
    return sorted(pods, key=lambda pod: pod.path)


def directory_lister(root: Path) -> Callable[[str], list[str]]:
    """`list_dirs` over a real hierarchy (a directory that vanishes lists as empty)."""

    def list_dirs(relative: str) -> list[str]:
        try:
            with os.scandir(root / relative) as entries:
                return [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        except OSError:
            return []

    return list_dirs


def layout_from_mounts(text: str) -> CgroupLayout | None:
    """The hierarchies in /proc/mounts' text: v1 when its cpuacct or memory controller is
    mounted (hybrid hosts too), else the unified v2 hierarchy; None when neither is."""
    v1: dict[str, Path] = {}
    unified: Path | None = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        where = Path(fields[1].replace("\\040", " "))
        if fields[2] == "cgroup2" and unified is None:
            unified = where
        elif fields[2] == "cgroup":
            options = fields[3].split(",")
            for controller in V1_CONTROLLERS:
                if controller in options:
                    v1.setdefault(controller, where)
    if "cpuacct" in v1 or "memory" in v1:
        return CgroupLayout(1, v1)
    if unified is not None:
        return CgroupLayout(2, {"unified": unified})
    return None


FIGURES = ("cpu", "memory_current", "memory_max", "io", "pids")
"""What is read for each cgroup (io gives read and write bytes)."""


def stat_files(layout: CgroupLayout, relative: str) -> list[tuple[str, StatFile]]:
    """(figure, file) for the cgroup at `relative`; figures whose hierarchy is absent are left out.

    v1's cpuacct.usage counts nanoseconds (v2's usage_usec microseconds): `usage` converts.
    """
    if layout.version == 2:
        root = layout.roots["unified"] / relative
        return [
            ("cpu", StatFile(str(root / "cpu.stat"), KEYED, "usage_usec")),
            ("memory_current", StatFile(str(root / "memory.current"), INTEGER)),
            ("memory_max", StatFile(str(root / "memory.max"), INTEGER)),
            ("io", StatFile(str(root / "io.stat"), IO_V2)),
            ("pids", StatFile(str(root / "pids.current"), INTEGER)),
        ]
    wanted = [
        ("cpu", "cpuacct", "cpuacct.usage", INTEGER),
        ("memory_current", "memory", "memory.usage_in_bytes", INTEGER),
        ("memory_max", "memory", "memory.limit_in_bytes", INTEGER),
        ("io", "blkio", "blkio.throttle.io_service_bytes", BLKIO_V1),
        ("pids", "pids", "pids.current", INTEGER),
    ]
    return [
        (figure, StatFile(str(layout.roots[controller] / relative / name), kind))
        for figure, controller, name, kind in wanted
        if controller in layout.roots
    ]
