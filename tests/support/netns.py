"""The namespace kit every test and benchmark uses: network namespaces, veths, bridges,
processes started with a readiness check, and a cleanup that leaves nothing behind.

    net = NetnsKit(workdir)               # in a test: the `net` fixture (tests/conftest.py)
    server, client = net.ns("server"), net.ns("client")
    net.veth(server, "lan0", client, "eth0")
    net.ip(server, "addr", "add", "10.0.0.1/24", "dev", "lan0")
    web = net.spawn(server, [PYTHON, "-m", "tests.support.http_server", "10.0.0.1", "80", "www"],
                    ready=lambda: plumbing.tcp_listening(server, 80))
    net.run(client, "curl", "-s", "http://10.0.0.1/")
    net.close()                           # every process killed, every namespace deleted

Every namespace is named `kit-<pid>-<n>-<role>`, so parallel runs and other people's
tests never collide and a leftover names the run that made it. Links are made inside
the namespaces (`ip -n`): nothing is ever added to the host's own namespace.
Processes run in a session of their own (signals reach their children) with stdin
closed unless asked for, stderr (and stdout, unless piped) in a log under the kit's
work directory; a process that dies before it is ready fails with its log.
`close()` kills what the kit started, then whatever else runs in its namespaces (a
forked dhcpcd), deletes the namespaces and raises if any is left; it runs also after
a failed test, and again harmlessly.

Built on hardware.lab.plumbing, the lab's own kernel plumbing (setns sockets, /proc
readers, pids of a namespace).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from hardware.lab import plumbing
from tests.support.paths import REPO
from tests.support.wait import WaitTimeout, wait_for

PREFIX = "kit-"
"""Start of every namespace name the kit makes."""

_kits = itertools.count()


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 30.0, input: str | None = None,
        env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to its end, text captured; AssertionError with its stderr when `check` fails."""
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input,
                          env=dict(env) if env is not None else None, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}: "
                             f"{done.stderr.strip() or done.stdout.strip()}")
    return done


