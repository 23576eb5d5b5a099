"""What the running lab looks like: boards' addresses, power, cable, SSH; the `lab status` shape.

Addresses are read from each board's eth0 over netlink (so they are right in
both addressing modes, whoever handed them out); SSH is checked by reading
sshd's banner from a socket inside the master's namespace, the place a real
admin would stand. Checks run in parallel threads.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hardware.lab import cards as card_files
from hardware.lab import nodes as boards
from hardware.lab import plumbing, services
from hardware.lab import topology as t
from hardware.lab.firmware import KernelView
from hardware.lab.state import LabDirs, LabRecord, load_record

KUBERNETES_NOTE = ("Kubernetes in the lab is simulated: kubeadm, the kubelet and the API server are the "
                   "lab's contract fake (hardware/lab/kubefake), not a real control plane")
"""What `lab up` and `lab status` say about Kubernetes."""


def board_address(plan: t.LabPlan, node: t.NodePlan) -> str | None:
    """The board's IPv4 address on eth0 (no prefix length), or None. The master board's is the
    master's LAN address (it shares the master's namespace)."""
    if node.role == "master":
        return str(plan.master_address.ip)
    try:
        addresses = plumbing.ipv4_addresses(node.namespace, "eth0")
    except Exception:  # namespace gone mid-read
        return None
    plain = [a.split("/")[0] for a in addresses]
    in_subnet = [a for a in plain if a in _hosts(plan)]
    return (in_subnet or plain)[0] if plain else None


def _hosts(plan: t.LabPlan) -> set[str]:
    return {str(a) for a in plan.subnet.hosts()}


def wait_for_ssh(plan: t.LabPlan, which: tuple[t.NodePlan, ...], timeout: float) -> list[str]:
    """Wait until each board in `which` has an address and answers SSH; return names still silent."""
    deadline = time.monotonic() + timeout
    waiting = {n.name: n for n in which}
    with ThreadPoolExecutor(max_workers=min(16, len(which) or 1)) as pool:
        while waiting and time.monotonic() < deadline:
            def ready(node: t.NodePlan) -> bool:
                # Look for sshd's listening socket first (silent), then read its banner once
                # from the master's side (each probe is a line in the board's console log).
                address = board_address(plan, node)
                return (address is not None and plumbing.tcp_listening(node.namespace, 22)
                        and plumbing.ssh_banner(t.MASTER_NS, address, 0.5) is not None)

            results = list(pool.map(ready, waiting.values()))
            for node, ok in zip(list(waiting.values()), results, strict=True):
                if ok:
                    del waiting[node.name]
            if waiting:
                time.sleep(0.1)
    return sorted(waiting)


def kernel_entry(paths: boards.BoardPaths) -> dict[str, Any] | None:
    """What the board's current boot was given by the lab's firmware (see hardware.lab.firmware)."""
    try:
        view = KernelView.from_json((paths.kernel / "kernel.json").read_text())
    except (OSError, ValueError, KeyError):
        return None
    return {"cmdline": view.cmdline, "memory_cgroup": view.memory_cgroup, "swaps": list(view.swaps),
            "emulated": True}


def board_entry(plan: t.LabPlan, node: t.NodePlan, record: LabRecord, dirs: LabDirs) -> dict[str, Any]:
    """One board's row of `lab status` (a worker, or the master board)."""
    paths = boards.board_paths(dirs.base, dirs.run, node.name)
    powered = boards.init_pid(node) is not None
    address = board_address(plan, node) if powered else None
    listening = powered and plumbing.tcp_listening(node.namespace, 22)
    ssh = bool(address) and listening and plumbing.ssh_banner(t.MASTER_NS, str(address), 0.5) is not None
    card = card_files.card_file(Path(record.cards), node.name) if record.cards else None
    return {
        "name": node.name, "role": node.role,
        "namespace": node.namespace, "mac": node.mac,
        "address": address, "state": "running" if powered else "off", "ssh": ssh,
        "link": plumbing.link_state(t.SWITCH_NS, node.switch_port) or "missing",
        "dhcp_client": node.dhcp_client if plan.addressing == "dhcp" and node.role != "master" and not card
        else None,
        "disk": str(card or paths.disk),
        "card": str(card) if card else None,
        "console": str(paths.console),
        "kernel": kernel_entry(paths) if powered else None,
    }


