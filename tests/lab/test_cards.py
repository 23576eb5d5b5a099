"""`lab up --cards`: boards boot from Pi-OS-shaped card files; real cloud-init and NetworkManager at first boot.

The cards come from the test card maker (card_maker.py) around the lab's cached root, with
a seed like Raspberry Pi Imager's: a user with a password hash and an SSH key, a hostname,
netplan v2 `network-config` with DHCP on eth0. Workers find the seed through Pi OS's
cloud.cfg.d (`seedfrom: file:///boot/firmware`), the master card through the kernel
command line (`ds=nocloud;s=file:///boot/firmware/`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from foundation.errors import ApplianceError
from hardware.lab import cgroups, lifecycle, plumbing, rootfs
from hardware.lab import nodes as boards
from hardware.lab import topology as t
from tests.lab.card_maker import BOOT_MIB, BOOT_START, Seed, make_card
from tests.support.lab import LabHandle, LabManager

pytestmark = [pytest.mark.lab, pytest.mark.root, pytest.mark.slow]

CLOUD_INIT_UNITS = ("cloud-init-local.service", "cloud-init-network.service", "cloud-config.service",
                    "cloud-final.service")
"""cloud-init's four stages as systemd units (cloud-init 25.1 names)."""


@dataclass(frozen=True)
class Cards:
    """A directory of cards and what was seeded on them."""

    directory: Path
    key: Path
    password_hash: str
    seeds: dict[str, Seed]


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> Cards:
    work = tmp_path_factory.mktemp("cards")
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "seeded", "-f", str(key)], check=True)
    password_hash = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input="not-a-default-password",
                                   capture_output=True, text=True, check=True).stdout.strip()
    root = rootfs.ensure_root().path
    directory = work / "cards"
    directory.mkdir()
    seeds = {}
    for board, file, hostname in ((t.MASTER_BOARD, "master.img", "cardlab-master"),
                                  ("pi-1", "pi-1.img", "cardlab-1"), ("pi-2", "pi-2.img", "cardlab-2")):
        seed = Seed(hostname=hostname, user="alice", password_hash=password_hash,
                    ssh_key=key.with_suffix(".pub").read_text().strip(), instance_id=f"cardlab-{board}-1")
        make_card(directory / file, root, board, seed, seed_on_cmdline=board == t.MASTER_BOARD)
        seeds[board] = seed
    return Cards(directory, key, password_hash, seeds)


@pytest.fixture
def card_lab(lab_manager: LabManager, cards: Cards) -> Iterator[LabHandle]:
    """A lab of the master board and two workers booted from the cards; nothing of it is left afterwards."""
    lab_manager.suspend()
    try:
        lifecycle.up(lab_manager.dirs, nodes=2, cards=cards.directory, fresh=True, wait=120, say=lambda m: None)
        yield LabHandle(lab_manager.dirs)
    finally:
        lab_manager.suspend()


def _ssh(lab: LabHandle, address: str, user: str, key: Path, command: str) -> str:
    sock = plumbing.connect_in(t.MASTER_NS, address, 22, 10)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(address, username=user, key_filename=str(key), sock=sock, allow_agent=False,
                       look_for_keys=False, timeout=10)
        _, stdout, _ = client.exec_command(command, timeout=30)
        return str(stdout.read().decode())
    finally:
        client.close()
        sock.close()


def _cloud_init_done(lab: LabHandle, board: str) -> str | None:
    out = lab.run(board, "cloud-init status --long", check=False).stdout
    return out if "status: done" in out else None


def _wait_cloud_init(lab: LabHandle, board: str) -> str:
    return lab.wait_for(lambda: _cloud_init_done(lab, board), timeout=120, interval=1,
                        what=f"cloud-init done on {board}")


def _wait_connected(lab: LabHandle, board: str) -> str:
    def connected() -> str | None:
        out = lab.run(board, "nmcli -g GENERAL.STATE,GENERAL.CONNECTION device show eth0").stdout
        return out if "(connected)" in out else None

    return lab.wait_for(connected, timeout=60, what=f"{board}'s eth0 connected")


