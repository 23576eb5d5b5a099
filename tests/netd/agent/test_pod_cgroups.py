"""Pod cgroup discovery, the hierarchies in /proc/mounts, /proc parsers and CPU rates (pure)."""

from __future__ import annotations

import uuid
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from native.cgroup_stat import BAD, GONE, OK, UNLIMITED
from netd.agent.pod_cgroups import (
    CgroupLayout,
    container_of,
    find_pods,
    layout_from_mounts,
    pod_of,
    stat_files,
)
from netd.agent.usage import (
    RateTracker,
    parse_cpu_ticks,
    parse_meminfo,
    parse_task_count,
    sample_from,
)

UID = "6f1f9a3c-2b4d-4e8f-9a0b-1c2d3e4f5a6b"
STATIC_UID = "3f2504e04f8911d39a0c0305e82c3301"
C1, C2 = "a" * 64, "0123456789abcdef" * 4


def lister(paths: list[str]):  # type: ignore[no-untyped-def]
    """list_dirs over a tree given as its directories' relative paths."""

    def list_dirs(relative: str) -> list[str]:
        prefix = relative.rstrip("/") + "/"
        return sorted({p[len(prefix):].split("/")[0] for p in paths if p.startswith(prefix)})

    return list_dirs


def test_systemd_driver_tree() -> None:
    under = UID.replace("-", "_")
    tree = [
        "kubepods.slice/kubepods-burstable.slice/"
        f"kubepods-burstable-pod{under}.slice/cri-containerd-{C1}.scope",
        "kubepods.slice/kubepods-burstable.slice/"
        f"kubepods-burstable-pod{under}.slice/crio-conmon-{C2}.scope",
        f"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{STATIC_UID}.slice/"
        f"docker-{C2}.scope",
        f"kubepods.slice/kubepods-pod{under}x.slice",  # not a UID
        f"kubepods.slice/kubepods-pod{STATIC_UID}.slice/crio-{C1}.scope",
        "system.slice/containerd.service",
    ]
    pods = find_pods(lister(tree))
    assert [(p.uid, p.qos, [(c.runtime, c.id) for c in p.containers]) for p in pods] == [
        (STATIC_UID, "besteffort", [("docker", C2)]),
        (UID, "burstable", [("containerd", C1)]),
        (STATIC_UID, "guaranteed", [("crio", C1)]),
    ]
    assert pods[1].path == f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{under}.slice"
    assert pods[1].containers[0].path.endswith(f"/cri-containerd-{C1}.scope")


def test_cgroupfs_driver_tree() -> None:
    tree = [
        f"kubepods/burstable/pod{UID}/{C1}",
        f"kubepods/burstable/pod{UID}/{C2}",
        f"kubepods/besteffort/pod{STATIC_UID}",
        f"kubepods/pod{STATIC_UID}/{C2}",
        f"kubepods/pod{STATIC_UID}/not-a-container",
    ]
    pods = find_pods(lister(tree))
    assert [(p.uid, p.qos, len(p.containers)) for p in pods] == [
        (STATIC_UID, "besteffort", 0),
        (UID, "burstable", 2),
        (STATIC_UID, "guaranteed", 1),
    ]
    assert pods[1].containers[1] .runtime == ""


def test_no_kubepods_no_pods() -> None:
    assert find_pods(lister(["system.slice/ssh.service", "user.slice"])) == []


@given(st.uuids(), st.sampled_from(["burstable", "besteffort", None]), st.booleans(),
       st.binary(min_size=32, max_size=32).map(bytes.hex))
def test_both_namings_map_back_to_uid_qos_and_container(
    uid: uuid.UUID, qos: str | None, systemd: bool, container: str
) -> None:
    text = str(uid)
    if systemd:
        pod = f"kubepods-{qos}-pod{text.replace('-', '_')}.slice" if qos else f"kubepods-pod{text.replace('-', '_')}.slice"
        assert pod_of(pod, None) == (text, qos or "guaranteed")
        assert container_of(f"cri-containerd-{container}.scope") == ("containerd", container)
    else:
        assert pod_of(f"pod{text}", qos) == (text, qos or "guaranteed")
        assert container_of(container) == ("", container)


