"""Lab boards: power on (boot systemd), power off (power cut), find their init, run commands in them.

A board is a Raspberry Pi running Raspberry Pi OS: its own root (an overlay of the cached
root with the board's disk on top, or its SD-card file with `lab up --cards`), its own
PID, mount, UTS and cgroup namespaces, and systemd as PID 1. Workers `pi-N` each have a
network namespace holding their cable (re-made blank at every power cut and reboot, as a
real one loses all kernel network state); the master board shares the master's namespace
with the daemon, which owns its addresses.

Power-on writes the board's boot settings and the lab's "firmware" files, then starts
`board_power.sh` detached in the board's network namespace: it boots the board
(`board_launch.sh`, see there) and boots it again after a `reboot` inside. Power-off
SIGKILLs the power loop and every process of the board's cgroup at once: no clean
shutdown, exactly like pulling the plug; its mounts vanish with its mount namespace. The
disk stays.

What the lab's firmware puts in a board's /run is in `board_files`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import EnvironmentProblem
from hardware.lab import board_files as files
from hardware.lab import cards as card_files
from hardware.lab import cgroups, plumbing
from hardware.lab import topology as t
from hardware.lab.topology import LabPlan, NodePlan


@dataclass(frozen=True)
class BoardPaths:
    """Where one board's files live on the host."""

    disk: Path
    """Its persistent disk (overlay upper + work dirs): survives power cycles and `lab down`."""
    run: Path
    """Its runtime dir (removed by `lab down`): boot settings, firmware files, kernel view, root mount point."""
    console: Path
    """Its console log."""

    @property
    def boot(self) -> Path:
        """The lab's firmware files, copied into the board's /run at every boot."""
        return self.run / "firmware"

    @property
    def kernel(self) -> Path:
        """The emulated kernel files of the current boot (and kernel.json for `lab status`)."""
        return self.run / "kernel"

    @property
    def conf(self) -> Path:
        """The boot settings board_power.sh and board_launch.sh read."""
        return self.run / "board.conf"


def board_paths(state_dir: Path, run_dir: Path, name: str) -> BoardPaths:
    """The paths of board `name` under the lab's state (disks) and run (runtime) dirs."""
    return BoardPaths(
        disk=state_dir / "disks" / name,
        run=run_dir / "nodes" / name,
        console=run_dir / "logs" / f"{name}.console",
    )


def write_tree(base: Path, files: dict[str, str]) -> None:
    """Write `board_files.firmware_files` below `base` (emptied first)."""
    shutil.rmtree(base, ignore_errors=True)
    for relative, content in files.items():
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("-> "):
            path.symlink_to(content[3:])
        else:
            path.write_text(content)


def power_on(plan: LabPlan, node: NodePlan, *, lower: Path, paths: BoardPaths, public_key: str,
             card: Path | None = None, check_off: bool = True) -> None:
    """Boot `node` (a worker or the master board) from its disk or card, detached from the caller.

    `check_off=False` skips the "already on?" check (used by `lab up`, whose namespaces are
    brand new, to keep a 16-board start fast).
    """
    if check_off and powered(node, paths):
        raise EnvironmentProblem(f"{node.name} is already powered on; fix: appliance lab power {node.name} off")
    layout = card_files.grow_root(card) if card else None  # Pi OS's first-boot resize
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.console.parent.mkdir(parents=True, exist_ok=True)
    if card is None:
        paths.disk.mkdir(parents=True, exist_ok=True)
    write_tree(paths.boot / "run", files.firmware_files(plan, node, public_key, card is not None))
    (paths.boot / "swapoff").write_text(files.resource("board_swapoff.sh"))
    (paths.boot / "swapoff").chmod(0o755)
    (paths.run / "launch.sh").write_text(files.resource("board_launch.sh"))
    (paths.run / "power.sh").write_text(files.resource("board_power.sh"))
    paths.conf.write_text(files.board_conf(plan, node, run=paths.run, disk=paths.disk, console=paths.console,
                                           lower=lower, card=card, layout=layout,
                                           cgroup=cgroups.board_dir(node.name)))
    with open(paths.console, "ab") as console:
        # `setsid -f` forks and exits at once, so the board's process tree is
        # re-parented away from us: no zombie is left with the caller (pytest). nsenter, not
        # `ip netns exec`: that one mounts a new /sys, hiding the host's cgroup2 mount.
        subprocess.run(
            ["setsid", "-f", "nsenter", f"--net={plumbing.NETNS_DIR / node.namespace}", "--",
             "/bin/sh", str(paths.run / "power.sh"), str(paths.conf)],
            stdin=subprocess.DEVNULL, stdout=console, stderr=console, check=True,
        )


