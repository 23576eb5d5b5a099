"""The whole boot-file plan on real layouts: bookworm/trixie (/boot/firmware) and older (/boot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware.boot import plan_boot_files
from hardware.cmdline import BootFileError, has_memory_cgroup_args

DATA = Path(__file__).parent / "data"


def _read(name: str) -> str:
    return (DATA / name).read_text()


@pytest.mark.parametrize(("cmdline", "config"), [
    ("cmdline-bookworm-lite.txt", "config-bookworm.txt"),
    ("cmdline-trixie-lite.txt", "config-trixie.txt"),
])
def test_bookworm_and_trixie_layout(cmdline: str, config: str) -> None:
    contents = {
        "/boot/firmware/cmdline.txt": _read(cmdline),
        "/boot/firmware/config.txt": _read(config),
        "/boot/cmdline.txt": _read("boot-cmdline-stub-bookworm.txt"),
        "/boot/config.txt": _read("boot-config-stub-bookworm.txt"),
    }
    edits = {edit.path: edit.content for edit in plan_boot_files(contents, "worker")}
    assert set(edits) == {"/boot/firmware/cmdline.txt", "/boot/firmware/config.txt"}
    assert has_memory_cgroup_args(edits["/boot/firmware/cmdline.txt"])
    assert edits["/boot/firmware/config.txt"].endswith("[all]\ndtoverlay=disable-wifi\ndtoverlay=disable-bt\n")
    applied = dict(contents, **edits)
    assert plan_boot_files(applied, "worker") == ()  # applying twice equals once
    master = plan_boot_files(contents, "master")
    assert [edit.path for edit in master] == ["/boot/firmware/cmdline.txt"]


def test_legacy_layout_edits_boot() -> None:
    contents = {"/boot/firmware/cmdline.txt": None, "/boot/firmware/config.txt": None,
                "/boot/cmdline.txt": _read("cmdline-buster.txt"), "/boot/config.txt": _read("config-bullseye-32bit.txt")}
    edits = {edit.path: edit.content for edit in plan_boot_files(contents, "master")}
    assert set(edits) == {"/boot/cmdline.txt", "/boot/config.txt"}
    assert edits["/boot/config.txt"].endswith("[all]\narm_64bit=1\n")


def test_stub_without_firmware_partition_is_refused() -> None:
    contents = {"/boot/cmdline.txt": _read("boot-cmdline-stub-bookworm.txt"),
                "/boot/config.txt": _read("boot-config-stub-bookworm.txt")}
    with pytest.raises(BootFileError, match="mount the boot partition"):
        plan_boot_files(contents, "worker")
    with pytest.raises(ValueError):
        plan_boot_files(contents, "queen")