@given(st.text(max_size=120), st.sampled_from(["burstable", None]))
def test_any_directory_name_is_a_valid_pod_or_nothing(name: str, qos: str | None) -> None:
    found = pod_of(name, qos)
    if found is not None:
        uid, klass = found
        assert len(uid) in (32, 36) and "_" not in uid and klass in ("guaranteed", "burstable")
    container = container_of(name)
    assert container is None or len(container[1]) == 64


@given(st.dictionaries(st.text(max_size=30), st.lists(st.text(max_size=80), max_size=5), max_size=8))
def test_any_tree_is_walked_without_error(tree: dict[str, list[str]]) -> None:
    for pod in find_pods(lambda relative: tree.get(relative, [])):
        assert pod.path.startswith("kubepods")


HYBRID = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_layouts_from_mounts() -> None:
    hybrid = layout_from_mounts(HYBRID)
    assert hybrid == CgroupLayout(1, {
        "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct"), "memory": Path("/sys/fs/cgroup/memory"),
        "pids": Path("/sys/fs/cgroup/pids"),
    })
    assert layout_from_mounts("cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n") == CgroupLayout(
        2, {"unified": Path("/sys/fs/cgroup")})
    assert layout_from_mounts("proc /proc proc rw 0 0\n") is None
    assert hybrid is not None
    figures = [(figure, Path(f.path).name) for figure, f in stat_files(hybrid, "kubepods/pod1")]
    assert figures == [("cpu", "cpuacct.usage"), ("memory_current", "memory.usage_in_bytes"),
                       ("memory_max", "memory.limit_in_bytes"), ("pids", "pids.current")]


@given(st.text(max_size=400))
def test_any_mounts_text_gives_a_layout_or_none(text: str) -> None:
    layout = layout_from_mounts(text)
    assert layout is None or layout.walk_root() is not None


def test_samples_from_readings() -> None:
    v1 = sample_from(1, {"cpu": (OK, 2_500_000_000, 0), "memory_max": (OK, 0x7FFFFFFFFFFFF000, 0),
                         "io": (OK, 10, 20), "pids": (GONE, 0, 0)})
    assert (v1.cpu_usec, v1.memory_max, v1.io_read_bytes, v1.io_write_bytes, v1.pids) == (
        2_500_000, None, 10, 20, None)
    v2 = sample_from(2, {"cpu": (OK, 2_500_000, 0), "memory_max": (UNLIMITED, 0, 0),
                         "memory_current": (BAD, 0, 0)})
    assert (v2.cpu_usec, v2.memory_max, v2.memory_current) == (2_500_000, None, None)
    assert sample_from(2, {"memory_max": (OK, 1 << 30, 0)}).memory_max == 1 << 30


def test_proc_parsers() -> None:
    stat = "cpu  100 5 50 1000 7 3 2 1 0 0\ncpu0 50 2 25 500 3 1 1 0 0 0\nintr 1\n"
    assert parse_cpu_ticks(stat) == 161
    meminfo = "MemTotal:        1000 kB\nMemFree:          200 kB\nMemAvailable:     600 kB\n"
    assert parse_meminfo(meminfo) == (1000 * 1024, 600 * 1024)
    assert parse_task_count("0.00 0.01 0.05 2/345 6789\n") == 345


@given(st.text(max_size=300))
def test_proc_parsers_never_raise(text: str) -> None:
    ticks, memory, tasks = parse_cpu_ticks(text), parse_meminfo(text), parse_task_count(text)
    assert ticks is None or ticks >= 0
    assert memory is None or min(memory) >= 0
    assert tasks is None or tasks >= 0


def test_rates_step_with_the_clock() -> None:
    rates = RateTracker()
    assert rates.rate("pod", 1_000_000, now=100.0) is None  # first reading
    assert rates.rate("pod", 1_500_000, now=102.0) == 250  # 0.5 s of CPU in 2 s
    assert rates.rate("pod", 1_500_000, now=102.0) is None  # no time passed
    assert rates.rate("pod", 100, now=104.0) is None  # counter went back: a new cgroup
    assert rates.rate("pod", 2_100, now=105.0) == 2  # 2 ms of CPU in 1 s
    assert rates.rate("pod", None, now=106.0) is None
    rates.rate("other", 5, now=106.0)
    rates.keep_only(["pod"])
    assert rates.last == {}  # "pod" was forgotten when its counter was unknown
