"""What the lab's firmware gives a board at power-on: its /run files, units and boot settings (pure).

Every boot copies these into the board's /run (its disk stays the Pi's):
- `pilab-board.service`: its name at first boot, the lab's login key for root and pi, an
  ed25519 host key when missing, fixed addresses with `--addressing static` (not on cards:
  a card brings its own name, user and keys through cloud-init);
- `pilab-dhcp.service` with `--addressing dhcp`: one real DHCP client on eth0 (udhcpc,
  dhcpcd or dhclient by board), with NetworkManager told to leave eth0 and resolv.conf
  alone; on cards NetworkManager owns eth0, as on Pi OS. The master board's
  NetworkManager manages nothing (the daemon owns eth0 and wlan0);
- on a master card: `pilab-resolver.service` gives the board the resolver its NetworkManager
  would have taken from the Wi-Fi's DHCP (the master's own DNS server, as `imaging` does for
  lab disks), and a drop-in keeps the card's own `appliance.service` from starting: the
  lab's master daemon runs from the host's install in the same network namespace, and two
  daemons would fight over DHCP, DNS and the registry (the card's installer still installs
  and enables it, and `appliance` runs on the board);
- masks for units that cannot work in a namespace (`MASKED`) and, outside cards,
  for `sshd-keygen.service` (the lab makes the ed25519 host key instead: Debian's first-boot
  `ssh-keygen -A` adds RSA and ECDSA keys, about 0.3 s of CPU per board, some 40% of a
  board's whole boot).
`board_conf` is what the host-side scripts (board_power.sh, board_launch.sh) read.
"""

from __future__ import annotations

import shlex
import sys
from importlib import resources
from pathlib import Path

from hardware.lab import topology as t
from hardware.lab.cards import CardLayout
from hardware.lab.topology import LabPlan, NodePlan

MASKED: tuple[str, ...] = (
    "console-getty.service",      # the console is a log file on the host, not a terminal
    # The lab's firmware mounts the root read-write; its device (a loop device or overlay on the
    # host) is not in the board, so fstab's root=PARTUUID= line cannot be remounted.
    "systemd-remount-fs.service",
    "systemd-timesyncd.service",  # the clock is the host's (and CAP_SYS_TIME is dropped)
    # The host kernel's debug, tracing and configfs knobs: a board must not turn them.
    "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "sys-kernel-config.mount",
)
"""Units masked in every board (runtime masks in /run/systemd/system)."""

MASKED_OUTSIDE_CARDS: tuple[str, ...] = ("sshd-keygen.service",)
"""Units masked on lab disks only: pilab-board.service makes the host key instead."""

DROP_CAPS = "-sys_time,-sys_module"
"""Capabilities taken from a board's bounding set (setpriv syntax): the host's clock and kernel."""

MASTER_HOSTNAME = "pilab-master"
"""The master board's name at first boot (the master daemon's DHCP client says the same)."""


def resource(name: str) -> str:
    """A file shipped with hardware.lab (the boards' scripts)."""
    return resources.files("hardware.lab").joinpath(name).read_text()


def addressing_of(plan: LabPlan, node: NodePlan, card: bool) -> str:
    """How the lab addresses this board: dhcp or static (lab disks), card (NetworkManager), none (master)."""
    if node.role == "master":
        return "none"
    return "card" if card else plan.addressing


