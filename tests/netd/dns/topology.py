"""Network namespaces for the DNS integration tests and the DNS benchmark (prefix `dnst-`).

master: LAN veth 10.0.0.1/24 towards `client` (10.0.0.3, i.e. node-3), uplink
veth 192.0.2.1/24 towards `internet` (192.0.2.53 runs the upstream dnsmasq;
192.0.2.100 is a machine on the home network). Everything is removed on exit,
also when a test fails.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PYTHON = sys.executable


def sh(*args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=timeout)


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
        return [int(line.split()[1]) for line in self.answers]


def parse_dig(text: str) -> DigResult:
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


@dataclass
class Topology:
    """The namespaces and the processes running in them."""

    prefix: str
    """dnst-<random>: every name we create starts with it."""
    workdir: Path
    """Files of this run (resolv.conf, stats)."""
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    """Named background processes."""

    @property
    def master(self) -> str:
        return f"{self.prefix}m"

    @property
    def client(self) -> str:
        return f"{self.prefix}c"

    @property
    def internet(self) -> str:
        return f"{self.prefix}i"

    def create(self) -> None:
        p = self.prefix
        for ns in (self.master, self.client, self.internet):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh(
            "ip",
            "link",
            "add",
            f"{p}ml",
            "netns",
            self.master,
            "type",
            "veth",
            "peer",
            f"{p}cl",
            "netns",
            self.client,
        )
        sh(
            "ip",
            "link",
            "add",
            f"{p}mu",
            "netns",
            self.master,
            "type",
            "veth",
            "peer",
            f"{p}iu",
            "netns",
            self.internet,
        )
        for ns, dev, addresses in (
            (self.master, f"{p}ml", ["10.0.0.1/24"]),
            (self.client, f"{p}cl", ["10.0.0.3/24"]),
            (self.master, f"{p}mu", ["192.0.2.1/24"]),
            (self.internet, f"{p}iu", ["192.0.2.53/24", "192.0.2.100/24"]),
        ):
            for address in addresses:
                sh("ip", "-n", ns, "addr", "add", address, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        # The home network can reach the LAN through the master's uplink (worst case for an open resolver).
        sh("ip", "-n", self.internet, "route", "add", "10.0.0.0/24", "via", "192.0.2.1")
        sh("ip", "-n", self.client, "route", "add", "default", "via", "10.0.0.1")

    def destroy(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        for ns in (self.master, self.client, self.internet):
            sh("ip", "netns", "del", ns, check=False)

    def start(
        self, name: str, ns: str, *command: str, ready: str | None = None
    ) -> subprocess.Popen[str]:
        """Run `command` in `ns`; wait for a line containing `ready` on stdout if given."""
        with open(self.workdir / f"{name}.err", "w") as err:  # the child keeps its own copy
            process = subprocess.Popen(
                ["ip", "netns", "exec", ns, *command],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.processes[name] = process
        if ready is not None:
            assert process.stdout is not None
            line = process.stdout.readline()
            if ready not in line:
                self.stop(name)
                raise RuntimeError(
                    f"{name} did not start: {(self.workdir / f'{name}.err').read_text()}"
                )
        return process

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def dnsmasq(self, name: str, ns: str, address: str, *options: str) -> None:
        """A dnsmasq in `ns` answering on `address`; foreground, no config file, no logging."""
        self.start(
            name,
            ns,
            "dnsmasq",
            "-k",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--user=root",
            f"--listen-address={address}",
            "--bind-interfaces",
            "--no-hosts",
            "--log-facility=/dev/null",
            *options,
        )
        wait_for_port(ns, address)

    def dig(self, ns: str, *args: str, timeout: float = 15) -> DigResult:
        result = sh(
            "ip",
            "netns",
            "exec",
            ns,
            "dig",
            "+time=3",
            "+tries=1",
            *args,
            check=False,
            timeout=timeout,
        )
        return parse_dig(result.stdout + result.stderr)


def wait_for_port(ns: str, address: str, port: int = 53, attempts: int = 50) -> None:
    """Wait until something answers DNS at address:port in `ns`."""
    for _ in range(attempts):
        out = sh(
            "ip",
            "netns",
            "exec",
            ns,
            "dig",
            "+time=1",
            "+tries=1",
            "-p",
            str(port),
            f"@{address}",
            "probe.invalid",
            check=False,
        ).stdout
        if "status:" in out:
            return
    raise RuntimeError(f"nothing answers DNS at {address}:{port} in {ns}")


def new_topology(workdir: Path) -> Topology:
    topology = Topology(prefix=f"dnst-{secrets.token_hex(2)}", workdir=workdir)
    try:
        topology.create()
    except BaseException:
        topology.destroy()
        raise
    return topology
