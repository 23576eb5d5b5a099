"""Network namespaces for the DNS integration tests and the DNS benchmark, on the namespace kit.

    master: lan0 10.0.0.1/24 ── eth0 of `client` (10.0.0.3, i.e. node-3)
            up0 192.0.2.1/24 ── eth0 of `internet` (192.0.2.53 runs the upstream dnsmasq;
                                192.0.2.100 is a machine on the home network)

The kit removes everything, also when a test fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.support.netns import NetnsKit, Process
from tests.support.wait import log_match, wait_for


@dataclass
class DigResult:
    """What dig printed, picked apart."""

    status: str
    """NOERROR, NXDOMAIN, SERVFAIL, ... or NO-ANSWER when nothing came back."""
    flags: set[str]
    """Header flags (qr, aa, tc, ...)."""
    answers: list[str]
    """Answer lines: `name ttl class type data`."""
    text: str
    """The whole output."""

    def data(self) -> list[str]:
        """The data fields of the answers."""
        return [line.split(None, 4)[4] for line in self.answers]

    def ttls(self) -> list[int]:
        """The TTL of each answer."""
        return [int(line.split()[1]) for line in self.answers]


def parse_dig(text: str) -> DigResult:
    """dig's output as a DigResult."""
    status = re.search(r"status: ([A-Z]+)", text)
    flags = re.search(r";; flags: ([a-z ]*);", text)
    answers = []
    section = ""
    for line in text.splitlines():
        if line.startswith(";; ") and "SECTION" in line:
            section = line
        elif line and not line.startswith(";") and "ANSWER" in section:
            answers.append(line)
    return DigResult(
        status=status.group(1) if status else "NO-ANSWER",
        flags=set(flags.group(1).split()) if flags else set(),
        answers=answers,
        text=text,
    )


class Topology:
    """The master, client and internet namespaces and the named processes running in them."""

    def __init__(self, net: NetnsKit, workdir: Path) -> None:
        self.net = net
        self.workdir = workdir
        """Files of this run (resolv.conf, stats, logs)."""
        self.processes: dict[str, Process] = {}
        """Named background processes."""
        self.master = net.ns("dns-master")
        self.client = net.ns("dns-client")
        self.internet = net.ns("dns-internet")
        net.veth(self.master, "lan0", self.client, "eth0")
        net.veth(self.master, "up0", self.internet, "eth0")
        for ns, dev, addresses in (
            (self.master, "lan0", ["10.0.0.1/24"]),
            (self.client, "eth0", ["10.0.0.3/24"]),
            (self.master, "up0", ["192.0.2.1/24"]),
            (self.internet, "eth0", ["192.0.2.53/24", "192.0.2.100/24"]),
        ):
            for address in addresses:
                net.ip(ns, "addr", "add", address, "dev", dev)
        # The home network can reach the LAN through the master's uplink (worst case for an open resolver).
        net.ip(self.internet, "route", "add", "10.0.0.0/24", "via", "192.0.2.1")
        net.ip(self.client, "route", "add", "default", "via", "10.0.0.1")

    def start(self, name: str, ns: str, *command: str, ready: str | None = None) -> Process:
        """Run `command` in `ns` as `name`; with `ready`, return once it printed that line."""
        log = self.workdir / f"{name}.log"
        log.unlink(missing_ok=True)
        ready_line = rf"^{re.escape(ready)}$" if ready is not None else None
        process = self.net.spawn(
            ns, command, log=log, env={"PYTHONUNBUFFERED": "1"}, what=f"{name} ready",
            ready=(lambda: log_match(log, ready_line)) if ready_line is not None else None,
        )  # fmt: skip
        self.processes[name] = process
        return process

    def stop(self, name: str) -> None:
        """Stop the process `name` (SIGTERM, then SIGKILL if it lingers)."""
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop()

    def dnsmasq(self, name: str, ns: str, address: str, *options: str) -> None:
        """A dnsmasq in `ns` answering on `address`; foreground, no config file, no logging."""
        self.start(name, ns, "dnsmasq", "-k", "--conf-file=/dev/null", "--pid-file=", "--user=root",
                   f"--listen-address={address}", "--bind-interfaces", "--no-hosts",
                   "--log-facility=/dev/null", *options)
        self.wait_for_port(ns, address)

    def dig(self, ns: str, *args: str, timeout: float = 15) -> DigResult:
        """dig run inside `ns` (3 s per try, one try), its answer picked apart."""
        result = self.net.run(ns, "dig", "+time=3", "+tries=1", *args, check=False, timeout=timeout)
        return parse_dig(result.stdout + result.stderr)

    def wait_for_port(self, ns: str, address: str, port: int = 53, timeout: float = 10) -> None:
        """Wait until something answers DNS at address:port, asked from `ns`."""
        def answers() -> bool:
            probe = self.net.run(ns, "dig", "+time=1", "+tries=1", "-p", str(port), f"@{address}", "probe.invalid",
                                 check=False)
            return "status:" in probe.stdout

        wait_for(answers, timeout, what=f"a DNS answer from {address}:{port} in {ns}")