def master_entry(plan: t.LabPlan, record: LabRecord, dirs: LabDirs) -> dict[str, Any]:
    """The master's row of `lab status`: its namespace and the daemon's supervision state (the master
    board, the same Pi's root and sshd, has a row of its own, `master-board`)."""
    return {
        "name": "master", "role": "master", "namespace": t.MASTER_NS, "mac": plan.master_mac,
        "address": str(plan.master_address.ip), "state": "running",
        # The master's address answers SSH when the master board's sshd runs.
        "ssh": plumbing.tcp_listening(t.MASTER_NS, 22)
        and plumbing.ssh_banner(t.MASTER_NS, str(plan.master_address.ip), 0.5) is not None,
        "link": plumbing.link_state(t.SWITCH_NS, f"{t.PREFIX}master") or "missing",
        "config": str(dirs.master_config), "state_dir": str(dirs.master_state),
        "daemon": services.daemon_status(dirs.run) if record.daemon else {"running": False, "started": False},
    }


def parse_ptr_answers(text: str) -> dict[str, str]:
    """`dig +noall +answer` PTR lines → {address: name without the domain}."""
    names: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 5 or fields[3] != "PTR" or not fields[0].endswith(".in-addr.arpa."):
            continue
        octets = fields[0][: -len(".in-addr.arpa.")].split(".")
        if len(octets) == 4 and all(o.isdigit() for o in octets):
            names[".".join(reversed(octets))] = fields[4].rstrip(".").split(".")[0]
    return names


def appliance_names(plan: t.LabPlan, addresses: list[str]) -> dict[str, str]:
    """The names the appliance gave the boards (`node-N`), from the master's DNS (PTR), if it answers."""
    if not addresses or not (plumbing.NETNS_DIR / t.MASTER_NS).exists():
        return {}
    queries = [arg for address in addresses for arg in ("-x", address)]
    result = subprocess.run(
        ["ip", "netns", "exec", t.MASTER_NS, "dig", "+noall", "+answer", "+time=1", "+tries=1",
         f"@{plan.master_address.ip}", *queries], capture_output=True, text=True, check=False, timeout=10)
    return parse_ptr_answers(result.stdout)


def lab_status(dirs: LabDirs) -> dict[str, Any]:
    """The whole `lab status -o json` document (`running: false` and no nodes when down)."""
    record = load_record(dirs)
    leftovers = plumbing.list_namespaces(t.PREFIX)
    if record is None or not leftovers:  # no record, or a stale one (e.g. after a reboot)
        return {"running": False, "nodes": [], "home": None, "internet": None, "web": None,
                "kubernetes": {"simulated": True, "note": KUBERNETES_NOTE},
                "leftovers": leftovers, "stale_record": record is not None}
    plan = record.plan()
    with ThreadPoolExecutor(max_workers=min(16, len(plan.boards))) as pool:
        master_board, *workers = pool.map(lambda n: board_entry(plan, n, record, dirs), plan.boards)
    names = appliance_names(plan, [w["address"] for w in workers if w["address"]])
    for worker in workers:
        worker["appliance_name"] = names.get(worker["address"])
    uplink = plumbing.ipv4_addresses(t.MASTER_NS, "wlan0") if (plumbing.NETNS_DIR / t.MASTER_NS).exists() else []
    return {
        "running": record.phase == "running",
        "phase": record.phase,
        "addressing": record.addressing,
        "started_at": record.started_at,
        "nodes": [master_entry(plan, record, dirs), *workers, master_board],
        "cards": record.cards,
        "kubernetes": {"simulated": True, "note": KUBERNETES_NOTE},
        "home": {"namespace": t.HOME_NS, "router": str(t.HOME_ROUTER.ip),
                 "master_uplink_address": uplink[0].split("/")[0] if uplink else None},
        "internet": {"namespace": t.INTERNET_NS, "http": str(t.INTERNET_HTTP), "dns": str(t.INTERNET_DNS),
                     "names": {name: str(address) for name, address in t.INTERNET_NAMES}},
        "web": {"url": f"http://127.0.0.1:{record.web_port}/" if record.web_port else None,
                "user": "admin", "password": record.web_password,
                "lab_url": f"http://{plan.master_address.ip}:8080/",
                # Say honestly whether the master's page answers behind the forward.
                "answering": plumbing.tcp_listening(t.MASTER_NS, 8080),
                "kubernetes_simulated": True},
        "ssh_key": str(dirs.key),
    }
