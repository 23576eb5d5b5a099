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
from typing import Any

from hardware.lab import nodes as boards
from hardware.lab import plumbing, services
from hardware.lab import topology as t
from hardware.lab.state import LabDirs, LabRecord, load_record


def board_address(plan: t.LabPlan, node: t.NodePlan) -> str | None:
    """The board's IPv4 address on eth0 (no prefix length), or None."""
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


def worker_entry(plan: t.LabPlan, node: t.NodePlan, dirs: LabDirs) -> dict[str, Any]:
    """One worker board's row of `lab status`."""
    powered = boards.init_pid(node) is not None
    address = board_address(plan, node) if powered else None
    ssh = bool(address) and plumbing.ssh_banner(t.MASTER_NS, str(address), 0.5) is not None
    return {
        "name": node.name, "role": "worker", "namespace": node.namespace, "mac": node.mac,
        "address": address, "state": "running" if powered else "off", "ssh": ssh,
        "link": plumbing.link_state(t.SWITCH_NS, node.switch_port) or "missing",
        "dhcp_client": node.dhcp_client if plan.addressing == "dhcp" else None,
        "disk": str(dirs.base / "disks" / node.name),
        "console": str(dirs.run / "logs" / f"{node.name}.console"),
    }


def master_entry(plan: t.LabPlan, record: LabRecord, dirs: LabDirs) -> dict[str, Any]:
    """The master's row of `lab status`, with the daemon's supervision state."""
    return {
        "name": "master", "role": "master", "namespace": t.MASTER_NS, "mac": plan.master_mac,
        "address": str(plan.master_address.ip), "state": "running", "ssh": False,
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
                "leftovers": leftovers, "stale_record": record is not None}
    plan = record.plan()
    with ThreadPoolExecutor(max_workers=min(16, len(plan.nodes))) as pool:
        workers = list(pool.map(lambda n: worker_entry(plan, n, dirs), plan.nodes))
    names = appliance_names(plan, [w["address"] for w in workers if w["address"]])
    for worker in workers:
        worker["appliance_name"] = names.get(worker["address"])
    uplink = plumbing.ipv4_addresses(t.MASTER_NS, "wlan0") if (plumbing.NETNS_DIR / t.MASTER_NS).exists() else []
    return {
        "running": record.phase == "running",
        "phase": record.phase,
        "addressing": record.addressing,
        "started_at": record.started_at,
        "nodes": [master_entry(plan, record, dirs), *workers],
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
