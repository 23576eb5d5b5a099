"""cmdline.txt edits on the files Raspberry Pi OS ships, idempotence, and hostile content."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.cmdline import (
    BootFileError,
    choose_boot_file,
    edit_kernel_args,
    enable_memory_cgroup,
    has_memory_cgroup_args,
    moved_stub_target,
    split_args,
)

DATA = Path(__file__).parent / "data"
SHIPPED = ["cmdline-bookworm-lite.txt", "cmdline-bookworm-imager-firstrun.txt",
           "cmdline-trixie-lite.txt", "cmdline-buster.txt"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_files_get_the_flags_once_and_keep_everything(name: str) -> None:
    original = (DATA / name).read_text()
    edited = enable_memory_cgroup(original)
    assert edited.count("\n") == 1 and edited.endswith("\n")
    before, after = split_args(original), split_args(edited)
    assert after[: len(before)] == before  # every argument kept, in order (duplicates too)
    assert after[len(before):] == ["cgroup_enable=memory", "cgroup_memory=1"]
    assert has_memory_cgroup_args(edited) and not has_memory_cgroup_args(original)
    assert enable_memory_cgroup(edited) is edited  # second run: no change at all


def test_exact_result_for_bookworm_lite() -> None:
    assert enable_memory_cgroup((DATA / "cmdline-bookworm-lite.txt").read_text()) == (
        "console=serial0,115200 console=tty1 root=PARTUUID=a3f07636-02 rootfstype=ext4 "
        "fsck.repair=yes rootwait cfg80211.ieee80211_regdom=CA cgroup_enable=memory cgroup_memory=1\n")


@pytest.mark.parametrize(("line", "expected"), [
    ("root=/dev/mmcblk0p2 cgroup_memory=1\n", "root=/dev/mmcblk0p2 cgroup_memory=1 cgroup_enable=memory\n"),
    ("root=x cgroup_enable=memory cgroup_enable=memory cgroup_memory=1\n", "root=x cgroup_enable=memory cgroup_memory=1\n"),
    ("root=x cgroup_disable=memory rootwait\n", "root=x rootwait cgroup_enable=memory cgroup_memory=1\n"),
    ("root=x cgroup_memory=0 cgroup_enable=cpuset\n", "root=x cgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1\n"),
    ("root=x  rootwait", "root=x rootwait cgroup_enable=memory cgroup_memory=1\n"),
    ("root=x rootwait\r\n", "root=x rootwait cgroup_enable=memory cgroup_memory=1\n"),
    ('root=x dyndbg="file a.c +p" rootwait\n', 'root=x dyndbg="file a.c +p" rootwait cgroup_enable=memory cgroup_memory=1\n'),
])
def test_table_of_edits(line: str, expected: str) -> None:
    assert enable_memory_cgroup(line) == expected
    assert enable_memory_cgroup(expected) == expected


def test_already_right_is_returned_unchanged_even_with_odd_spacing() -> None:
    text = "root=x   cgroup_enable=memory\tcgroup_memory=1"
    assert enable_memory_cgroup(text) is text


@pytest.mark.parametrize(("text", "why"), [
    ("root=x\nrootwait\n", "2 lines"),
    ("root=x\r\nrootwait cgroup_enable=memory\r\n", "2 lines"),
    ("root=x\rrootwait", "2 lines"),
    ("root=x\0 rootwait\n", "NUL"),
    ('root=x dyndbg="a rootwait\n', "unbalanced"),
    ("", "empty"),
    ("   \n", "empty"),
    ("root=x " + "a" * 2100 + "\n", "2048-byte limit"),
])
def test_hostile_content_is_refused_with_one_line(text: str, why: str) -> None:
    with pytest.raises(BootFileError) as caught:
        enable_memory_cgroup(text, where="/boot/firmware/cmdline.txt")
    assert why in str(caught.value) and "\n" not in str(caught.value)
    assert "/boot/firmware/cmdline.txt" in str(caught.value)


def test_long_line_already_right_is_left_alone() -> None:
    text = "root=x " + "a" * 3000 + " cgroup_enable=memory cgroup_memory=1\n"
    assert enable_memory_cgroup(text) is text


ARG = st.text(alphabet=st.characters(blacklist_characters=' \t\v\f\n\r"\0'), min_size=1, max_size=12)


@given(st.lists(st.one_of(ARG, st.sampled_from(["cgroup_enable=memory", "cgroup_memory=1",
                                                 "cgroup_disable=memory", "cgroup_memory=0", "rootwait"])),
                min_size=1, max_size=20))
def test_idempotent_over_random_argument_lists(args: list[str]) -> None:
    text = " ".join(args) + "\n"
    try:
        once = enable_memory_cgroup(text)
    except BootFileError:
        return
    assert enable_memory_cgroup(once) == once
    result = split_args(once)
    assert result.count("cgroup_enable=memory") == 1 and result.count("cgroup_memory=1") == 1
    assert "cgroup_disable=memory" not in result and "cgroup_memory=0" not in result
    others = [a for a in args if a not in ("cgroup_enable=memory", "cgroup_memory=1",
                                            "cgroup_disable=memory", "cgroup_memory=0")]
    assert [a for a in result if a in others] == others  # the rest in the same order


@given(st.text(max_size=300), st.lists(ARG, max_size=4), st.lists(ARG, max_size=4))
def test_fuzz_any_text_only_documented_error(text: str, add: list[str], remove: list[str]) -> None:
    try:
        once = edit_kernel_args(text, add, remove)
    except BootFileError:
        return
    assert "\0" not in once and once.count("\n") <= 1
    assert edit_kernel_args(once, add, remove) == once


def test_moved_stub_recognised() -> None:
    stub = (DATA / "boot-cmdline-stub-bookworm.txt").read_text()
    assert moved_stub_target(stub) == "/boot/firmware/cmdline.txt"
    assert moved_stub_target((DATA / "cmdline-bookworm-lite.txt").read_text()) is None


def test_choose_the_right_file() -> None:
    stub = (DATA / "boot-cmdline-stub-bookworm.txt").read_text()
    real = (DATA / "cmdline-bookworm-lite.txt").read_text()
    legacy = (DATA / "cmdline-buster.txt").read_text()
    assert choose_boot_file({"/boot/firmware/cmdline.txt": real, "/boot/cmdline.txt": stub}) == "/boot/firmware/cmdline.txt"
    # pi-gen's symlink /boot/cmdline.txt -> firmware/cmdline.txt reads as the same text
    assert choose_boot_file({"/boot/firmware/cmdline.txt": real, "/boot/cmdline.txt": real}) == "/boot/firmware/cmdline.txt"
    assert choose_boot_file({"/boot/firmware/cmdline.txt": None, "/boot/cmdline.txt": legacy}) == "/boot/cmdline.txt"
    with pytest.raises(BootFileError, match="stub.*/boot/firmware/cmdline.txt"):
        choose_boot_file({"/boot/cmdline.txt": stub})
    with pytest.raises(BootFileError, match="neither"):
        choose_boot_file({})
