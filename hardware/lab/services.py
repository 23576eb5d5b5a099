"""The lab's outside world and the master's processes.

- home router (`pilab-home`): dnsmasq as DHCP server for the master's wlan0
  (DNS off: it only hands out the internet's resolver), IP forwarding on.
- internet (`pilab-internet`): dnsmasq answering a few reserved example
  names (NXDOMAIN for everything else, never forwarding anywhere) and
  Python's http.server.
- master (`pilab-master`, on the host's filesystem): udhcpc on wlan0 with a
  hook that only touches the master's namespace and the lab's run dir (never
  the host's /etc/resolv.conf), and the project's own daemon under a
  supervisor.

Every process is started with `setsid -f ip netns exec NS …`, so it lives
inside a lab namespace (found and killed by `lab down` through
`ip netns pids`) and is not a child of the `lab up` command.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from foundation.errors import ApplianceError
from hardware.lab import topology as t

UDHCPC_HOOK = """#!/bin/sh
# udhcpc hook of the lab master's uplink: address and default route in the
# master's namespace only; the resolver goes to a file of the lab, because
# the master shares the host's /etc.
case "$1" in
deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
bound) ip -4 addr flush dev "$interface"
       ip addr add "$ip/$mask" dev "$interface"
       [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
       echo "$dns" > "$(dirname "$0")/uplink.dns" ;;
renew) ip addr replace "$ip/$mask" dev "$interface"
       [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
       echo "$dns" > "$(dirname "$0")/uplink.dns" ;;
esac
exit 0
"""


def spawn(namespace: str, command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    """Start `command` detached inside `namespace`, output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        subprocess.run(
            ["setsid", "-f", "ip", "netns", "exec", namespace, *command],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=True, env=env,
        )


def start_home(run_dir: Path) -> None:
    """The home router's DHCP server (dnsmasq with DNS disabled)."""
    home = run_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    first, last = t.HOME_POOL
    spawn(t.HOME_NS, [
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
        "--port=0", "--user=root", "--group=root", "--interface=pilab-ap", "--bind-interfaces",
        f"--dhcp-range={first},{last},255.255.255.0,1h",
        f"--dhcp-option=option:router,{t.HOME_ROUTER.ip}",
        f"--dhcp-option=option:dns-server,{t.INTERNET_DNS}",
        f"--dhcp-leasefile={home / 'dnsmasq.leases'}", "--dhcp-authoritative",
        f"--pid-file={home / 'dnsmasq.pid'}", f"--log-facility={home / 'dnsmasq.log'}",
    ], run_dir / "logs" / "home.log")


def start_internet(run_dir: Path) -> None:
    """The internet's DNS server (a few example names, NXDOMAIN otherwise) and HTTP server."""
    internet = run_dir / "internet"
    www = internet / "www"
    www.mkdir(parents=True, exist_ok=True)
    (www / "index.html").write_text("hello from the pilab internet\n")
    publish_packages(www, run_dir / "logs" / "internet-http.log")
    records = [f"--host-record={name},{address}" for name, address in t.INTERNET_NAMES]
    spawn(t.INTERNET_NS, [
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
        "--user=root", "--group=root", f"--listen-address={t.INTERNET_DNS}", "--bind-interfaces",
        "--local=/#/", *records, f"--pid-file={internet / 'dnsmasq.pid'}",
        f"--log-facility={internet / 'dnsmasq.log'}", "--log-queries",
    ], run_dir / "logs" / "internet-dns.log")
    spawn(t.INTERNET_NS, [
        sys.executable, "-m", "http.server", "80", "--bind", str(t.INTERNET_HTTP), "--directory", str(www),
    ], run_dir / "logs" / "internet-http.log")


def publish_packages(www: Path, log: Path) -> None:
    """The Kubernetes fake's apt repositories (pkgs.k8s.io layout) and Debian packages under `www`.

    Built once into the lab cache (scripts/install does it); if that fails the
    lab still comes up and the reason is in the internet's HTTP log, where a
    failing `apt-get update` on a board leads.
    """
    from hardware.lab.kubefake import publish

    try:
        publish(www)
    except ApplianceError as error:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as out:
            out.write(f"package repositories not published: {error}\n")


def start_master_uplink(run_dir: Path) -> None:
    """udhcpc on the master's wlan0 (keeps running to renew, like a Pi's Wi-Fi client)."""
    master = run_dir / "master"
    master.mkdir(parents=True, exist_ok=True)
    hook = master / "udhcpc.hook"
    hook.write_text(UDHCPC_HOOK)
    hook.chmod(0o755)
    spawn(t.MASTER_NS, [
        "udhcpc", "-f", "-i", "wlan0", "-s", str(hook), "-t", "10", "-T", "1", "-A", "2",
        "-x", "hostname:pilab-master",
    ], run_dir / "logs" / "master-uplink.log")


def appliance_command() -> list[str]:
    """The installed `appliance` command (the venv's console script next to this Python)."""
    candidate = Path(sys.executable).parent / "appliance"
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("appliance")
    return [found] if found else [sys.executable, "-m", "appliance.cli.main"]


def daemon_available() -> bool:
    """True if the project has `appliance master run` (the whole master daemon)."""
    result = subprocess.run([*appliance_command(), "master", "run", "--help"],
                            capture_output=True, check=False)
    return result.returncode == 0


def daemon_command(config: Path, state_dir: Path, only: str | None) -> list[str]:
    """How the master runs the project's daemon: `appliance master run` (netd, provisioning, the page),
    telling the page that Kubernetes is simulated here; `only` narrows netd's services."""
    command = [*appliance_command(), "master", "run", "--config", str(config), "--state-dir", str(state_dir),
               "--simulated-kubernetes"]
    return command + (["--only", only] if only else [])


def master_env(config: Path, state_dir: Path) -> dict[str, str]:
    """Environment of commands run on the master: venv first on PATH, the lab's config and state."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "APPLIANCE_CONFIG": str(config),
        "APPLIANCE_STATE_DIR": str(state_dir),
        "LANG": "C.UTF-8",
    }


def start_daemon(run_dir: Path, config: Path, state_dir: Path, only: str | None) -> None:
    """The master daemon under hardware.lab.supervise, inside the master's namespace."""
    state_dir.mkdir(parents=True, exist_ok=True)
    status = run_dir / "master" / "daemon.json"
    status.parent.mkdir(parents=True, exist_ok=True)
    spawn(t.MASTER_NS, [
        sys.executable, "-m", "hardware.lab.supervise", "--status", str(status),
        "--log", str(run_dir / "logs" / "master-daemon.log"), "--",
        *daemon_command(config, state_dir, only),
    ], run_dir / "logs" / "master-supervise.log", env=master_env(config, state_dir))


def daemon_status(run_dir: Path) -> dict[str, object]:
    """What the supervisor last wrote (running, pid, restarts, last_exit), or not started."""
    path = run_dir / "master" / "daemon.json"
    try:
        status: dict[str, object] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"running": False, "pid": None, "started": False}
    pid = status.get("supervisor")
    if not isinstance(pid, int) or not Path(f"/proc/{pid}").exists():
        status["running"] = False
    status["started"] = True
    status["log"] = str(run_dir / "logs" / "master-daemon.log")
    return status
