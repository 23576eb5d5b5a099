"""Real DHCP clients (udhcpc, dhclient, dhcpcd) run inside LAN namespaces with every file
(scripts, leases, pid files, config) in the test's temp directory; the sniffer; the journal."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from netd.dhcp.journal import JOURNAL_PREFIX, SNAPSHOT, decode
from netd.dhcp.model import LeaseRecord
from tests.netd.dhcp.lan import Lan
from tests.support.paths import PYTHON
from tests.support.wait import log_size, wait_for_line

# The hook script of every client: log the event and configure eth0 of this namespace only.
CLIENT_SCRIPT = """#!/bin/sh
# udhcpc: $1 + $ip/$mask; dhclient: $reason + $new_ip_address; dhcpcd: $reason + $new_ip_address
event="${1:-$reason}"
addr="${ip:-$new_ip_address}"
echo "$event ip=$addr hostname=${hostname:-$new_host_name} lease=${lease:-$new_dhcp_lease_time} serverid=${serverid:-$new_dhcp_server_identifier}" >> "$DHCPT_LOG"
case "$event" in
  deconfig|RELEASE|EXPIRE|FAIL|STOP) ip addr flush dev eth0 2>/dev/null ;;
  bound|renew|BOUND|RENEW|REBIND|REBOOT)
    if [ -n "$DHCPT_CONFIGURE" ] && [ -n "$addr" ]; then
      ip addr flush dev eth0; ip addr add "$addr/24" dev eth0
    fi ;;
esac
exit 0
"""


def write_script(workdir: Path, log: Path | None = None, configure: bool = False) -> Path:
    """A hook script (executable); `log`/`configure` are baked in for clients that clear the
    environment of their scripts (dhclient)."""
    if log is None:
        path = workdir / "hook.sh"
        path.write_text(CLIENT_SCRIPT)
    else:
        path = log.with_suffix(".hook.sh")
        baked = f'DHCPT_LOG="{log}"\n' + ('DHCPT_CONFIGURE=1\n' if configure else "")
        path.write_text(CLIENT_SCRIPT.replace("event=", baked + "event=", 1))
    path.chmod(0o755)
    return path


def journal_records(state_dir: Path) -> list[LeaseRecord]:
    """Every record on disk (snapshot, then journals), read without touching the files."""
    directory = state_dir / "dhcp"
    records: list[LeaseRecord] = []
    snapshot = directory / SNAPSHOT
    if snapshot.exists():
        records += [r for r in map(decode, snapshot.read_bytes().splitlines(keepends=True)[1:]) if r]
    journals = sorted(directory.glob(JOURNAL_PREFIX + "*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    for path in journals:
        records += [r for r in map(decode, path.read_bytes().splitlines(keepends=True)) if r]
    return records


class Udhcpc:
    """busybox udhcpc in the foreground, in one namespace."""

    def __init__(self, lan: Lan, ns: str, workdir: Path, *flags: str) -> None:
        self.log = workdir / f"{ns}-udhcpc.events"
        self.out = workdir / f"{ns}-udhcpc.out"
        script = write_script(workdir)
        self.process = lan.spawn(ns, ["udhcpc", "-f", "-i", "eth0", "-s", str(script), "-t", "6",
                                      "-T", "1", "-A", "1", *flags], self.out,
                                 env={"DHCPT_LOG": str(self.log), "DHCPT_CONFIGURE": "1"})

    def signal(self, sig: int) -> None:
        """Signal udhcpc itself (not its group: a hook script running then would die of it)."""
        self.process.popen.send_signal(sig)

    def bound(self, timeout: float = 20, after: int = 0) -> str:
        return wait_for_line(self.log, r"^bound ip=(\S+)", timeout, after).group(1)

    def renew(self) -> str:
        mark = log_size(self.log)
        self.signal(signal.SIGUSR1)
        return wait_for_line(self.log, r"^(?:renew|bound) ip=(\S+)", 20, mark).group(1)

    def release(self) -> None:
        mark = log_size(self.log)
        self.signal(signal.SIGUSR2)
        wait_for_line(self.log, r"^deconfig", 20, mark)

    def stop(self) -> None:
        self.process.stop(timeout=10)


def run_udhcpc_once(lan: Lan, ns: str, workdir: Path, *flags: str,
                    timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """udhcpc -q -n: obtain a lease (or give up) and exit."""
    script = write_script(workdir)
    return lan.ns_run(ns, "udhcpc", "-q", "-n", "-f", "-i", "eth0", "-s", str(script), "-t", "4", "-T", "1",
                      *flags, check=False, timeout=timeout,
                      env={"DHCPT_LOG": str(workdir / f"{ns}-once.events")})


class Sniffer:
    """tests.netd.dhcp.sniff on eth0 of a namespace: one line per DHCP frame to `port`."""

    def __init__(self, lan: Lan, ns: str, path: Path, port: int = 68) -> None:
        self.path = path
        self.process = lan.spawn(ns, [PYTHON, "-m", "tests.netd.dhcp.sniff", "eth0", str(path), str(port)],
                                 path.with_suffix(".err"))
        self.drains = 0
        wait_for_line(path, "^ready", 10)

    def drain(self) -> None:
        """Return once every frame the kernel received before this call is in the file."""
        self.drains += 1
        self.process.popen.send_signal(signal.SIGUSR1)
        wait_for_line(self.path, rf"^drained {self.drains}$", 10)

    def frames(self) -> list[list[str]]:
        """The fields of every frame line so far."""
        return [fields for fields in (line.split() for line in self.path.read_text().splitlines())
                if len(fields) == 7]
