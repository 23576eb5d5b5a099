"""`appliance lab …`: the virtual four-Pi cluster on this Linux box (see hardware/lab)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from foundation.errors import ApplianceError, EnvironmentProblem
from hardware.lab import control, lifecycle, preflight, rootfs
from hardware.lab.state import default_dirs
from hardware.lab.status import lab_status


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.group()
def lab_group() -> None:
    """The virtual cluster: a switch, a master, worker Pis, a home router and an internet,
    all in network namespaces on this machine (root)."""


@lab_group.command("up")
@click.option("--nodes", type=click.IntRange(1, 64), default=4, show_default=True, help="Worker boards.")
@click.option("--config", "config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="cluster.yaml for the master (default: the master card's with --cards, else one written "
                   "by the lab).")
@click.option("--addressing", type=click.Choice(["dhcp", "static"]), default="dhcp", show_default=True,
              help="dhcp: the master daemon's DHCP; static: fixed addresses (.11, .12, …).")
@click.option("--fresh", is_flag=True, help="Erase the boards' and the master's disks first.")
@click.option("--no-daemon", is_flag=True, help="Do not start the master daemon.")
@click.option("--netd-only", help="Pass --only to `netd run` (e.g. dhcp,dns).")
@click.option("--wait", type=float, default=60.0, show_default=True,
              help="Seconds to wait for every board to answer SSH (0: do not wait).")
@click.option("--web-port", type=int, default=18080, show_default=True,
              help="Host port (127.0.0.1) forwarded to the master's web page.")
@click.option("--cards", type=click.Path(file_okay=False, path_type=Path),
              help="Boot from SD-card files: pi-N from DIR/pi-N.img, the master board from DIR/master.img "
                   "(written by `appliance flash`); cloud-init and NetworkManager run as on a Pi. The master "
                   "daemon takes cluster.yaml, card keys and provisioning key from master.img.")
@click.option("--approve", type=click.Choice(["manual", "raspberry-pi", "all"]), default="raspberry-pi",
              show_default=True, help="provisioning.approve of the lab's cluster.yaml (ignored with --config "
                                      "or a master card's): "
                                      "raspberry-pi provisions and joins the boards with no click.")
@click.option("--wait-ready", type=float, default=0.0, show_default=True,
              help="Seconds to wait until every board is a Ready Kubernetes node (0: do not wait).")
def up_cmd(nodes: int, config: Path | None, addressing: str, fresh: bool, no_daemon: bool,
           netd_only: str | None, wait: float, web_port: int, cards: Path | None, approve: str,
           wait_ready: float) -> None:
    """Bring the lab up (refused if one is running)."""
    started = time.monotonic()
    dirs = default_dirs()
    record = lifecycle.up(dirs, nodes=nodes, addressing=addressing, config=config, fresh=fresh,
                          daemon=not no_daemon, netd_only=netd_only, wait=wait, web_port=web_port, cards=cards,
                          approve=approve, say=_say)
    _say(f"ready in {time.monotonic() - started:.1f} s; try: appliance lab status")
    if record.daemon and record.web_port:
        # The page, reachable from this machine's browser (forwarded into the sealed lab).
        click.echo(f"web page: http://127.0.0.1:{record.web_port}/  (user admin, password {record.web_password})")
    if wait_ready > 0 and record.daemon:
        _wait_ready(dirs.master_state, nodes, wait_ready, started)


def _wait_ready(state_dir: Path, boards: int, timeout: float, started: float) -> None:
    """Wait until `boards` workers are Ready Kubernetes nodes, saying what changes;
    a timeout is one line naming where to look (the page, the jobs), exit 1."""
    from appliance.cli.daemon_client import DaemonClient

    client = DaemonClient(state_dir)
    deadline = time.monotonic() + timeout
    said = ""
    while True:
        try:
            workers = [view for view in client.nodes() if view.role == "worker"]
        except ApplianceError:  # the daemon is still starting its local API
            workers = []
        ready = sum(1 for view in workers if view.ready)
        states = ", ".join(f"{view.name} {'Ready' if view.ready else view.state}" for view in workers)
        if states != said:
            _say(f"nodes: {states or 'none yet'}")
            said = states
        if ready >= boards:
            _say(f"{ready} nodes Ready in {time.monotonic() - started:.0f} s (Kubernetes in the lab is simulated)")
            return
        if time.monotonic() > deadline:
            raise EnvironmentProblem(f"{ready} of {boards} nodes Ready after {timeout:.0f} s; see the jobs on "
                                     "the page, or: appliance lab exec master -- appliance nodes list")
        time.sleep(2.0)


@lab_group.command("down")
def down_cmd() -> None:
    """Remove every namespace, link, mount and process of the lab (disks are kept)."""
    started = time.monotonic()
    had = lifecycle.down(default_dirs())
    _say(f"lab down in {time.monotonic() - started:.1f} s" if had else "no lab was running")


def _kernel_cells(node: dict[str, Any]) -> tuple[str, str]:
    kernel = node.get("kernel")
    if not kernel:
        return "-", "-"
    swaps = ",".join(s.split()[0].rsplit("/", 1)[-1] for s in kernel["swaps"]) or "none"
    return ("on" if kernel["memory_cgroup"] else "off"), swaps


def _table(doc: dict[str, Any]) -> str:
    rows = [("NAME", "ROLE", "NAMESPACE", "MAC", "ADDRESS", "STATE", "LINK", "SSH", "MEMCG", "SWAP",
             "APPLIANCE NAME")]
    for node in doc["nodes"]:
        rows.append((node["name"], node["role"], node["namespace"], node["mac"], node["address"] or "-",
                     node["state"], node.get("link", "-"), "yes" if node["ssh"] else "no",
                     *_kernel_cells(node), node.get("appliance_name") or "-"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    master = doc["nodes"][0]
    daemon = master.get("daemon", {})
    lines += [
        "",
        f"master daemon: {'running' if daemon.get('running') else 'not running'}"
        + (f" (log {daemon['log']})" if daemon.get("log") else ""),
        f"home: {doc['home']['namespace']}, master uplink {doc['home']['master_uplink_address'] or '-'}",
        f"internet: {doc['internet']['namespace']}, http {doc['internet']['http']}, dns {doc['internet']['dns']}",
        "kernel: each board's /proc/cmdline, memory cgroup (MEMCG) and swap are emulated from its "
        "/boot/firmware/cmdline.txt and /etc/rpi/swap.conf at boot, as a Pi 5 on Pi OS trixie "
        "(-o json: kernel)",
    ]
    if doc.get("cards"):
        lines.append(f"cards: the boards boot from the card files in {doc['cards']}")
    if doc["web"] and doc["web"]["url"]:
        if doc["web"].get("answering"):
            lines.append(f"web: {doc['web']['url']} (user {doc['web']['user']}, password {doc['web']['password']})")
        else:
            lines.append(f"web: {doc['web']['url']} (not answering yet: the master daemon is starting or "
                         f"stopped; see its log)")
    lines.append(doc["kubernetes"]["note"])
    return "\n".join(lines)


@lab_group.command("status")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
def status_cmd(output: str) -> None:
    """Boards, addresses, power, cables, SSH; the home network, the internet, the web page."""
    preflight.check_root()
    doc = lab_status(default_dirs())
    if output == "json":
        click.echo(json.dumps(doc, indent=2))
    elif not doc["running"] and not doc["nodes"]:
        click.echo("no lab is running; start one: appliance lab up")
    else:
        click.echo(_table(doc))


@lab_group.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(node: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside NODE (pi-N, master-board, master, home, internet, or a node's name/MAC/address).

    `master` is the master's namespace on this machine's files (where the daemon runs);
    `master-board` is the master Pi's own root, with systemd and sshd."""
    preflight.check_root()
    argv = control.exec_command(default_dirs(), node, list(command))
    sys.stdout.flush()
    sys.exit(subprocess.call(argv))


