"""`lab up` and `lab down`: build the whole virtual cluster, and remove every trace of it.

Order of `up` (each step's leftovers are found by `down` even if `up` dies):
state record (phase "starting") → namespaces → switch, cables, home and
internet links → home DHCP, internet DNS/HTTP → master uplink DHCP → master
board powers on → master daemon (with DHCP: until its server listens) →
workers power on → web forward → wait until every board answers SSH →
phase "running". With `--cards DIR` every card file is checked before
anything is built, and the lab plays the master card's installer for the
daemon (`master_card`): its cluster.yaml (unless `--config`), card keys and
provisioning key go to the daemon before it starts.

`down` does not trust the record alone: it kills every process in every
`pilab-*` namespace, the boards' power loops and cgroups (and the lab's
host-side helpers, found by command line), deletes those namespaces (which
deletes every veth and the bridge with them), the boards' cgroups and the run
dir, and detaches any loop device still backed by a card file. Boards' mounts
live only in their own mount namespaces, so they vanish with their
processes. Disks (and card files) are kept.

Kubernetes in the lab is simulated: `status.KUBERNETES_NOTE` says so wherever
the lab reports (`lab up`, `lab status`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from foundation.errors import EnvironmentProblem, UsageError
from hardware.lab import cards as card_files
from hardware.lab import cgroups, plumbing, preflight, rootfs, services, webforward
from hardware.lab import nodes as boards
from hardware.lab import topology as t
from hardware.lab.master_card import MasterCard, install_master_card, read_master_card
from hardware.lab.master_config import lan_settings, write_master_config
from hardware.lab.state import (
    LabDirs,
    LabRecord,
    ensure_key,
    load_record,
    new_web_password,
    save_record,
)
from hardware.lab.status import KUBERNETES_NOTE, wait_for_ssh

Say = Callable[[str], None]



@contextlib.contextmanager
def locked(dirs: LabDirs) -> Iterator[None]:
    """Serialise lab commands that change the machine (up, down, power)."""
    dirs.base.mkdir(parents=True, exist_ok=True)
    with open(dirs.base / "lab.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def refuse_if_running(dirs: LabDirs) -> None:
    """One clear line when a lab (or its leftovers) already exists."""
    record = load_record(dirs)
    if record is not None and not plumbing.list_namespaces(t.PREFIX) and not _lab_pids(dirs):
        # A record without any namespace or process: the machine rebooted (/run/netns is
        # gone) or someone deleted the namespaces by hand. Nothing runs; forget it.
        shutil.rmtree(dirs.run, ignore_errors=True)
        record = None
    if record is not None:
        since = time.strftime("%H:%M:%S", time.localtime(record.started_at))
        raise EnvironmentProblem(
            f"a lab is already running ({record.nodes} nodes, {record.addressing}, up since {since}, "
            f"phase {record.phase}); fix: appliance lab down"
        )
    leftovers = plumbing.list_namespaces(t.PREFIX)
    if leftovers:
        raise EnvironmentProblem(
            f"leftovers of a lab exist ({', '.join(leftovers[:4])}…); fix: appliance lab down"
        )


def build_network(plan: t.LabPlan) -> None:
    """All namespaces and links; none of them in the host's own namespace."""
    plumbing.add_namespaces(plan.namespaces)
    switch = [f"link add {t.BRIDGE} type bridge", f"link set {t.BRIDGE} up",
              f"link add {t.PREFIX}master type veth peer name eth0 netns {t.MASTER_NS} address {plan.master_mac}",
              f"link set {t.PREFIX}master master {t.BRIDGE} up"]
    for node in plan.nodes:
        switch += [f"link add {node.switch_port} type veth peer name eth0 netns {node.namespace} address {node.mac}",
                   f"link set {node.switch_port} master {t.BRIDGE} up"]
    plumbing.ip_batch(t.SWITCH_NS, switch)
    plumbing.ip_batch(t.HOME_NS, [
        f"link add pilab-ap type veth peer name wlan0 netns {t.MASTER_NS} address {plan.master_wlan_mac}",
        f"addr add {t.HOME_ROUTER} dev pilab-ap", "link set pilab-ap up",
        f"link add pilab-wan type veth peer name eth0 netns {t.INTERNET_NS}",
        f"addr add {t.WAN_HOME} dev pilab-wan", "link set pilab-wan up",
    ])
    plumbing.ip_batch(t.INTERNET_NS, [
        f"addr add {t.WAN_INTERNET} dev eth0",
        f"addr add {t.INTERNET_DNS}/{t.WAN_INTERNET.network.prefixlen} dev eth0",
        f"addr add {t.INTERNET_HTTP}/{t.WAN_INTERNET.network.prefixlen} dev eth0",
        "link set eth0 up", f"route add default via {t.WAN_HOME.ip}",
    ])
    plumbing.ip_batch(t.MASTER_NS, [f"addr add {plan.master_address} dev eth0", "link set eth0 up",
                                     "link set wlan0 up"])
    plumbing.run(["ip", "netns", "exec", t.HOME_NS, "sysctl", "-qw", "net.ipv4.ip_forward=1"])


