"""The lab's emulation of a Pi's firmware and kernel switches: pure functions, and the boot step's file handling."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.cmdline import MAX_CMDLINE, enable_memory_cgroup
from hardware.lab import firmware, firmware_boot
from hardware.lab.firmware import (
    DT_BOOTARGS,
    KernelView,
    cgroup_controllers,
    kernel_cmdline,
    memory_cgroup_enabled,
    proc_cgroups,
    proc_swaps,
    read_swap_settings,
    stock_cmdline_txt,
    swap_areas,
)

HOST_CGROUPS = (
    "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
    "cpuset\t3\t1\t1\ncpu\t1\t1\t1\nmemory\t4\t89\t1\npids\t8\t1\t1\n"
)


def test_the_command_line_is_the_device_tree_then_cmdline_txt() -> None:
    stock = stock_cmdline_txt("pi-1")
    line = kernel_cmdline(stock.encode())
    assert line == f"{DT_BOOTARGS} {stock.strip()}"
    assert "cgroup" not in stock  # Pi OS's cmdline.txt carries no cgroup flag
    assert stock.startswith("console=serial0,115200 console=tty1 root=PARTUUID=")
    assert stock_cmdline_txt("pi-1") == stock != stock_cmdline_txt("pi-2")  # stable, per board


def test_only_the_first_line_counts_and_unprintables_are_dropped() -> None:
    assert kernel_cmdline(b"a=1 b\nsecond=line\n", dt_bootargs="") == "a=1 b"
    assert kernel_cmdline(b"a=1\tb\x00c\r\n", dt_bootargs="") == "a=1 b c"
    assert kernel_cmdline(b"", dt_bootargs="x=1") == "x=1"


def test_the_line_is_cut_like_the_kernel_cuts_it() -> None:
    line = kernel_cmdline(b"a" * 5000)
    assert len(line.encode()) == MAX_CMDLINE - 1


def test_memory_is_off_on_a_stock_pi_and_on_after_provisioning_adds_the_flag() -> None:
    stock = stock_cmdline_txt("pi-1")
    assert memory_cgroup_enabled(kernel_cmdline(stock.encode())) is False
    provisioned = enable_memory_cgroup(stock)  # what provisioning writes (hardware.cmdline)
    assert memory_cgroup_enabled(kernel_cmdline(provisioned.encode())) is True


@pytest.mark.parametrize(("args", "enabled"), [
    ("", True),                                                  # a kernel without the DT's disable
    ("cgroup_disable=memory", False),
    ("cgroup_disable=memory cgroup_enable=memory", True),        # order matters: the later one wins
    ("cgroup_enable=memory cgroup_disable=memory", False),
    ("cgroup_disable=memory cgroup_memory=1", False),            # not enough on 6.12
    ("cgroup_disable=cpu,memory cgroup_enable=cpuset", False),   # lists are split on commas
    ("cgroup_disable=memory cgroup_enable=pids,memory", True),
    ('cgroup_disable="memory" x="a b" cgroup_enable="memory"', True),
    ("cgroup_disable=memoryx", True),                            # only the exact name
])
def test_memory_switch_follows_the_kernels_order(args: str, enabled: bool) -> None:
    assert memory_cgroup_enabled(args) is enabled


def test_cgroup_controllers_gain_or_lose_memory_only() -> None:
    assert cgroup_controllers("cpuset cpu io memory pids\n", memory=False) == "cpuset cpu io pids\n"
    assert cgroup_controllers("cpuset cpu io pids\n", memory=True) == "cpuset cpu io memory pids\n"
    assert cgroup_controllers("hugetlb\n", memory=True) == "cpuset cpu io memory pids hugetlb\n"
    assert cgroup_controllers("", memory=False) == "cpuset cpu io pids\n"  # a hybrid host's empty cgroup2


def test_proc_cgroups_sets_memorys_enabled_column() -> None:
    off = proc_cgroups(HOST_CGROUPS, memory=False)
    assert "memory\t4\t89\t0" in off.splitlines()
    assert off.splitlines()[0].startswith("#subsys_name")
    assert "cpu\t1\t1\t1" in off.splitlines()
    assert "memory\t4\t89\t1" in proc_cgroups(HOST_CGROUPS, memory=True).splitlines()
    # A kernel whose /proc/cgroups lists no memory row still shows one.
    assert proc_cgroups("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t0\t1\t1\n", True).endswith(
        "memory\t0\t1\t1\n")


def test_swap_follows_rpi_swaps_settings() -> None:
    stock = "[Main]\n#Mechanism=auto\n\n[Zram]\n#MaxSizeMiB=2048\n"
    assert swap_areas(None) == ()  # no rpi-swap: no swap
    assert [a.split("\t")[0] for a in swap_areas(read_swap_settings([stock]))] == ["/dev/zram0"]
    off = read_swap_settings([stock, "# appliance\n[Main]\nMechanism=none\n"])
    assert swap_areas(off) == ()
    both = swap_areas(read_swap_settings(["[Main]\nMechanism=zram+file\n[File]\nPath=/swapfile\n"]))
    assert [a.split("\t")[:2] for a in both] == [["/dev/zram0", "partition"], ["/swapfile", "file"]]
    small = swap_areas(read_swap_settings(["[Main]\nMechanism=zram\n[Zram]\nMaxSizeMiB=512\n"]))
    assert small[0].split("\t")[2] == str(512 * 1024 - 4)
    assert swap_areas(read_swap_settings(["[Main]\nMechanism=bogus\n"])) == ()
    assert proc_swaps(()) == firmware.PROC_SWAPS_HEADER


def test_kernel_view_round_trips_through_json() -> None:
    view = firmware.kernel_view(b"root=x cgroup_enable=memory\n", {"Main.Mechanism": "zram"})
    assert view.memory_cgroup is True and view.swaps[0].startswith("/dev/zram0")
    assert KernelView.from_json(view.to_json()) == view
    with pytest.raises(ValueError):
        KernelView.from_json("[]")


@given(st.binary(max_size=5000))
def test_any_cmdline_txt_gives_a_bounded_line_and_a_decision(data: bytes) -> None:
    line = kernel_cmdline(data)
    assert len(line.encode()) < MAX_CMDLINE and "\n" not in line
    assert isinstance(memory_cgroup_enabled(line), bool)


@given(st.text(max_size=500))
def test_any_swap_conf_gives_areas_or_none(text: str) -> None:
    areas = swap_areas(read_swap_settings([text]))
    assert len(areas) <= 2 and proc_swaps(areas).startswith("Filename")


# The boot step reads the board's disk from the host: it must never follow a link out of it.

def _board(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "boot" / "firmware").mkdir(parents=True)
    (root / "etc" / "rpi" / "swap.conf.d").mkdir(parents=True)
    return root


def test_first_boot_writes_pi_os_boot_files_once(tmp_path: Path) -> None:
    root = _board(tmp_path)
    assert "stock" in firmware_boot.first_boot(root, "pi-3", None, 0)
    assert (root / "boot/firmware/cmdline.txt").read_text() == stock_cmdline_txt("pi-3")
    assert (root / "boot/firmware/config.txt").read_text() == firmware.STOCK_CONFIG_TXT
    (root / "boot/firmware/cmdline.txt").write_text("edited\n")
    assert firmware_boot.first_boot(root, "pi-3", None, 0) == ""  # later boots keep the board's edits
    assert (root / "boot/firmware/cmdline.txt").read_text() == "edited\n"


def test_a_link_on_the_disk_never_reaches_the_hosts_files(tmp_path: Path) -> None:
    root = _board(tmp_path)
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    (root / "boot/firmware/cmdline.txt").symlink_to(secret)
    with pytest.raises(firmware_boot.UnsafePath):
        firmware_boot.read_inside(root, "boot/firmware/cmdline.txt")
    os.remove(root / "boot/firmware/cmdline.txt")
    os.rmdir(root / "boot/firmware")
    (root / "boot/firmware").symlink_to(tmp_path)  # a directory link: writes would land on the host
    with pytest.raises(firmware_boot.UnsafePath):
        firmware_boot.first_boot(root, "pi-1", None, 0)
    assert not (tmp_path / "cmdline.txt").exists()
    (root / "etc/rpi/swap.conf").symlink_to(secret)
    with pytest.raises(firmware_boot.UnsafePath):
        firmware_boot.swap_settings(root)


def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    root = _board(tmp_path)
    os.mkfifo(root / "boot/firmware/cmdline.txt")
    with pytest.raises(firmware_boot.UnsafePath, match="not a regular file"):
        firmware_boot.read_inside(root, "boot/firmware/cmdline.txt")


def test_swap_drop_ins_apply_by_name_and_etc_overrides_usr(tmp_path: Path) -> None:
    root = _board(tmp_path)
    (root / "etc/rpi/swap.conf").write_text("[Main]\n#Mechanism=auto\n")
    assert firmware_boot.swap_settings(root) == {}
    (root / "usr/lib/rpi/swap.conf.d").mkdir(parents=True)
    (root / "usr/lib/rpi/swap.conf.d/50-x.conf").write_text("[Main]\nMechanism=none\n")
    assert firmware_boot.swap_settings(root) == {"Main.Mechanism": "none"}
    (root / "etc/rpi/swap.conf.d/50-x.conf").write_text("[Main]\nMechanism=zram\n")
    (root / "etc/rpi/swap.conf.d/40-y.conf").write_text("[Main]\nMechanism=swapfile\n")
    assert firmware_boot.swap_settings(root) == {"Main.Mechanism": "zram"}


def test_kernel_files_are_written_in_place(tmp_path: Path) -> None:
    """The board's /proc/swaps is a bind mount of the file: replacing it would detach the view."""
    view = firmware.kernel_view(b'root=x cgroup_enable=memory q="a b"\n', None)
    directory = tmp_path / "kernel"
    firmware_boot.write_kernel_files(directory, view, "cpu io\n", HOST_CGROUPS)
    inode = (directory / "swaps").stat().st_ino
    firmware_boot.write_kernel_files(directory, view, "cpu io\n", HOST_CGROUPS)
    assert (directory / "swaps").stat().st_ino == inode
    assert (directory / "init-args").read_text().splitlines()[-1] == 'q="a b"'
    assert (directory / "cgroup.controllers").read_text() == "cpuset cpu io memory pids\n"
    assert KernelView.from_json((directory / "kernel.json").read_text()) == view


def test_the_stock_boot_files_are_what_provisioning_knows_how_to_edit() -> None:
    """hardware.boot plans the same edits on a lab board's first-boot files as on a Pi OS card's."""
    from hardware.boot import plan_boot_files
    from hardware.cmdline import FIRMWARE_CMDLINE, FIRMWARE_CONFIG, has_memory_cgroup_args
    from hardware.configtxt import effective_value

    contents: dict[str, str | None] = {FIRMWARE_CMDLINE: stock_cmdline_txt("pi-1"),
                                       FIRMWARE_CONFIG: firmware.STOCK_CONFIG_TXT,
                                       "/boot/cmdline.txt": None, "/boot/config.txt": None}
    assert effective_value(firmware.STOCK_CONFIG_TXT, "arm_64bit") == "1"
    edits = {edit.path: edit.content for edit in plan_boot_files(contents, "worker")}
    assert has_memory_cgroup_args(edits[FIRMWARE_CMDLINE])
    assert memory_cgroup_enabled(kernel_cmdline(edits[FIRMWARE_CMDLINE].encode())) is True
    assert "dtoverlay=disable-wifi" in edits[FIRMWARE_CONFIG]