def test_cloud_init_and_network_manager_bring_up_card_boards(card_lab: LabHandle, cards: Cards) -> None:
    lab = card_lab
    for board, seed in cards.seeds.items():
        status = _wait_cloud_init(lab, board)
        assert "DataSourceNoCloud" in status and "file:///boot/firmware" in status and "errors: []" in status
        results = lab.run(board, ["systemctl", "show", "-P", "Result", *CLOUD_INIT_UNITS]).stdout.split()
        assert results == ["success"] * 4  # every stage ran at boot, as systemd units
        assert lab.run(board, "hostname").stdout.strip() == seed.hostname
        shadow = lab.run(board, "getent shadow alice").stdout.split(":")
        assert shadow[1] == cards.password_hash
        keys = lab.read_file(board, "/home/alice/.ssh/authorized_keys")
        assert seed.ssh_key in keys
        # The card's boot partition became the board's /boot/firmware (the firmware read it with mtools).
        assert lab.read_file(board, "/boot/firmware/meta-data") == f"instance-id: {seed.instance_id}\n"
        assert lab.run(board, "systemctl is-system-running", check=False).stdout.strip() == "running"

    master = str(lab.plan.master_address.ip)
    for board in ("pi-1", "pi-2"):
        # NetworkManager owns eth0 with the connection netplan made from the card's network-config,
        # and its own DHCP client got the address from the master daemon's server.
        assert "50-cloud-init.yaml" in lab.run(board, "ls /etc/netplan").stdout
        state = _wait_connected(lab, board)
        assert "netplan-eth0" in state
        options = lab.run(board, "nmcli -g DHCP4.OPTION device show eth0").stdout
        assert f"dhcp_server_identifier = {master}" in options
        address = lab.address(board)
        assert address is not None and address in {str(a) for a in lab.plan.subnet.hosts()}
        assert lab.run(board, "systemctl is-active pilab-dhcp.service", check=False).stdout.strip() == "inactive"
        # SSH works with the seeded key, and only with it: the lab put none of its own on a card.
        assert _ssh(lab, address, "alice", cards.key, "hostname").strip() == cards.seeds[board].hostname
        with pytest.raises(paramiko.AuthenticationException):
            _ssh(lab, address, "root", lab.dirs.key, "true")

    # The master card's network-config is not applied: the daemon owns the master's links.
    devices = lab.run(t.MASTER_BOARD, "nmcli -t -f DEVICE,STATE device").stdout.split()
    assert "eth0:unmanaged" in devices and "wlan0:unmanaged" in devices
    assert _ssh(lab, master, "alice", cards.key, "hostname").strip() == "cardlab-master"

    # A card board reboots from its card (re-attached), without running cloud-init's first boot again.
    old = boards.init_pid(lab.node("pi-1"))
    lab.run("pi-1", "reboot", check=False)
    lab.wait_for(lambda: boards.init_pid(lab.node("pi-1")) not in (None, old) and _cloud_init_done(lab, "pi-1"),
                 timeout=90, interval=0.5, what="pi-1 rebooted from its card")
    assert lab.run("pi-1", "cloud-init query instance-id", check=False).stdout.strip() == "cardlab-pi-1-1"
    assert lab.run("pi-1", "grep -c 'Cloud-init v.*running .init-local' /var/log/cloud-init.log").stdout.strip() \
        == "2"  # ran at both boots, found the same instance: first-boot modules ran once
    lab.wait_for(lambda: lab.address("pi-1"), timeout=60, what="pi-1 has an address again")


def test_the_card_is_the_disk_and_nothing_is_left_after_down(lab_manager: LabManager, cards: Cards) -> None:
    lab_manager.suspend()
    before_mounts = Path("/proc/mounts").read_text()
    lifecycle.up(lab_manager.dirs, nodes=2, cards=cards.directory, wait=120, say=lambda m: None)
    handle = LabHandle(lab_manager.dirs)
    handle.run("pi-2", "echo written-on-the-card > /root/card-marker; sync")
    assert _loops(cards.directory)  # attached while running…
    handle.power("pi-2", "off")
    assert len(_loops(cards.directory)) == 2  # …and freed at a power cut
    lab_manager.suspend()
    assert _loops(cards.directory) == []
    assert Path("/proc/mounts").read_text().count(str(cards.directory)) == before_mounts.count(str(cards.directory))
    assert not cgroups.lab_dir().exists()
    # What the board wrote is on the card file, as on a real card.
    offset = (BOOT_START * 512) + BOOT_MIB * 1024 * 1024
    script = (f"mount -o ro,loop,offset={offset} {cards.directory / 'pi-2.img'} /mnt && "
              "cat /mnt/root/card-marker /mnt/etc/hostname")
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["written-on-the-card", "cardlab-2"]


def test_a_missing_card_is_refused_before_anything_is_built(lab_manager: LabManager, cards: Cards,
                                                            tmp_path: Path) -> None:
    lab_manager.suspend()
    (tmp_path / "master.img").symlink_to(cards.directory / "master.img")
    with pytest.raises(ApplianceError, match=r"pi-1\.img does not exist; fix: write it with `appliance flash"):
        lifecycle.up(lab_manager.dirs, nodes=1, cards=tmp_path, say=lambda m: None)
    with pytest.raises(ApplianceError, match="fix: leave out --addressing static with --cards"):
        lifecycle.up(lab_manager.dirs, nodes=1, cards=cards.directory, addressing="static", say=lambda m: None)
    assert plumbing.list_namespaces(t.PREFIX) == []


def _loops(directory: Path) -> list[str]:
    out = subprocess.run(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"],
                         capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if str(directory) in line]