def _wait_for_dhcp_server(dirs: LabDirs, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not plumbing.udp_port_bound(t.MASTER_NS, 67):
        if time.monotonic() > deadline:
            raise EnvironmentProblem(
                f"the master daemon did not open its DHCP port within {timeout:.0f} s; fix: read "
                f"{dirs.run / 'logs' / 'master-daemon.log'}, or use appliance lab up --addressing static"
            )
        time.sleep(0.05)


def up(dirs: LabDirs, *, nodes: int = 4, addressing: str = "dhcp", config: Path | None = None,
       fresh: bool = False, daemon: bool = True, netd_only: str | None = None,
       wait: float = 60.0, web_port: int = 18080, cards: Path | None = None, approve: str = "manual",
       say: Say = print) -> LabRecord:
    """Bring the lab up and return its record; raise EnvironmentProblem with a fix on failure.

    `cards`: boot every board from its card file in that directory (`cards.card_file`); the
    daemon runs with the master card's cluster.yaml unless `config` is given.
    `approve`: provisioning.approve of the lab's own cluster.yaml (not used with `config` or a
    master card's); the tests keep `manual`, so boards are provisioned only where a test asks.
    """
    preflight.check_all()
    master_card: MasterCard | None = None
    if cards is not None:
        if addressing != "dhcp":
            raise UsageError("boards booted from cards take their network from the card (DHCP from the "
                             "master, as on a Pi); fix: leave out --addressing static with --cards")
        preflight.check_tools(preflight.CARD_TOOLS)
        cards = cards.resolve()
        master_card = read_master_card(card_files.card_file(cards, t.MASTER_BOARD))
        if config is None and master_card.cluster_yaml is not None:
            # What install.sh makes /etc/appliance/cluster.yaml; kept where `lab up` reads it again.
            dirs.master_card_config.parent.mkdir(parents=True, exist_ok=True)
            dirs.master_card_config.write_bytes(master_card.cluster_yaml)
            config = dirs.master_card_config
    subnet, master_address = lan_settings(config)
    plan = t.make_plan(nodes, addressing=addressing, subnet=subnet, master_address=master_address)
    if cards is not None:
        card_files.check_cards(cards, [b.name for b in plan.boards])
    with locked(dirs):
        refuse_if_running(dirs)
        if not rootfs.is_built(rootfs.root_path()):
            say(f"building the boards' Debian root with mmdebstrap, once (about a minute; log "
                f"{dirs.base / 'rootfs-build.log'})")
        root = rootfs.ensure_root(log=dirs.base / "rootfs-build.log")
        if not root.cached:
            say(f"built the boards' root in {root.build_seconds:.0f} s: {root.path}")
        preflight.check_root_filesystem(root.path)
        preflight.check_disk_dir(dirs.base / "disks")
        use_daemon = daemon
        if addressing == "dhcp" and not use_daemon:
            raise EnvironmentProblem("DHCP addressing needs the master daemon; fix: leave out --no-daemon, "
                                     "or use appliance lab up --addressing static")
        if fresh:
            shutil.rmtree(dirs.base / "disks", ignore_errors=True)
        shutil.rmtree(dirs.run, ignore_errors=True)
        public_key = ensure_key(dirs)
        record = LabRecord(nodes=nodes, addressing=addressing, subnet=str(subnet),
                           master_address=str(master_address), lower=str(root.path), phase="starting",
                           started_at=time.time(), daemon=use_daemon, web_password=new_web_password(),
                           cards=str(cards) if cards else None)
        save_record(dirs, record)
        try:
            say(f"wiring {nodes} boards, master, switch, home router and internet")
            build_network(plan)
            services.start_home(dirs.run)
            services.start_internet(dirs.run)
            services.start_master_uplink(dirs.run)
            write_master_config(dirs, plan, config, public_key, record.web_password, approve)
            if master_card is not None:
                installed = install_master_card(master_card, dirs.master_state)
                if installed:
                    say(f"from the master card to the master daemon: {', '.join(installed)}")

            def power_on(board: t.NodePlan) -> None:
                boards.power_on(plan, board, lower=root.path,
                                paths=boards.board_paths(dirs.base, dirs.run, board.name), public_key=public_key,
                                card=card_files.card_file(cards, board.name) if cards else None, check_off=False)

            source = f" from the cards in {cards}" if cards else ""
            say(f"powering on {', '.join(b.name for b in plan.boards)}{source}")
            # The master board needs nothing of the daemon: it boots while the daemon starts.
            power_on(plan.master_board)
            if use_daemon:
                # Static addressing: the daemon runs, but its DHCP server does not.
                only = netd_only or ("dns,nat,routes" if addressing == "static" else None)
                services.start_daemon(dirs.run, dirs.master_config, dirs.master_state, only)
                if addressing == "dhcp":
                    # Like the book: the master is up before the workers are plugged in, so
                    # their first DISCOVER is answered instead of waiting for a retry.
                    _wait_for_dhcp_server(dirs, timeout=min(wait or 20.0, 20.0))
            for board in plan.nodes:
                power_on(board)
            port = webforward.start(dirs.run, t.MASTER_NS, f"{master_address}:8080", web_port)
        except BaseException:
            _remove(dirs)
            raise
        record = dataclasses.replace(record, phase="running", web_port=port)
        save_record(dirs, record)
    if wait > 0:
        late = wait_for_ssh(plan, plan.boards, timeout=wait)
        if late:
            raise EnvironmentProblem(
                f"{', '.join(late)} did not answer SSH within {wait:.0f} s (consoles in "
                f"{dirs.run / 'logs'}, kept in {dirs.base / 'last-run-logs'} after `lab down`); "
                "the lab stays up for inspection; fix: appliance lab down"
            )
        how = f"booted from cards in {cards}" if cards else f"{addressing} addressing"
        say(f"lab up: the master board and {nodes} workers answer SSH ({how})")
        if use_daemon and not cards:
            seed_master_key(dirs, plan)
    say(KUBERNETES_NOTE)
    return record


def seed_master_key(dirs: LabDirs, plan: t.LabPlan) -> None:
    """Put the master daemon's provisioning key (and the lab's mirror) on the boards, as a card written
    by `appliance image build` would hold them, so an approved Pi can be provisioned and joined."""
    from hardware.lab.imaging import seed_boards

    public = dirs.master_state / "ssh" / "id_ed25519.pub"  # made by the daemon at its start
    deadline = time.monotonic() + 20
    while not public.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if public.exists():
        seed_boards(dirs, [board.name for board in plan.boards], public.read_text())


def _lab_pids(dirs: LabDirs) -> list[int]:
    """Every process the lab started: all in `pilab-*` namespaces and the boards' cgroups, the
    boards' power loops (between two boots of a reboot a loop is in no named namespace), plus
    host-side helpers."""
    pids: set[int] = set()
    for namespace in plumbing.list_namespaces(t.PREFIX):
        pids.update(plumbing.namespace_pids(namespace))
    pids.update(boards.all_power_pids(dirs.run))
    with contextlib.suppress(EnvironmentProblem):
        pids.update(cgroups.pids(cgroups.lab_dir()))
    pids.update(webforward.find_pids(t.MASTER_NS))
    return sorted(pids)


def _remove(dirs: LabDirs) -> None:
    """Kill, delete, remove: the body of `down`, also used when `up` fails half-way."""
    master = plumbing.namespace_pids(t.MASTER_NS) if (plumbing.NETNS_DIR / t.MASTER_NS).exists() else []
    plumbing.kill_pids(master, signal.SIGTERM)  # let the daemon close its files cleanly…
    plumbing.wait_gone(master, 1.0)
    pids = _lab_pids(dirs)
    plumbing.kill_pids(pids)  # …then everything at once
    alive = plumbing.wait_gone(pids, 5.0)
    with contextlib.suppress(EnvironmentProblem):
        cgroups.remove(cgroups.lab_dir())
    record = load_record(dirs)
    if record is not None and record.cards:
        card_files.detach(card_files.leftover_loops(Path(record.cards)))
    namespaces = plumbing.list_namespaces(t.PREFIX)
    if namespaces:
        plumbing.run(["ip", "-batch", "-"], check=False,
                     input="".join(f"netns delete {name}\n" for name in namespaces))
    if (dirs.run / "logs").is_dir():
        # Keep the last run's consoles and daemon logs for a post-mortem (a failed test run).
        shutil.rmtree(dirs.base / "last-run-logs", ignore_errors=True)
        (dirs.run / "logs").rename(dirs.base / "last-run-logs")
    shutil.rmtree(dirs.run, ignore_errors=True)
    left = plumbing.list_namespaces(t.PREFIX)
    with contextlib.suppress(EnvironmentProblem):
        if cgroups.lab_dir().exists():
            left.append(str(cgroups.lab_dir()))
    if alive or left:
        raise EnvironmentProblem(
            f"lab down left processes {alive} and namespaces or cgroups {left}; fix: check `ps` for "
            "processes in D state, then run appliance lab down again"
        )


def down(dirs: LabDirs) -> bool:
    """Remove everything the lab made; True if there was anything. Safe to run twice."""
    preflight.check_root()
    with locked(dirs):
        had = bool(load_record(dirs) or plumbing.list_namespaces(t.PREFIX) or webforward.find_pids(t.MASTER_NS))
        _remove(dirs)
    return had
