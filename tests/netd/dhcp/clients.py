"""Real DHCP clients (udhcpc, dhclient, dhcpcd) run inside lab namespaces with every file
(scripts, leases, pid files, config) in the test's temp directory."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from netd.dhcp.journal import JOURNAL_PREFIX, SNAPSHOT, decode
from netd.dhcp.model import LeaseRecord
from tests.netd.dhcp.lan import Lab

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


def wait_for(path: Path, pattern: str, timeout: float = 20, after: int = 0) -> re.Match[str]:
    """Wait until `path` (from byte `after`) contains a line matching `pattern`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_bytes()[after:].decode(errors="replace")
            found = re.search(pattern, text, re.MULTILINE)
            if found:
                return found
        time.sleep(0.05)
    content = path.read_text(errors="replace") if path.exists() else "<no file>"
    raise AssertionError(f"{pattern!r} not seen in {path} within {timeout}s:\n{content}")


def size(path: Path) -> int:
    """Current length of a log file (0 if absent), to wait for lines after it."""
    return path.stat().st_size if path.exists() else 0


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

    def __init__(self, lab: Lab, ns: str, workdir: Path, *flags: str) -> None:
        self.log = workdir / f"{ns}-udhcpc.events"
        self.out = workdir / f"{ns}-udhcpc.out"
        script = write_script(workdir)
        self.process = lab.spawn(ns, ["udhcpc", "-f", "-i", "eth0", "-s", str(script), "-t", "6",
                                      "-T", "1", "-A", "1", *flags], self.out,
                                 env={"DHCPT_LOG": str(self.log), "DHCPT_CONFIGURE": "1"})

    def signal(self, sig: int) -> None:
        os.kill(self.process.pid, sig)

    def bound(self, timeout: float = 20, after: int = 0) -> str:
        return wait_for(self.log, r"^bound ip=(\S+)", timeout, after).group(1)

    def renew(self) -> str:
        mark = size(self.log)
        self.signal(signal.SIGUSR1)
        return wait_for(self.log, r"^(?:renew|bound) ip=(\S+)", 20, mark).group(1)

    def release(self) -> None:
        mark = size(self.log)
        self.signal(signal.SIGUSR2)
        wait_for(self.log, r"^deconfig", 20, mark)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def run_udhcpc_once(lab: Lab, ns: str, workdir: Path, *flags: str,
                    timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """udhcpc -q -n: obtain a lease (or give up) and exit."""
    script = write_script(workdir)
    return subprocess.run(["ip", "netns", "exec", ns, "udhcpc", "-q", "-n", "-f", "-i", "eth0",
                           "-s", str(script), "-t", "4", "-T", "1", *flags],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "DHCPT_LOG": str(workdir / f"{ns}-once.events")})