class Process:
    """A process the kit started in a namespace."""

    def __init__(self, popen: subprocess.Popen[str], log: Path, argv: Sequence[str]) -> None:
        self.popen = popen
        """The process (its pid is the program's: `ip netns exec` execs it)."""
        self.log = log
        """Its stderr, and its stdout unless that is piped."""
        self.argv = list(argv)
        """What was started."""

    @property
    def pid(self) -> int:
        """Its process id (also its process group's)."""
        return self.popen.pid

    def running(self) -> bool:
        """True until it exits."""
        return self.popen.poll() is None

    def output(self) -> str:
        """Everything it logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def send_signal(self, sig: int) -> None:
        """Send `sig` to its whole process group (not once it has been waited for: its id may
        belong to someone else by then)."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig` to its group and wait for it; SIGKILL if it outlives `timeout`. Its exit status."""
        if self.running():
            self.send_signal(sig)
            try:
                return self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
        return self.popen.wait(timeout=timeout)

    def send(self, message: object) -> None:
        """Write `message` as one JSON line to its stdin (spawned with stdin=True)."""
        assert self.popen.stdin is not None, "spawned without stdin"
        self.popen.stdin.write(json.dumps(message) + "\n")
        self.popen.stdin.flush()

    def receive(self) -> dict[str, object]:
        """The next JSON line of its stdout (spawned with stdout=True); AssertionError with its
        log if it ended instead."""
        assert self.popen.stdout is not None, "spawned without a stdout pipe"
        line = self.popen.stdout.readline()
        if not line:
            self.popen.wait(timeout=15)
            raise AssertionError(f"{self.argv[0]} ended ({self.popen.returncode}):\n{self.output()}")
        answer = json.loads(line)
        assert isinstance(answer, dict), line
        return answer

    def close_stdin(self) -> None:
        """Close its stdin (programs that serve until stdin closes then stop)."""
        if self.popen.stdin is not None:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()

    def _release(self) -> None:
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class NetnsKit:
    """The namespaces, links and processes of one test (or benchmark); close() removes them all."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        """Where the processes' logs go."""
        self.prefix = f"{PREFIX}{os.getpid()}-{next(_kits)}-"
        """Start of this kit's namespace names."""
        self.namespaces: list[str] = []
        """Namespaces made, in order."""
        self.processes: list[Process] = []
        """Processes started, in order."""
        self._logs = itertools.count(1)

    def __enter__(self) -> NetnsKit:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    # Namespaces and links ----------------------------------------------------------------

    def ns(self, role: str) -> str:
        """A new namespace `kit-<pid>-<n>-<role>` with loopback up; its name."""
        name = self.prefix + role
        if name in self.namespaces:
            raise ValueError(f"this kit already has a namespace {name}")
        self.namespaces.append(name)  # before it exists: close() removes a half-made one too
        plumbing.add_namespaces([name])
        return name

    def ip(self, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`ip -n NS ARGS...`."""
        return run(["ip", "-n", ns, *args], check=check)

    def run(self, ns: str, *argv: str, check: bool = True, timeout: float = 30.0, input: str | None = None,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside `ns` to its end (from the checkout, so `-m tests....` works)."""
        full_env = {**os.environ, **(env or {})}
        return run(["ip", "netns", "exec", ns, *argv], check=check, timeout=timeout, input=input, env=full_env)

    def veth(self, ns_a: str, if_a: str, ns_b: str, if_b: str, *, mac_b: str | None = None) -> None:
        """A veth pair: `if_a` in `ns_a`, `if_b` (MAC `mac_b` if given) in `ns_b`, both up."""
        self.ip(ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
        if mac_b is not None:
            self.ip(ns_b, "link", "set", if_b, "address", mac_b)
        self.ip(ns_a, "link", "set", if_a, "up")
        self.ip(ns_b, "link", "set", if_b, "up")

    def bridge(self, ns: str, name: str, *, address: str | None = None, mac: str | None = None) -> None:
        """A bridge `name` in `ns`, up, with `address` (a.b.c.d/len) and `mac` if given."""
        self.ip(ns, "link", "add", name, *(["address", mac] if mac else []), "type", "bridge")
        if address is not None:
            self.ip(ns, "addr", "add", address, "dev", name)
        self.ip(ns, "link", "set", name, "up")

    def plug(self, bridge_ns: str, bridge: str, port: str, ns: str, interface: str, *,
             mac: str | None = None) -> None:
        """Cable `interface` of `ns` to a new `port` of `bridge` (in `bridge_ns`)."""
        self.veth(bridge_ns, port, ns, interface, mac_b=mac)
        self.ip(bridge_ns, "link", "set", port, "master", bridge)

    def routes(self, ns: str, proto: str = "171") -> dict[str, str]:
        """{destination: gateway} of the IPv4 routes of protocol `proto` in the main table of `ns`."""
        out = self.ip(ns, "-j", "-4", "route", "show", "proto", proto).stdout
        return {route["dst"]: route.get("gateway", "") for route in json.loads(out or "[]")}

    def addresses(self, ns: str, interface: str) -> list[str]:
        """IPv4 addresses (`a.b.c.d/len`) of `interface` in `ns`."""
        return plumbing.ipv4_addresses(ns, interface)

    # Processes ----------------------------------------------------------------------------

    def spawn(self, ns: str, argv: Sequence[str], *, ready: Callable[[], object] | None = None,
              timeout: float = 20.0, what: str | None = None, env: Mapping[str, str] | None = None,
              stdin: bool = False, stdout: bool = False, log: Path | None = None) -> Process:
        """Start `argv` inside `ns` (from the checkout); with `ready`, return once `ready()` is
        truthy, failing with the log if the process exits first or `timeout` passes.

        stdin/stdout: pipes for programs that talk JSON lines (Process.send/receive);
        otherwise stdin is closed and stdout goes to the log with stderr.
        """
        if log is None:
            program = argv[argv.index("-m") + 1].rsplit(".", 1)[-1] if "-m" in argv else Path(argv[0]).name
            log = self.workdir / f"{ns.removeprefix(self.prefix)}-{program}-{next(self._logs)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as out:  # the child keeps its own descriptor
            popen = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv], cwd=REPO, env={**os.environ, **(env or {})},
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout else out, stderr=out, text=True, start_new_session=True,
            )  # fmt: skip
        process = Process(popen, log, argv)
        self.processes.append(process)
        if ready is not None:
            self.wait_ready(process, ready, timeout, what or f"{Path(argv[0]).name} ready in {ns}")
        return process

    def wait_ready(self, process: Process, ready: Callable[[], object], timeout: float, what: str) -> None:
        """Wait for `ready()`; AssertionError with the log if `process` exits first or time runs out."""
        def ready_or_gone() -> str | None:
            if not process.running():
                return "gone"
            return "ready" if ready() else None

        try:
            state = wait_for(ready_or_gone, timeout, what=what)
        except WaitTimeout as error:
            raise AssertionError(f"{error}; its log {process.log}:\n{process.output()}") from None
        if state == "gone":
            raise AssertionError(f"{what}: it exited {process.popen.returncode} first; its log "
                                 f"{process.log}:\n{process.output()}")

    # Cleanup ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Kill every process started here and everything else in our namespaces, delete the
        namespaces; AssertionError if any is left (runs also after a failed test, and twice)."""
        for process in self.processes:
            process.send_signal(signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=10)
            process._release()
        self.processes.clear()
        for name in reversed(self.namespaces):
            pids = plumbing.namespace_pids(name)  # e.g. dhcpcd's forks, a board's agent
            plumbing.kill_pids(pids)
            plumbing.wait_gone(pids, 10)
            run(["ip", "netns", "delete", name], check=False)
        left = [name for name in self.namespaces if (plumbing.NETNS_DIR / name).exists()]
        self.namespaces.clear()
        if left:
            raise AssertionError(f"namespaces left behind: {', '.join(left)}")
