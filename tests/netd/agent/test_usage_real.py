"""Pod accounting on real cgroups this test makes, with processes that burn CPU and allocate memory.

For each cgroup version this machine has (a hybrid host has both), each
kubelet cgroup driver's naming (systemd, cgroupfs) and each reader (the C
set and its twin): the collector finds the pod, maps it to its UID, QoS and
container, and its figures move as they should; once the pod's cgroups are
removed, the open files read as gone and the pod leaves the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from native._loader import load
from native.cgroup_stat import GONE, CgroupFiles, CgroupFilesTwin, NativeCgroupFiles
from netd.agent.usage import UsageCollector
from netd.agent.usage_report import PodUsage
from tests.netd.agent.cgroup_tree import CgroupTree, go, host_layouts, idle
from tests.support.wait import wait_for

pytestmark = pytest.mark.root

UID = "6f1f9a3c-2b4d-4e8f-9a0b-1c2d3e4f5a6b"
CONTAINER = "ab" * 32
TREES = {
    "systemd": (
        f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID.replace('-', '_')}.slice",
        f"cri-containerd-{CONTAINER}.scope",
    ),
    "cgroupfs": (f"kubepods/burstable/pod{UID}", CONTAINER),
}
READERS: dict[str, Callable[[], CgroupFiles]] = {
    "c": lambda: NativeCgroupFiles(_native()),
    "twin": CgroupFilesTwin,
}
MiB = 1 << 20


def _native():  # type: ignore[no-untyped-def]
    native = load()
    assert native is not None, "the extension must be built for these tests (pip install -e .)"
    return native


def _versions() -> list[int]:
    found = sorted(host_layouts())
    assert found, "no cgroup hierarchy is mounted on this machine"
    return found


def _has(tree: CgroupTree, name: str) -> bool:
    return any((root / name).exists() for root in tree.roots.values())


def _pod(collector: UsageCollector, now: float) -> PodUsage | None:
    pods = collector.collect(now).pods
    return pods[0] if pods else None


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("driver", sorted(TREES))
@pytest.mark.parametrize("version", _versions())
def test_pod_figures_move_and_vanish(version: int, driver: str, reader: str) -> None:
    pod_path, container = TREES[driver]
    with CgroupTree(host_layouts()[version]) as tree:
        tree.make(f"{pod_path}/{container}")
        limited = version == 1 or _has(tree, f"{pod_path}/memory.max")
        if limited:
            tree.write(pod_path, "memory", "memory.limit_in_bytes" if version == 1 else "memory.max",
                       str(256 * MiB))
        burner = tree.spawn(f"{pod_path}/{container}", megabytes=64, burn=60)
        collector = UsageCollector(tree.layout, READERS[reader]())
        first = _pod(collector, time.monotonic())
        assert first is not None
        assert (first.uid, first.qos, first.containers) == (UID, "burstable", 1)
        assert first.usage.cpu_millicores is None  # no rate from one reading
        start_cpu = first.usage.cpu_usec
        assert start_cpu is not None
        go(burner)
        memory_read = _has(tree, f"{pod_path}/memory.current") or version == 1

        def moved() -> bool:
            pod = _pod(collector, time.monotonic())
            assert pod is not None
            enough_cpu = (pod.usage.cpu_usec or 0) - start_cpu >= 300_000
            enough_memory = not memory_read or (pod.usage.memory_current or 0) >= 64 * MiB
            return enough_cpu and enough_memory

        wait_for(moved, 30, 0.05, "the burner's CPU time and memory to show in its pod")
        seen: list[PodUsage] = []

        def rate_at_least(low: int) -> bool:  # the rate over the last poll interval
            found = _pod(collector, time.monotonic())
            assert found is not None
            seen.append(found)
            return (found.usage.cpu_millicores or 0) >= low

        # Whatever share of a core this busy machine gives it, a burning pod's rate shows it...
        wait_for(lambda: rate_at_least(20), 30, 0.05, "a CPU rate while the pod burns")
        pod = seen[-1]
        idle(burner)  # ...and an idle one's falls to nothing.
        wait_for(lambda: not rate_at_least(5), 30, 0.05, "the CPU rate to fall once the pod idles")
        if memory_read:
            assert 64 * MiB <= (pod.usage.memory_current or 0) < 256 * MiB
        if limited:
            assert pod.usage.memory_max == 256 * MiB
        if version == 1 or _has(tree, f"{pod_path}/pids.current"):
            assert pod.usage.pids == 1

        tree.stop(burner)
        tree.remove(f"{pod_path}/{container}")
        tree.remove(pod_path)
        assert collector.scanner is not None
        samples, gone = collector.scanner.scan()  # descriptors opened before the rmdir
        assert (samples, gone) == ({}, [pod_path])
        assert collector.collect(time.monotonic()).pods == ()


@pytest.mark.parametrize("version", _versions())
def test_c_and_twin_read_real_cgroups_alike(version: int) -> None:
    with CgroupTree(host_layouts()[version]) as tree:
        tree.make("steady/one")
        sleeper = tree.spawn("steady/one")
        c, twin = NativeCgroupFiles(_native()), CgroupFilesTwin()
        files = [file for root in tree.roots.values() for file in _steady_files(root / "steady")]
        assert files, "no steady cgroup file to compare"
        c.open(files)
        twin.open(files)
        assert c.scan() == twin.scan()
        tree.stop(sleeper)
        tree.remove("steady/one")
        tree.remove("steady")
        readings = c.scan()
        assert readings == twin.scan()
        assert {status for status, _, _ in readings} == {GONE}


def _steady_files(directory):  # type: ignore[no-untyped-def]
    from native.cgroup_stat import INTEGER, StatFile

    names = ["memory.limit_in_bytes", "memory.max", "pids.current", "pids.max", "cgroup.max.depth"]
    return [StatFile(str(directory / name), INTEGER) for name in names if (directory / name).exists()]
