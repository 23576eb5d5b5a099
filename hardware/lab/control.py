"""Acting on a running lab: pick a board by any of its names, run commands in it, pull cables, cut power.

A NODE argument may be a board (`pi-2`, or `master-board`: the master Pi's own root with
systemd and sshd), `master` (the master's namespace on the host's files, where the daemon
runs), `home`, `internet`, `switch`, a board's MAC, its address, or the name the appliance
gave it (`node-2`, looked up in the master's DNS, the way a user would reach it).
"""

from __future__ import annotations

import re
import subprocess
from ipaddress import IPv4Address
from pathlib import Path

import yaml

from foundation.errors import EnvironmentProblem, UsageError
from hardware.lab import cards as card_files
from hardware.lab import nodes as boards
from hardware.lab import plumbing, services
from hardware.lab import topology as t
from hardware.lab.state import LabDirs, LabRecord, ensure_key, load_record
from hardware.lab.status import board_address, wait_for_ssh

INFRASTRUCTURE = {"master": t.MASTER_NS, "home": t.HOME_NS, "internet": t.INTERNET_NS, "switch": t.SWITCH_NS}
"""Lab members that are plain namespaces on the host's filesystem."""

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*$")


def running_record(dirs: LabDirs) -> LabRecord:
    """The running lab's record, or one line saying how to start one."""
    record = load_record(dirs)
    if record is None:
        raise EnvironmentProblem("no lab is running; fix: appliance lab up")
    return record


def _domain(dirs: LabDirs) -> str:
    try:
        data = yaml.safe_load(dirs.master_config.read_text()) or {}
        return str((data.get("cluster") or {}).get("domain") or "cluster.home")
    except (OSError, yaml.YAMLError, AttributeError):
        return "cluster.home"


def _dns_lookup(dirs: LabDirs, plan: t.LabPlan, name: str) -> str | None:
    fqdn = name if "." in name else f"{name}.{_domain(dirs)}"
    result = subprocess.run(
        ["ip", "netns", "exec", t.MASTER_NS, "dig", "+short", "+time=1", "+tries=1",
         f"@{plan.master_address.ip}", fqdn, "A"], capture_output=True, text=True, check=False)
    answers = [line for line in result.stdout.split() if re.fullmatch(r"[0-9.]+", line)]
    return answers[0] if answers else None


def resolve(dirs: LabDirs, plan: t.LabPlan, name: str) -> t.NodePlan | str:
    """The board called `name` (any of its names), or the namespace of master/home/internet/switch."""
    if name in INFRASTRUCTURE:
        return INFRASTRUCTURE[name]
    node = plan.board(name)
    if node is not None:
        return node
    lowered = name.lower()
    if MAC_RE.match(lowered):
        node = next((n for n in plan.nodes if n.mac == lowered), None)
    else:
        address = name
        try:
            IPv4Address(name)
        except ValueError:
            # Only a plausible host name is worth asking the master's DNS about.
            address = (_dns_lookup(dirs, plan, name) if HOSTNAME_RE.fullmatch(name) else None) or ""
        if address == str(plan.master_address.ip):
            return t.MASTER_NS
        node = next((n for n in plan.nodes if address and board_address(plan, n) == address), None)
    if node is None:
        names = ", ".join([*INFRASTRUCTURE, *(n.name for n in plan.boards)])
        raise UsageError(f"no lab member called {name!r}; known: {names} (or a node's MAC, address, name)")
    return node


def exec_command(dirs: LabDirs, name: str, command: list[str]) -> list[str]:
    """The host command line that runs `command` on lab member `name` (not yet run)."""
    if not command:
        raise UsageError("nothing to run; usage: appliance lab exec NODE -- COMMAND...")
    record = running_record(dirs)
    target = resolve(dirs, record.plan(), name)
    if isinstance(target, t.NodePlan):
        return boards.enter_command(target, command)
    if target == t.MASTER_NS:
        env = services.master_env(dirs.master_config, dirs.master_state)
        return ["ip", "netns", "exec", target, "env", *(f"{k}={v}" for k, v in env.items()), *command]
    return ["ip", "netns", "exec", target, *command]


def _board(dirs: LabDirs, name: str) -> tuple[LabRecord, t.LabPlan, t.NodePlan | str]:
    record = running_record(dirs)
    plan = record.plan()
    return record, plan, resolve(dirs, plan, name)


def link(dirs: LabDirs, name: str, state: str) -> str:
    """Unplug (`down`) or plug (`up`) a member's cable at the switch; return the switch port."""
    if state not in ("up", "down"):
        raise UsageError(f"link state must be up or down, not {state!r}")
    _, _, target = _board(dirs, name)
    if isinstance(target, t.NodePlan) and target.role != "master":
        port = target.switch_port
    elif target == t.MASTER_NS or isinstance(target, t.NodePlan):
        port = f"{t.PREFIX}master"
    else:
        raise UsageError(f"{name} has no cable on the switch; only the master and the boards do")
    plumbing.ip_batch(t.SWITCH_NS, [f"link set {port} {state}"])
    return port


def power(dirs: LabDirs, name: str, state: str, wait: float = 30.0) -> t.NodePlan:
    """Cut (`off`) or restore (`on`) a board's power; `on` waits for SSH unless wait is 0."""
    if state not in ("on", "off"):
        raise UsageError(f"power state must be on or off, not {state!r}")
    record, plan, target = _board(dirs, name)
    if not isinstance(target, t.NodePlan):
        raise UsageError(f"{name} is not a board; only {t.MASTER_BOARD} and pi-1 … pi-{len(plan.nodes)} "
                         "can be power-cycled")
    paths = boards.board_paths(dirs.base, dirs.run, target.name)
    if state == "off":
        boards.power_off(target, paths)
        return target
    card = card_files.card_file(Path(record.cards), target.name) if record.cards else None
    boards.power_on(plan, target, lower=Path(record.lower), paths=paths, public_key=ensure_key(dirs), card=card)
    if wait > 0 and wait_for_ssh(plan, (target,), wait):
        raise EnvironmentProblem(
            f"{target.name} was powered on but did not answer SSH within {wait:.0f} s; "
            f"fix: read {dirs.run / 'logs' / (target.name + '.console')}"
        )
    return target


def ssh_command(dirs: LabDirs, name: str, user: str, command: list[str]) -> list[str]:
    """The host command line for `ssh USER@board` with the lab key, from inside the master's namespace."""
    record = running_record(dirs)
    plan = record.plan()
    target = resolve(dirs, plan, name)
    if target == t.MASTER_NS:
        target = plan.master_board  # the master Pi answers SSH on its LAN address
    if not isinstance(target, t.NodePlan):
        raise UsageError(f"{name} runs no sshd; use: appliance lab exec {name} -- COMMAND")
    address = board_address(plan, target)
    if address is None:
        raise EnvironmentProblem(f"{target.name} has no address yet; fix: appliance lab status, then retry")
    return [
        "ip", "netns", "exec", t.MASTER_NS, "ssh", "-i", str(dirs.key),
        "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={dirs.run / 'known_hosts'}",
        "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", f"{user}@{address}", *command,
    ]
