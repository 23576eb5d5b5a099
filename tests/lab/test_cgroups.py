"""Where the boards' cgroups live: the host's cgroup2 mount, on hybrid and on pure cgroup v2 hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.errors import EnvironmentProblem
from hardware.lab import cgroups

HYBRID = """\
25 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup rw,relatime shared:9 - tmpfs tmpfs rw,mode=755
40 31 0:35 / /sys/fs/cgroup/memory rw,relatime shared:18 - cgroup cgroup rw,memory
41 31 0:36 / /sys/fs/cgroup/unified rw,relatime shared:19 - cgroup2 cgroup2 rw
"""
PURE_V2 = "31 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw\n"
V1_ONLY = "40 31 0:35 / /sys/fs/cgroup/memory rw,relatime shared:18 - cgroup cgroup rw,memory\n"


def test_the_cgroup2_mount_is_found_on_hybrid_and_pure_hosts() -> None:
    assert cgroups.cgroup2_root(HYBRID) == Path("/sys/fs/cgroup/unified")
    assert cgroups.cgroup2_root(PURE_V2) == Path("/sys/fs/cgroup")


def test_a_host_without_cgroup2_is_one_line_with_the_fix() -> None:
    with pytest.raises(EnvironmentProblem, match="no cgroup2 hierarchy is mounted.*fix: mount -t cgroup2") as info:
        cgroups.cgroup2_root(V1_ONLY)
    assert "\n" not in str(info.value)


def test_boards_live_below_one_directory_named_after_the_lab() -> None:
    root = Path("/sys/fs/cgroup/unified")
    assert cgroups.board_dir("pi-2", root).parent == cgroups.lab_dir(root)
    assert cgroups.lab_dir(root).name.endswith("boards")


def test_a_missing_tree_has_no_processes_and_removes_quietly(tmp_path: Path) -> None:
    assert cgroups.pids(tmp_path / "gone") == []
    cgroups.remove(tmp_path / "gone")
