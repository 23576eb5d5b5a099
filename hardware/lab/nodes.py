"""Lab boards: power on (boot), power off (power cut), find their init, run commands in them.

A board is a network namespace (holding its cable; re-made blank at every
power cut, because a real power cut loses all kernel network state) plus, while powered, a process tree in its own PID, mount and UTS namespaces.
Power-on runs `node_launch.sh` as PID 1 of a new PID namespace; it mounts the
overlay root and becomes busybox init. Power-off SIGKILLs every process in
the board's network namespace at once: the PID namespace's init dies, the
kernel kills the rest, and the mount namespace with the overlay goes away —
no clean shutdown, exactly like pulling the plug. The disk (upper dir) stays.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from foundation.errors import EnvironmentProblem
from hardware.lab import plumbing
from hardware.lab import topology as t
from hardware.lab.topology import LabPlan, NodePlan

SSHD_COMMAND = "/usr/sbin/sshd -D -e -h /etc/ssh/ssh_host_ed25519_key"
"""sshd in the foreground (init respawns it), logging to the console, with the board's own key."""


@dataclass(frozen=True)
class BoardPaths:
    """Where one board's files live on the host."""

    disk: Path
    """Its persistent disk (overlay upper + work dirs): survives power cycles and `lab down`."""
    boot: Path
    """Files copied into its /run/pilab at every power-on."""
    console: Path
    """Its console log."""


def board_paths(state_dir: Path, run_dir: Path, name: str) -> BoardPaths:
    """The paths of board `name` under the lab's state (disks) and run (runtime) dirs."""
    return BoardPaths(
        disk=state_dir / "disks" / name,
        boot=run_dir / "nodes" / name / "boot",
        console=run_dir / "logs" / f"{name}.console",
    )


def node_env(plan: LabPlan, node: NodePlan) -> str:
    """The shell settings the board's boot script reads (/run/pilab/node.env)."""
    values = {
        "PILAB_NODE": node.name,
        "PILAB_ADDRESSING": plan.addressing,
        "PILAB_DHCP_CLIENT": node.dhcp_client,
        "PILAB_ADDRESS": str(node.static_address),
        "PILAB_GATEWAY": str(plan.master_address.ip),
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def inittab() -> str:
    """busybox init's table: run the boot script once, then keep sshd running."""
    return f"::sysinit:/bin/sh /run/pilab/boot\n::respawn:{SSHD_COMMAND}\n"


def _resource(name: str) -> str:
    return resources.files("hardware.lab").joinpath(name).read_text()


def power_on(plan: LabPlan, node: NodePlan, *, lower: Path, paths: BoardPaths, public_key: str,
             check_off: bool = True) -> None:
    """Boot `node`: stage its boot files and start its init, detached from the caller.

    `check_off=False` skips the "already on?" scan of /proc (used by `lab up`, whose
    namespaces are brand new, to keep a 16-board start fast).
    """
    if check_off and init_pid(node) is not None:
        raise EnvironmentProblem(f"{node.name} is already powered on; fix: appliance lab power {node.name} off")
    paths.boot.mkdir(parents=True, exist_ok=True)
    paths.console.parent.mkdir(parents=True, exist_ok=True)
    paths.disk.mkdir(parents=True, exist_ok=True)
    (paths.boot / "boot").write_text(_resource("node_boot.sh"))
    (paths.boot / "inittab").write_text(inittab())
    (paths.boot / "node.env").write_text(node_env(plan, node))
    (paths.boot / "authorized_key").write_text(public_key.strip() + "\n")
    launcher = paths.boot.parent / "launch.sh"
    launcher.write_text(_resource("node_launch.sh"))
    with open(paths.console, "ab") as console:
        # `setsid -f` forks and exits at once, so the board's process tree is
        # re-parented away from us: no zombie is left with the caller (pytest).
        subprocess.run(
            [
                "setsid", "-f", "ip", "netns", "exec", node.namespace,
                "unshare", "--mount", "--uts", "--pid", "--fork", "--propagation", "private",
                "--", "/bin/sh", str(launcher),
                node.name, str(lower), str(paths.disk), str(paths.boot), str(paths.console),
            ],
            stdin=subprocess.DEVNULL, stdout=console, stderr=console, check=True,
        )


def init_pid(node: NodePlan) -> int | None:
    """Host PID of the board's init (PID 1 of its PID namespace), or None when powered off."""
    own_pidns = os.readlink("/proc/self/ns/pid")
    for pid in plumbing.namespace_pids(node.namespace):
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") == own_pidns:
                continue  # unshare itself (or a helper) still in our PID namespace
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
        if nspid[-1:] == ["1"]:
            return pid
    return None


def power_off(node: NodePlan, timeout: float = 5.0) -> None:
    """Cut the power: SIGKILL every process of the board at once, then wait until they are gone."""
    pids = plumbing.namespace_pids(node.namespace)
    plumbing.kill_pids(pids)
    alive = plumbing.wait_gone(pids, timeout)
    if alive:
        raise EnvironmentProblem(f"{node.name}: processes {alive} survived SIGKILL; fix: check `ps` for D state")
    reset_network(node)


def reset_network(node: NodePlan) -> None:
    """Give the powered-off board a blank network namespace, as a real power cut would.

    Without this, addresses, routes, nftables rules and interfaces the board made would
    outlive its power cut in the named namespace. The cable is re-made with the same MAC;
    a cable that was pulled stays pulled. The switch port is deleted first (synchronously)
    because namespace teardown in the kernel is asynchronous.
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
    """The nsenter command line that runs `command` inside the powered board's namespaces and root."""
    pid = init_pid(node)
    if pid is None:
        raise EnvironmentProblem(f"{node.name} is powered off; fix: appliance lab power {node.name} on")
    return [
        "nsenter", f"--target={pid}", "--mount", "--uts", "--net", "--pid", "--root", "--wd",
        "--", "/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/root", "TERM=" + os.environ.get("TERM", "dumb"), *command,
    ]