@functools.cache
def _own_pid_namespace() -> str:
    return os.readlink("/proc/self/ns/pid")


def init_pid(node: NodePlan) -> int | None:
    """Host PID of the board's init (PID 1 of its PID namespace), or None when it is not running."""
    own = _own_pid_namespace()
    for pid in cgroups.pids(cgroups.board_dir(node.name)):
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") == own:
                continue
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
        if nspid[-1:] == ["1"]:
            return pid
    return None


def power_pids(paths: BoardPaths) -> list[int]:
    """The board's power loop and boot helpers on the host side (found by their command lines)."""
    return _pids_with_argument_under(paths.run)


def all_power_pids(run_dir: Path) -> list[int]:
    """The power loops and boot helpers of every board of the lab whose run dir is `run_dir`."""
    return _pids_with_argument_under(run_dir / "nodes")


def _pids_with_argument_under(directory: Path) -> list[int]:
    marker = (str(directory) + "/").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if any(arg.startswith(marker) for arg in (entry / "cmdline").read_bytes().split(b"\0")):
                    found.append(int(entry.name))
    return found


def powered(node: NodePlan, paths: BoardPaths) -> bool:
    """True while the board runs or its power loop is (re)booting it."""
    return init_pid(node) is not None or bool(power_pids(paths))


def power_off(node: NodePlan, paths: BoardPaths, timeout: float = 5.0) -> None:
    """Cut the power: SIGKILL the power loop and every process of the board at once, then wait."""
    directory = cgroups.board_dir(node.name)
    loop = power_pids(paths)
    board = cgroups.pids(directory)
    worker = plumbing.namespace_pids(node.namespace) if node.role != "master" else []
    plumbing.kill_pids(loop)  # first, so that it cannot take the board's death for a reboot
    cgroups.kill(directory)
    plumbing.kill_pids(worker)
    alive = plumbing.wait_gone(sorted({*loop, *board, *worker}), timeout)
    if alive:
        raise EnvironmentProblem(f"{node.name}: processes {alive} survived SIGKILL; fix: check `ps` for D state")
    cgroups.remove(directory, timeout)
    if node.role != "master":
        reset_network(node)


def reset_network(node: NodePlan) -> None:
    """Give the powered-off board a blank network namespace, as a real power cut would.

    Without this, addresses, routes, nftables rules and interfaces the board made would
    outlive its power cut in the named namespace. The cable is re-made with the same MAC;
    a cable that was pulled stays pulled. The switch port is deleted first (synchronously)
    because namespace teardown in the kernel is asynchronous. (board_power.sh does the same
    at a reboot.)
    """
    pulled = plumbing.link_state(t.SWITCH_NS, node.switch_port) == "down"
    plumbing.run(["ip", "-n", t.SWITCH_NS, "link", "del", node.switch_port], check=False)
    plumbing.run(["ip", "netns", "del", node.namespace], check=False)
    plumbing.add_namespaces([node.namespace])
    plumbing.ip_batch(t.SWITCH_NS, [
        f"link add {node.switch_port} type veth peer name eth0 netns {node.namespace} address {node.mac}",
        f"link set {node.switch_port} master {t.BRIDGE}" + ("" if pulled else " up"),
    ])


def enter_command(node: NodePlan, command: list[str]) -> list[str]:
    """The nsenter command line that runs `command` inside the powered board's namespaces and root,
    without the capabilities a board does not have (DROP_CAPS), like the board's own processes."""
    pid = init_pid(node)
    if pid is None:
        raise EnvironmentProblem(f"{node.name} is powered off; fix: appliance lab power {node.name} on")
    return [
        "setpriv", "--bounding-set", files.DROP_CAPS, "--",
        "nsenter", f"--target={pid}", "--mount", "--uts", "--net", "--pid", "--cgroup", "--root", "--wd",
        "--", "/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/root", "TERM=" + os.environ.get("TERM", "dumb"), *command,
    ]
