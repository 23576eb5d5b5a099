"""Preflight checks: each missing piece is one line that names the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.errors import EnvironmentProblem
from hardware.lab import preflight


def _proc(tmp_path: Path, filesystems: str, namespaces: tuple[str, ...]) -> tuple[Path, Path]:
    fs = tmp_path / "filesystems"
    fs.write_text(filesystems)
    ns = tmp_path / "ns"
    ns.mkdir()
    for kind in namespaces:
        (ns / kind).write_text("")
    return fs, ns


def test_kernel_ok(tmp_path: Path) -> None:
    fs, ns = _proc(tmp_path, "nodev\tproc\nnodev\toverlay\n", ("net", "mnt", "pid", "uts", "cgroup"))
    preflight.check_kernel(fs, ns)


def test_no_overlayfs(tmp_path: Path) -> None:
    fs, ns = _proc(tmp_path, "nodev\tproc\n\text4\n", ("net", "mnt", "pid", "uts", "cgroup"))
    with pytest.raises(EnvironmentProblem, match="no overlayfs.*fix: modprobe overlay") as info:
        preflight.check_kernel(fs, ns)
    assert "\n" not in str(info.value)


def test_missing_namespaces(tmp_path: Path) -> None:
    fs, ns = _proc(tmp_path, "nodev\toverlay\n", ("net", "mnt"))
    with pytest.raises(EnvironmentProblem, match="lacks pid, uts, cgroup namespaces; fix:"):
        preflight.check_kernel(fs, ns)


def test_missing_tool_names_its_package() -> None:
    with pytest.raises(EnvironmentProblem, match=r"no-such-tool-xyz not found .*fix: apt-get install pkg-xyz"):
        preflight.check_tools((("sh", "dash"), ("no-such-tool-xyz", "pkg-xyz")))


def test_root_filesystem_without_sshd(tmp_path: Path) -> None:
    (tmp_path / "lib" / "systemd").mkdir(parents=True)
    (tmp_path / "lib" / "systemd" / "systemd").write_text("")
    with pytest.raises(EnvironmentProblem, match="no /usr/sbin/sshd.*openssh-server"):
        preflight.check_root_filesystem(tmp_path)


def test_this_machine_passes() -> None:
    """The machine the tests run on (CI) has everything: scripts/install put it there."""
    preflight.check_kernel()
    preflight.check_tools()


def test_missing_mmdebstrap_names_its_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hardware.lab import rootfs

    monkeypatch.setattr(rootfs, "CACHE_DIR", tmp_path / "cache")  # nothing cached there
    monkeypatch.setenv("PATH", str(tmp_path))  # and no mmdebstrap on PATH
    with pytest.raises(EnvironmentProblem, match="mmdebstrap not found.*fix: apt-get install mmdebstrap"):
        rootfs.ensure_root()


@pytest.mark.parametrize("prefix", ["", "pilab", "PILAB-", "toolongprefix-", "pi lab-", "-"])
def test_bad_prefix(prefix: str) -> None:
    with pytest.raises(EnvironmentProblem, match="APPLIANCE_LAB_PREFIX.*fix:"):
        preflight.check_prefix(prefix)


def test_good_prefix() -> None:
    preflight.check_prefix("pilab-")
    preflight.check_prefix("plt2-")


def test_disks_on_overlayfs_are_refused(tmp_path: Path) -> None:
    import os

    device = os.stat(tmp_path).st_dev
    major, minor = os.major(device), os.minor(device)
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"25 1 {major}:{minor} / / rw,relatime shared:1 - overlay overlay rw,lowerdir=/a\n")
    with pytest.raises(EnvironmentProblem, match="on overlayfs.*fix: set APPLIANCE_LAB_DIR"):
        preflight.check_disk_dir(tmp_path / "disks", mountinfo)
    mountinfo.write_text(f"25 1 {major}:{minor} / / rw,relatime shared:1 - ext4 /dev/vda rw\n")
    preflight.check_disk_dir(tmp_path / "disks", mountinfo)
    preflight.check_disk_dir(tmp_path / "disks")  # this machine's real mounts
