"""What the lab's firmware gives each kind of board at power-on (pure: no lab needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hardware.lab import board_files
from hardware.lab import topology as t
from hardware.lab.cards import CardLayout
from hardware.partitions import Partition

KEY = "ssh-ed25519 AAAAC3Nza lab"


def _units(files: dict[str, str]) -> set[str]:
    return {path.split("/")[-1] for path, content in files.items()
            if path.startswith("systemd/system/multi-user.target.wants/")}


def _masked(files: dict[str, str]) -> set[str]:
    return {path.split("/")[-1] for path, content in files.items() if content == "-> /dev/null"}


def test_a_dhcp_worker_runs_its_client_and_networkmanager_leaves_eth0_alone() -> None:
    plan = t.make_plan(3, addressing="dhcp")
    files = board_files.firmware_files(plan, plan.nodes[1], KEY, card=False)
    assert _units(files) == {"pilab-board.service", "pilab-dhcp.service"}
    assert "(dhcpcd)" in files["systemd/system/pilab-dhcp.service"]
    assert "unmanaged-devices=interface-name:eth0" in files["NetworkManager/conf.d/90-pilab.conf"]
    assert "dns=none" in files["NetworkManager/conf.d/90-pilab.conf"]
    assert "network-pre.target ssh" not in files["systemd/system/pilab-board.service"]  # sshd waits, not NM
    assert {"console-getty.service", "sshd-keygen.service", "systemd-remount-fs.service"} <= _masked(files)
    assert files["pilab/authorized_key"] == KEY + "\n"


def test_a_static_worker_sets_its_address_before_the_network_starts() -> None:
    plan = t.make_plan(2, addressing="static")
    files = board_files.firmware_files(plan, plan.nodes[0], KEY, card=False)
    assert _units(files) == {"pilab-board.service"}
    assert "Before=network-pre.target ssh.service" in files["systemd/system/pilab-board.service"]
    env = files["pilab/board.env"]
    assert "PILAB_ADDRESSING=static" in env and "PILAB_ADDRESS=10.0.0.11/24" in env


def test_a_card_board_gets_only_masks_its_card_does_the_rest() -> None:
    plan = t.make_plan(2, addressing="dhcp")
    files = board_files.firmware_files(plan, plan.nodes[0], KEY, card=True)
    assert _units(files) == set() and "NetworkManager/conf.d/90-pilab.conf" not in files
    assert "pilab/authorized_key" not in files and "sshd-keygen.service" not in _masked(files)
    assert "PILAB_ADDRESSING=card" in files["pilab/board.env"]


def test_the_master_board_takes_no_address_and_its_networkmanager_manages_nothing() -> None:
    plan = t.make_plan(2, addressing="dhcp")
    for card in (False, True):
        files = board_files.firmware_files(plan, plan.master_board, KEY, card=card)
        assert "pilab-dhcp.service" not in _units(files)
        assert "unmanaged-devices=*" in files["NetworkManager/conf.d/90-pilab.conf"]
    assert "PILAB_ADDRESSING=none" in board_files.firmware_files(plan, plan.master_board, KEY, False)[
        "pilab/board.env"]


def test_a_master_card_board_gets_a_resolver_and_its_own_daemon_stays_off() -> None:
    plan = t.make_plan(2, addressing="dhcp")
    files = board_files.firmware_files(plan, plan.master_board, KEY, card=True)
    assert _units(files) == {"pilab-resolver.service"}
    assert "/etc/resolv.conf" in files["systemd/system/pilab-resolver.service"]
    assert "PILAB_GATEWAY=10.0.0.1" in files["pilab/board.env"]  # the master's own DNS server
    dropin = files["systemd/system/appliance.service.d/50-pilab.conf"]
    assert "ConditionPathExists=!/run/pilab/board.env" in dropin and "pilab/board.env" in files
    lab_disk = board_files.firmware_files(plan, plan.master_board, KEY, card=False)
    assert not any("pilab-resolver" in path or "appliance.service" in path for path in lab_disk)
    worker = board_files.firmware_files(plan, plan.nodes[0], KEY, card=True)
    assert not any("pilab-resolver" in path or "appliance.service" in path for path in worker)


def test_boot_settings_survive_the_shell_whatever_the_paths(tmp_path: Path) -> None:
    plan = t.make_plan(1)
    odd = tmp_path / "a dir with 'quotes' and $dollars"
    layout = CardLayout(boot=Partition(1, "0x0c", "", 8192 * 512, 100 * 512, "fat"),
                        root=Partition(2, "0x83", "", 8292 * 512, 1000 * 512, "linux"))
    conf = board_files.board_conf(plan, plan.nodes[0], run=odd / "run", disk=odd / "disk", console=odd / "c",
                                  lower=odd, card=odd / "pi-1.img", layout=layout, cgroup=odd / "cg")
    (tmp_path / "board.conf").write_text(conf)
    out = subprocess.run(["sh", "-c", '. "$1"; printf "%s\\n" "$LOWER" "$MODE" "$ROOT_OFFSET" "$RESET_NETWORK"',
                          "sh", str(tmp_path / "board.conf")], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [str(odd), "card", str(8292 * 512), "yes"]
    master = board_files.board_conf(plan, plan.master_board, run=odd, disk=odd, console=odd, lower=odd,
                                    card=None, layout=None, cgroup=odd)
    assert "RESET_NETWORK=no" in master and f"HOSTNAME={board_files.MASTER_HOSTNAME}" in master
