"""A test-only SD-card maker: Raspberry Pi OS's card layout around the lab's cached root.

The product's image builder (`images/`) writes real cards from Pi OS images; this small
maker proves `lab up --cards` without it. A card is a sparse file with:

- an MBR (`sfdisk`), disk identifier = the PARTUUID prefix of cmdline.txt's `root=`;
- partition 1: FAT32 `bootfs` (`mkfs.vfat`, files put in with `mcopy`): cmdline.txt,
  config.txt, and a cloud-init NoCloud seed shaped like Raspberry Pi Imager's for trixie
  (`user-data` with `user:`, a password hash and an SSH key, `meta-data` with a unique
  instance-id, `network-config` in netplan v2);
- partition 2: ext4 `rootfs` (`mkfs.ext4 -d`): the lab's root plus what Pi OS adds around
  cloud-init, made in a private mount namespace with an overlay (nothing is mounted on the
  host): pi-gen's `/etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg` (NoCloud with
  `seedfrom: file:///boot/firmware`) unless the seed is named on cmdline.txt instead
  (`ds=nocloud;s=file:///boot/firmware/`, `seed_on_cmdline=True`), and Pi OS's fstab
  (PARTUUID entries for / and /boot/firmware).
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hardware.lab.firmware import STOCK_CONFIG_TXT, partuuid

MIB = 1024 * 1024
BOOT_START = 8192
"""First sector of bootfs (4 MiB), as Pi OS images."""
BOOT_MIB = 64
ROOT_MIB = 1024

PIOS_CLOUD_CFG = """\
# pi-gen's stage2/04-cloud-init/files/99_raspberry-pi.cfg (until Nov 2025; rpi-cloud-init-mods since)
datasource_list: [ NoCloud, None ]
datasource:
  NoCloud:
    seedfrom: file:///boot/firmware
ssh:
  emit_keys_to_console: false
no_ssh_fingerprints: true
"""


@dataclass(frozen=True)
class Seed:
    """What a user chose in the imager for one card."""

    hostname: str
    """The board's name."""
    user: str
    """The account cloud-init makes."""
    password_hash: str
    """crypt(3) hash of its password."""
    ssh_key: str
    """Its authorized SSH public key."""
    instance_id: str
    """cloud-init's instance-id (unique per card)."""
    network_config: str | None = "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      optional: true\n"
    """netplan v2 for the card's network-config; None writes none."""

    def user_data(self) -> str:
        """Imager's trixie user-data (cloudinit-rpi format)."""
        return (
            "#cloud-config\n"
            "manage_resolv_conf: false\n"
            f"hostname: {self.hostname}\n"
            "manage_etc_hosts: true\n"
            "user:\n"
            f"  name: {self.user}\n"
            "  shell: /bin/bash\n"
            "  lock_passwd: false\n"
            f"  passwd: \"{self.password_hash}\"\n"
            "  ssh_authorized_keys:\n"
            f"    - \"{self.ssh_key}\"\n"
            "  sudo: null\n"
            "ssh_pwauth: false\n"
            "runcmd:\n"
            "  - [ systemctl, enable, --now, ssh ]\n"
        )


def _run(*argv: str, input: str | None = None) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, text=True, input=input)


def make_card(path: Path, lab_root: Path, name: str, seed: Seed, *, seed_on_cmdline: bool = False) -> None:
    """Write a Pi-OS-shaped card file for board `name` (its disk id comes from the name)."""
    disk_id = partuuid(name)
    root_start = BOOT_START + BOOT_MIB * MIB // 512
    size = root_start * 512 + ROOT_MIB * MIB
    with open(path, "wb") as card:
        card.truncate(size)
    _run("sfdisk", "--quiet", str(path), input=(
        f"label: dos\nlabel-id: 0x{disk_id}\n"
        f"start={BOOT_START}, size={BOOT_MIB * MIB // 512}, type=c\n"
        f"start={root_start}, type=83\n"))
    with tempfile.TemporaryDirectory(prefix="pilab-card-") as scratch:
        work = Path(scratch)
        boot = work / "bootfs"
        boot.mkdir()
        cmdline = (f"console=serial0,115200 console=tty1 root=PARTUUID={disk_id}-02 rootfstype=ext4 "
                   "fsck.repair=yes rootwait")
        if seed_on_cmdline:
            cmdline += " ds=nocloud;s=file:///boot/firmware/"
        (boot / "cmdline.txt").write_text(cmdline + "\n")
        (boot / "config.txt").write_text(STOCK_CONFIG_TXT)
        (boot / "user-data").write_text(seed.user_data())
        (boot / "meta-data").write_text(f"instance-id: {seed.instance_id}\n")
        if seed.network_config is not None:
            (boot / "network-config").write_text(seed.network_config)
        fat = work / "bootfs.img"
        _run("mkfs.vfat", "-F", "32", "-n", "BOOTFS", "-C", str(fat), str(BOOT_MIB * 1024))
        _run("mcopy", "-i", str(fat), *[str(f) for f in sorted(boot.iterdir())], "::/")
        _run("dd", f"if={fat}", f"of={path}", "bs=1M", f"seek={BOOT_START * 512}", "oflag=seek_bytes",
             "conv=notrunc,sparse", "status=none")

        upper = work / "upper"
        (upper / "etc" / "cloud" / "cloud.cfg.d").mkdir(parents=True)
        if not seed_on_cmdline:
            (upper / "etc" / "cloud" / "cloud.cfg.d" / "99_raspberry-pi.cfg").write_text(PIOS_CLOUD_CFG)
        (upper / "etc" / "fstab").write_text(
            "proc            /proc           proc    defaults          0       0\n"
            f"PARTUUID={disk_id}-01  /boot/firmware  vfat    defaults          0       2\n"
            f"PARTUUID={disk_id}-02  /               ext4    defaults,noatime  0       1\n")
        merged, overlay_work = work / "merged", work / "work"
        merged.mkdir()
        overlay_work.mkdir()
        options = f"lowerdir={lab_root},upperdir={upper},workdir={overlay_work}"
        script = (f"mount -t overlay overlay -o {shlex.quote(options)} {shlex.quote(str(merged))} && "
                  f"mkfs.ext4 -q -F -L rootfs -d {shlex.quote(str(merged))} "
                  f"-E offset={root_start * 512} {shlex.quote(str(path))} {ROOT_MIB * 1024}k")
        # A private mount namespace: the overlay never appears on the host and goes with it.
        _run("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
