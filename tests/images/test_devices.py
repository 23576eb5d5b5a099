"""Device facts and the refusal rules, on a made-up sysfs tree and mountinfo, and on real loop devices."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from images.devices import candidates, disk_facts, gather, parse_mountinfo
from images.refusal import judge

GB = 10**9
MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
24 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
30 22 179:2 / /media/pi/rootfs rw,nosuid shared:40 - ext4 /dev/mmcblk0p2 rw
31 22 253:0 / /srv/data rw shared:41 - ext4 /dev/mapper/vg-data rw
32 22 0:40 / /mnt/with\\040space rw shared:42 - tmpfs tmpfs rw
garbage line that is not mountinfo
"""


def _disk(sys_root: Path, name: str, dev: str, sectors: int, removable: str = "1",
          parts: tuple[tuple[str, str], ...] = (), model: str = "", holders: dict[str, str] | None = None) -> None:
    disk = sys_root / "devices" / "platform" / name
    disk.mkdir(parents=True)
    (disk / "dev").write_text(dev + "\n")
    (disk / "size").write_text(f"{sectors}\n")
    (disk / "removable").write_text(removable + "\n")
    (disk / "ro").write_text("0\n")
    (disk / "holders").mkdir()
    if model:
        (disk / "device").mkdir()
        (disk / "device" / "model").write_text(model + "\n")
    (sys_root / "block").mkdir(exist_ok=True)
    (sys_root / "block" / name).symlink_to(disk)
    (sys_root / "class" / "block").mkdir(parents=True, exist_ok=True)
    (sys_root / "class" / "block" / name).symlink_to(disk)
    for part, part_dev in parts:
        (disk / part).mkdir()
        (disk / part / "partition").write_text("1\n")
        (disk / part / "dev").write_text(part_dev + "\n")
        (disk / part / "holders").mkdir()
        (sys_root / "class" / "block" / part).symlink_to(disk / part)
        for holder, holder_dev in (holders or {}).items():
            if holder.startswith(part + ">"):
                name_of_holder = holder.split(">")[1]
                (disk / part / "holders" / name_of_holder).write_text("")
                holder_dir = sys_root / "devices" / "virtual" / name_of_holder
                holder_dir.mkdir(parents=True)
                (holder_dir / "dev").write_text(holder_dev + "\n")
                (holder_dir / "holders").mkdir()
                (sys_root / "class" / "block" / name_of_holder).symlink_to(holder_dir)


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    _disk(root, "vda", "254:0", 100 * GB // 512, removable="0")
    _disk(root, "sdb", "8:16", 32 * GB // 512, model="SD Reader", parts=(("sdb1", "8:17"),))
    _disk(root, "mmcblk0", "179:0", 16 * GB // 512, parts=(("mmcblk0p1", "179:1"), ("mmcblk0p2", "179:2")))
    _disk(root, "sdc", "8:32", 64 * GB // 512, parts=(("sdc1", "8:33"),), holders={"sdc1>dm-0": "253:0"})
    _disk(root, "sdd", "8:48", 2 * GB // 512)
    _disk(root, "loop0", "7:0", 4 * GB // 512, removable="0")
    return root


def test_parse_mountinfo() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert [m.mount_point for m in mounts] == ["/", "/proc", "/media/pi/rootfs", "/srv/data", "/mnt/with space"]
    assert mounts[0].device == (254, 0) and mounts[0].source == "/dev/vda"


def test_rules_on_fixtures(sysfs: Path) -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    image = 3 * GB

    def facts(name: str):  # noqa: ANN202 - local helper
        return disk_facts(name, f"/dev/{name}", sysfs, mounts)

    sdb = judge(facts("sdb"), image)
    assert sdb.ok and sdb.reasons == ()
    root = judge(facts("vda"), image, allow_non_removable=True)
    assert not root.ok and "root file system" in root.reasons[0]
    mounted = judge(facts("mmcblk0"), image, allow_non_removable=True)
    assert not mounted.ok and "/media/pi/rootfs" in mounted.reasons[0] and "umount" in mounted.reasons[0]
    stacked = judge(facts("sdc"), image)  # mounted through a dm device built on its partition
    assert facts("sdc").holders == ("dm-0",) and not stacked.ok and "/srv/data" in stacked.reasons[0]
    small = judge(facts("sdd"), image)
    assert not small.ok and "smaller than the 3.0 GB image" in small.reasons[0]
    loop = judge(facts("loop0"), image)
    assert not loop.ok and "--allow-non-removable" in loop.reasons[0]
    assert judge(facts("loop0"), image, allow_non_removable=True).ok
    listed = [d.name for d in candidates(sysfs, MOUNTINFO)]
    assert listed == ["mmcblk0", "sdb", "sdc", "sdd", "vda"]  # loop devices are not offered


def test_not_a_device_and_partitions(tmp_path: Path) -> None:
    plain = tmp_path / "file.img"
    plain.write_bytes(b"x")
    verdict = judge(gather(str(plain)), 1)
    assert not verdict.ok and "not a block device" in verdict.reasons[0]


def _losetup(*args: str) -> str:
    return subprocess.run(["losetup", "-f", "--show", *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.root
def test_real_loop_device_with_a_mounted_partition(tmp_path: Path) -> None:
    # This machine's kernel may have no partition-table support (CONFIG_MSDOS_PARTITION), so the
    # partition is attached as its own loop device at its offset, as the lab attaches a card's root.
    card = tmp_path / "card.img"
    subprocess.run(["truncate", "-s", "80M", str(card)], check=True)
    subprocess.run(["sfdisk", "-q", str(card)], input="label: dos\nstart=2048, size=70000, type=83\n", text=True,
                   check=True)
    whole = _losetup(str(card))
    part = _losetup("--offset", str(2048 * 512), "--sizelimit", str(70000 * 512), str(card))
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    mounted = False
    try:
        subprocess.run(["mkfs.ext4", "-q", part], check=True)
        subprocess.run(["mount", part, str(mount_point)], check=True)
        mounted = True
        facts = gather(whole)
        assert facts.loop and facts.backing_file == str(card) and facts.mounted == (str(mount_point),)
        verdict = judge(facts, 1024, allow_non_removable=True)
        assert not verdict.ok and "mounted" in verdict.reasons[0] and str(mount_point) in verdict.reasons[0]
        subprocess.run(["umount", str(mount_point)], check=True)
        mounted = False
        assert judge(gather(whole), 1024, allow_non_removable=True).ok
    finally:
        if mounted:
            subprocess.run(["umount", str(mount_point)], check=False)
        subprocess.run(["losetup", "-d", part, whole], check=False)


@pytest.mark.root
def test_a_partition_node_is_refused(sysfs: Path, tmp_path: Path) -> None:
    (sysfs / "dev" / "block").mkdir(parents=True)
    (sysfs / "dev" / "block" / "8:17").symlink_to(sysfs / "devices" / "platform" / "sdb" / "sdb1")
    node = tmp_path / "sdb1"
    os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(8, 17))
    facts = gather(str(node), sysfs, MOUNTINFO)
    assert facts.is_partition and facts.name == "sdb1"
    verdict = judge(facts, 1)
    assert not verdict.ok and "name the whole card" in verdict.reasons[0]


@pytest.mark.root
def test_the_disk_holding_root_is_refused() -> None:
    root_device = os.stat("/").st_dev
    major, minor = os.major(root_device), os.minor(root_device)
    node = next((f"/dev/{p.resolve().name}" for p in Path("/sys/dev/block").glob(f"{major}:{minor}")), None)
    if node is None or not Path(node).exists():
        pytest.fail(f"no block device node for / ({major}:{minor}); this test needs a machine whose / is on a disk")
    facts = gather(node)
    verdict = judge(facts, 1, allow_non_removable=True)
    assert not verdict.ok and ("root file system" in " ".join(verdict.reasons) or facts.is_partition)
