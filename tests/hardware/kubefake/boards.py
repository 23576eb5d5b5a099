"""Test boards for the Kubernetes fake: network namespaces with a private mount namespace each.

Until the lab's systemd boards exist, a board here is a stand-in faithful
to what kubeadm and the kubelet touch: its own network namespace on a
bridge (its own ports, its own /proc/sys/net), its own UTS namespace (the
hostname) and a private mount namespace with tmpfs over /etc/kubernetes,
/var/lib/kubelet, /var/lib/etcd, /etc/cni/net.d, /run and /var/log/pods,
so the real paths are used and the host's are never touched. The kubelet
runs the way the kubelet unit runs it (kubeadm-flags.env sourced, restarted
when it exits). A unix socket at /run/containerd/containerd.sock stands in
for containerd, which the fake never calls (only preflight connects to it).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PREFIX = "kft-"
PRIVATE_DIRS = ("/etc/kubernetes", "/var/lib/kubelet", "/var/lib/etcd", "/etc/cni/net.d", "/run", "/var/log/pods")
KUBELET_LOOP = """
while :; do
  KUBELET_KUBEADM_ARGS=""
  [ -f /var/lib/kubelet/kubeadm-flags.env ] && . /var/lib/kubelet/kubeadm-flags.env
  {python} -m hardware.lab.kubefake.kubelet.main \
    --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf \
    --config=/var/lib/kubelet/config.yaml $KUBELET_KUBEADM_ARGS >>/run/kubelet.log 2>&1
  sleep 1
done
"""
CRI_STANDIN = ("import socket,os; s=socket.socket(socket.AF_UNIX); os.makedirs('/run/containerd',exist_ok=True);"
               "s.bind('/run/containerd/containerd.sock'); s.listen(64)\n"
               "while True: c,_=s.accept(); c.close()")


def sh(*command: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command on the host."""
    return subprocess.run(list(command), capture_output=True, text=True, check=check, **kwargs)  # type: ignore[call-overload]


@dataclass
class Board:
    """One simulated Pi for the fake's tests."""

    name: str
    """Hostname."""
    address: str
    """Its address on the test LAN (/24)."""
    holder: subprocess.Popen[bytes] | None = None
    """The process that keeps the mount/UTS namespaces alive."""
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    """Background processes started in it."""

    @property
    def netns(self) -> str:
        """Its network namespace."""
        return PREFIX + self.name

    def enter(self) -> list[str]:
        """Command prefix that runs inside the board."""
        assert self.holder is not None
        return ["nsenter", f"--target={self.holder.pid}", "--mount", "--uts", "--net", "--"]

    def run(self, command: str, check: bool = False, timeout: float = 120, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a shell command inside the board (cwd: the repository, so the fake's code is found)."""
        full_env = {"PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                    "PYTHONPATH": str(REPO), "LANG": "C.UTF-8", **(env or {})}
        return subprocess.run([*self.enter(), "sh", "-c", command], capture_output=True, text=True, check=check,
                              timeout=timeout, env=full_env, cwd=REPO, input=stdin)

    def background(self, command: str) -> subprocess.Popen[bytes]:
        """Start a shell command inside the board, in its own process group."""
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
               "PYTHONPATH": str(REPO), "LANG": "C.UTF-8"}
        process = subprocess.Popen([*self.enter(), "sh", "-c", command], cwd=REPO, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        self.children.append(process)
        return process

    def start_kubelet(self) -> None:
        """The kubelet as its systemd unit would run it (restarted whenever it exits)."""
        self.background(KUBELET_LOOP.format(python=shlex.quote(sys.executable)))

    def kubeadm(self, arguments: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        """Run the fake kubeadm inside the board."""
        return self.run(f"{shlex.quote(sys.executable)} -m hardware.lab.kubefake.kubeadm.main {arguments}",
                        **kwargs)  # type: ignore[arg-type]

    def pids(self) -> list[int]:
        """Every process in the board's network namespace."""
        result = sh("ip", "netns", "pids", self.netns, check=False)
        return [int(p) for p in result.stdout.split()]


class Network:
    """A bridge in its own namespace and the boards plugged into it."""

    def __init__(self) -> None:
        self.switch = PREFIX + "sw"
        self.boards: list[Board] = []

    def __enter__(self) -> Network:
        self.cleanup_leftovers()
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        return self

    def add(self, name: str, address: str, *, ip_forward: bool = True, cgroup_memory: bool = True,
            cri: bool = True) -> Board:
        """A board on the bridge, with its private directories mounted."""
        board = Board(name, address)
        sh("ip", "netns", "add", board.netns)
        port = f"p{len(self.boards)}"
        sh("ip", "link", "add", port, "netns", self.switch, "type", "veth", "peer", "name", "eth0",
           "netns", board.netns)
        sh("ip", "-n", self.switch, "link", "set", port, "master", "br0", "up")
        sh("ip", "-n", board.netns, "addr", "add", f"{address}/24", "dev", "eth0")
        sh("ip", "-n", board.netns, "link", "set", "eth0", "up")
        sh("ip", "-n", board.netns, "link", "set", "lo", "up")
        sh("ip", "-n", board.netns, "route", "add", "default", "dev", "eth0")
        sh("ip", "netns", "exec", board.netns, "sysctl", "-qw", f"net.ipv4.ip_forward={int(ip_forward)}")
        mounts = " && ".join(f"mkdir -p {d} && mount -t tmpfs tmpfs {d}" for d in PRIVATE_DIRS)
        cgroups = ""
        if not cgroup_memory:
            # What the lab does for a Pi booted without cgroup_enable=memory: emulated files over the real ones.
            if Path("/sys/fs/cgroup/cgroup.controllers").exists():
                cgroups = (" && grep -v memory /sys/fs/cgroup/cgroup.controllers | sed 's/memory//' > /run/cg "
                           "&& mount --bind /run/cg /sys/fs/cgroup/cgroup.controllers")
            else:
                cgroups = (" && awk '$1==\"memory\"{$4=0} {print}' OFS='\\t' /proc/cgroups > /run/cg "
                           "&& mount --bind /run/cg /proc/cgroups")
        holder = (f"mount --make-rprivate / && {mounts}{cgroups} && hostname {name} && "
                  "echo ready > /run/ready && exec sleep infinity")
        board.holder = subprocess.Popen(["ip", "netns", "exec", board.netns, "unshare", "--mount", "--uts",
                                         "--propagation", "private", "sh", "-c", holder],
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while board.run("cat /run/ready").stdout.strip() != "ready":
            assert time.monotonic() < deadline, f"board {name} did not come up"
            time.sleep(0.05)
        if cri:
            board.background(f"{shlex.quote(sys.executable)} -c {shlex.quote(CRI_STANDIN)}")
            wait(lambda: board.run("test -S /run/containerd/containerd.sock").returncode == 0, 10, "CRI socket")
        self.boards.append(board)
        return board

    def __exit__(self, *exc: object) -> None:
        for board in self.boards:
            for pid in board.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for child in board.children + ([board.holder] if board.holder else []):
                child.wait(timeout=10)
        self.cleanup_leftovers()

    def cleanup_leftovers(self) -> None:
        """Remove every namespace with this test's prefix (and kill what runs in it)."""
        for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(PREFIX):
                for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                sh("ip", "netns", "delete", name, check=False)


def wait(condition: object, timeout: float, what: str) -> None:
    """Poll `condition()` until true, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} not true after {timeout} s"
        time.sleep(0.2)