@lab_group.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("node")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("-l", "--user", default="root", show_default=True, help="root or pi.")
def ssh_cmd(node: str, command: tuple[str, ...], user: str) -> None:
    """Log in to NODE over real SSH with the lab key (from the master, like an admin would)."""
    preflight.check_root()
    argv = control.ssh_command(default_dirs(), node, user, list(command))
    sys.stdout.flush()
    sys.exit(subprocess.call(argv))


@lab_group.command("link")
@click.argument("node")
@click.argument("state", type=click.Choice(["up", "down"]))
def link_cmd(node: str, state: str) -> None:
    """Plug (up) or unplug (down) NODE's cable at the switch."""
    preflight.check_root()
    port = control.link(default_dirs(), node, state)
    _say(f"{node}: cable {'plugged in' if state == 'up' else 'pulled'} (switch port {port})")


@lab_group.command("power")
@click.argument("node")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--wait", type=float, default=30.0, show_default=True,
              help="After `on`, seconds to wait for SSH (0: do not wait).")
def power_cmd(node: str, state: str, wait: float) -> None:
    """Cut (off: every process killed at once) or restore (on: boot from its disk) NODE's power.

    NODE is pi-N or master-board. `reboot` or `systemctl poweroff` inside a board work too."""
    preflight.check_root()
    board = control.power(default_dirs(), node, state, wait)
    _say(f"{board.name}: power {state}")


@lab_group.command("rootfs")
def rootfs_cmd() -> None:
    """Build the boards' Debian root once (mmdebstrap) and cache it; print its path."""
    preflight.check_root()
    log = default_dirs().base / "rootfs-build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if not rootfs.is_built(rootfs.root_path()) and os.isatty(2):
        _say(f"building the lab root with mmdebstrap (a few minutes; log {log})…")
    info = rootfs.ensure_root(log=log)
    _say(f"cached: {info.path}" if info.cached else f"built in {info.build_seconds:.0f} s: {info.path}")
    click.echo(str(info.path))