def board_env(plan: LabPlan, node: NodePlan, addressing: str) -> str:
    """The shell settings the lab's units read inside the board (/run/pilab/board.env)."""
    values = {
        "PILAB_NODE": node.name,
        "PILAB_HOSTNAME": MASTER_HOSTNAME if node.role == "master" else node.name,
        "PILAB_ROLE": node.role,
        "PILAB_ADDRESSING": addressing,
        "PILAB_DHCP_CLIENT": node.dhcp_client,
        "PILAB_ADDRESS": str(node.static_address),
        "PILAB_GATEWAY": str(plan.master_address.ip),
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


BOARD_UNIT = """\
[Unit]
Description=Lab board duties: name, login key, SSH host key, lab addressing
DefaultDependencies=no
After=local-fs.target
Before={before}ssh.service sshd-keygen.service multi-user.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh /run/pilab/board-setup
StandardOutput=journal+console
"""

DHCP_UNIT = """\
[Unit]
Description=Lab DHCP client on eth0 ({client})
After=pilab-board.service network-pre.target
Before=network.target
Wants=network.target

[Service]
ExecStart=/bin/sh /run/pilab/dhcp-client
Restart=always
RestartSec=1
"""

NM_LEAVE_ALONE = """\
# Written by the lab's firmware: {why}
[main]
dns=none
rc-manager=unmanaged

[keyfile]
unmanaged-devices={devices}
"""


RESOLVER_UNIT = """\
[Unit]
Description=Lab: the master's resolver (NetworkManager would take it from the Wi-Fi's DHCP)
DefaultDependencies=no
After=local-fs.target
Before=network.target cloud-init-network.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c '. /run/pilab/board.env && echo "nameserver $PILAB_GATEWAY" > /etc/resolv.conf'
"""

MASTER_DAEMON_DROPIN = """\
# Written by the lab's firmware: the lab's master daemon runs from the host's install in this
# board's network namespace; the card's own would fight it over DHCP, DNS and the registry.
[Unit]
ConditionPathExists=!/run/pilab/board.env
"""


def firmware_files(plan: LabPlan, node: NodePlan, public_key: str, card: bool) -> dict[str, str]:
    """The files of the board's /run for this power-on, by path below /run.

    A value starting with "-> " is a symbolic link to the rest of it.
    """
    addressing = addressing_of(plan, node, card)
    files: dict[str, str] = {"pilab/board.env": board_env(plan, node, addressing)}
    masked = MASKED + (() if card else MASKED_OUTSIDE_CARDS)
    files.update({f"systemd/system/{unit}": "-> /dev/null" for unit in masked})
    if not card:
        files.update({
            "pilab/board-setup": resource("board_setup.sh"),
            "pilab/authorized_key": public_key.strip() + "\n",
            # Fixed addresses go in before the network is up; otherwise nothing waits for it but sshd.
            "systemd/system/pilab-board.service": BOARD_UNIT.format(
                before="network-pre.target " if addressing == "static" else ""),
            "systemd/system/multi-user.target.wants/pilab-board.service": "-> ../pilab-board.service",
        })
    if addressing == "dhcp":
        files.update({
            "pilab/dhcp-client": resource("board_dhcp.sh"),
            "systemd/system/pilab-dhcp.service": DHCP_UNIT.format(client=node.dhcp_client),
            "systemd/system/multi-user.target.wants/pilab-dhcp.service": "-> ../pilab-dhcp.service",
        })
    if addressing in ("dhcp", "static"):
        files["NetworkManager/conf.d/90-pilab.conf"] = NM_LEAVE_ALONE.format(
            why=f"the lab's {addressing} addressing owns eth0 and resolv.conf", devices="interface-name:eth0")
    if node.role == "master":
        files["NetworkManager/conf.d/90-pilab.conf"] = NM_LEAVE_ALONE.format(
            why="the master daemon owns eth0, wlan0 and the namespace they live in", devices="*")
        if card:
            files.update({
                "systemd/system/pilab-resolver.service": RESOLVER_UNIT,
                "systemd/system/multi-user.target.wants/pilab-resolver.service": "-> ../pilab-resolver.service",
                "systemd/system/appliance.service.d/50-pilab.conf": MASTER_DAEMON_DROPIN,
            })
    return files


def board_conf(plan: LabPlan, node: NodePlan, *, run: Path, disk: Path, console: Path, lower: Path,
               card: Path | None, layout: CardLayout | None, cgroup: Path) -> str:
    """The settings board_power.sh and board_launch.sh source (shell assignments).

    `run` is the board's runtime dir (its firmware files, kernel view and root mount point).
    """
    values = {
        "NAME": node.name,
        "NAMESPACE": node.namespace,
        "RESET_NETWORK": "no" if node.role == "master" else "yes",
        "SWITCH_NS": t.SWITCH_NS, "PORT": node.switch_port, "BRIDGE": t.BRIDGE, "MAC": node.mac,
        "LAUNCHER": str(run / "launch.sh"),
        "ROOT": str(run / "root"),
        "MODE": "card" if card else "overlay",
        "LOWER": str(lower), "DISK": str(disk),
        "CARD": str(card or ""),
        "ROOT_OFFSET": str(layout.root.start if layout else 0),
        "ROOT_SIZE": str(layout.root.size if layout else 0),
        "BOOT_OFFSET": str(layout.boot.start if layout else 0),
        "FIRMWARE": str(run / "firmware"), "KERNEL": str(run / "kernel"),
        "CGROUP": str(cgroup),
        "CONSOLE": str(console),
        "PYTHON": sys.executable,
        # The firmware step runs with `python -S` and the project on PYTHONPATH: no site
        # packages to scan (half of its start-up time), nothing needed from them.
        "PYTHON_PATH": str(Path(__file__).resolve().parents[2]),
        "HOSTNAME": (MASTER_HOSTNAME if node.role == "master" else node.name) if not card else "localhost",
        "DROP_CAPS": DROP_CAPS,
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


