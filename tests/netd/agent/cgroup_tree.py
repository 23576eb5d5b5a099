"""Real cgroups made for a test (or the benchmark) on this machine's hierarchies, removed after.

A `CgroupTree` lives under a fresh directory (`nt-<random>`): on cgroup v1
inside this process's own cgroup of every hierarchy the figures come from
(so what runs there stays inside our limits), the same relative tree in
each; on v2 under the root, enabling the controllers the root offers down
the tree. `layout` points netd.agent's
pod_cgroups at the tree, as if it were a node's root. Processes started with
`spawn` are killed, and every directory removed, leaves first, on exit, also
when a test fails.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from netd.agent.pod_cgroups import V1_CONTROLLERS, CgroupLayout, layout_from_mounts

BURN = """
import select, sys, time
sys.stdin.readline()
data = bytearray(int(sys.argv[1]) << 20)
for i in range(0, len(data), 4096):
    data[i] = 1
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end and not select.select([sys.stdin], [], [], 0)[0]:
    for _ in range(10000):
        pass
sys.stdin.readline()
sys.stdin.readline()
"""
"""Waits for a line, allocates and touches argv[1] MiB, burns CPU for argv[2] s or until the
next line, then idles (memory kept) until killed."""


def host_layouts() -> dict[int, CgroupLayout]:
    """Every hierarchy version this machine has mounted: {1: ..., 2: ...}."""
    text = Path("/proc/mounts").read_text()
    found: dict[int, CgroupLayout] = {}
    preferred = layout_from_mounts(text)
    if preferred is not None:
        found[preferred.version] = preferred
    v2 = layout_from_mounts("\n".join(line for line in text.splitlines() if " cgroup2 " in line))
    if v2 is not None:
        found[2] = v2
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup in each hierarchy: controller (or "unified") -> path."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if number == "0":
            own["unified"] = path
        for controller in controllers.split(","):
            own[controller] = path
    return own


class CgroupTree:
    """A test tree of cgroups in one hierarchy version."""

    def __init__(self, host: CgroupLayout) -> None:
        # v1: inside our own cgroup of each hierarchy (our limits still hold); v2: under the
        # root, the one cgroup that may hold processes and still hand controllers down.
        own = _own_paths() if host.version == 1 else {}
        base = f"nt-{secrets.token_hex(3)}"
        names = ["unified"] if host.version == 2 else [c for c in V1_CONTROLLERS if c in host.roots]
        self.roots = {name: host.roots[name] / own.get(name, "/").lstrip("/") / base for name in names}
        self.layout = CgroupLayout(host.version, dict(self.roots))
        self.made: list[str] = []
        self.processes: list[subprocess.Popen[str]] = []

    def __enter__(self) -> CgroupTree:
        for root in self.roots.values():
            root.mkdir()
            self._enable_controllers(root)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        for relative in sorted(self.made, key=lambda r: r.count("/"), reverse=True):
            self.remove(relative)
        for root in self.roots.values():
            _rmdir(root)

    def _enable_controllers(self, directory: Path) -> None:
        if self.layout.version != 2:
            return
        offered = (directory / "cgroup.controllers").read_text().split()
        wanted = [c for c in ("cpu", "memory", "io", "pids") if c in offered]
        if wanted:
            (directory / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))

    def make(self, relative: str) -> None:
        """mkdir -p `relative` in every hierarchy of the tree."""
        parts = relative.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            step = "/".join(parts[:depth])
            if step in self.made:
                continue
            for root in self.roots.values():
                (root / step).mkdir()
            self.made.append(step)
            if depth < len(parts):
                for root in self.roots.values():
                    self._enable_controllers(root / step)

    def remove(self, relative: str) -> None:
        """rmdir `relative` in every hierarchy (it must hold no process and no child)."""
        for root in self.roots.values():
            _rmdir(root / relative)
        if relative in self.made:
            self.made.remove(relative)

    def write(self, relative: str, controller: str, name: str, value: str) -> None:
        """Write a control file (e.g. memory.limit_in_bytes) of one hierarchy."""
        root = self.roots["unified" if self.layout.version == 2 else controller]
        (root / relative / name).write_text(value)

    def spawn(self, relative: str, megabytes: int = 0, burn: float = 0.0) -> subprocess.Popen[str]:
        """A process in `relative` (every hierarchy) that, once `go` is called, allocates and
        touches `megabytes` MiB and burns CPU for `burn` seconds or until `idle`, then waits
        until it is killed."""
        process = subprocess.Popen(
            [sys.executable, "-c", BURN, str(megabytes), str(burn)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.processes.append(process)
        for root in self.roots.values():
            (root / relative / "cgroup.procs").write_text(str(process.pid))
        return process

    def stop(self, process: subprocess.Popen[str]) -> None:
        """Kill `process` and reap it (its cgroup can then be removed)."""
        process.send_signal(signal.SIGKILL)
        process.wait()


def idle(process: subprocess.Popen[str]) -> None:
    """Make a burning process stop burning (it keeps its memory)."""
    assert process.stdin is not None
    process.stdin.write("idle\n")
    process.stdin.flush()


def go(process: subprocess.Popen[str]) -> None:
    """Let a spawned process start its work and wait until its memory is touched."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() == "ready"


def _rmdir(path: Path) -> None:
    for _ in range(50):  # the kernel frees a cgroup of a just-reaped process shortly after
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    os.rmdir(path)  # raise the real error
