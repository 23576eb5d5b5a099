"""Test boards for the Kubernetes fake: kit namespaces with a private mount namespace each.

Fast and small (no root filesystem, no systemd), a board here is a stand-in faithful
to what kubeadm and the kubelet touch: its own network namespace on a
bridge (its own ports, its own /proc/sys/net), its own UTS namespace (the
hostname) and a private mount namespace with tmpfs over /etc/kubernetes,
/var/lib/kubelet, /var/lib/etcd, /etc/cni/net.d, /run and /var/log/pods,
so the real paths are used and the host's are never touched. The kubelet
runs the way the kubelet unit runs it (kubeadm-flags.env sourced, restarted
when it exits). A unix socket at /run/containerd/containerd.sock stands in
for containerd, which the fake never calls (only preflight connects to it).
The provisioning tests exercise the same fake on the lab's real systemd boards.
Namespaces, the bridge and cleanup come from the tests' namespace kit.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.netns import NetnsKit
from tests.support.paths import REPO
from tests.support.wait import wait_for

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
    netns: str
    """Its network namespace (made by the kit)."""
    holder: subprocess.Popen[str] | None = None
    """The process that keeps the mount/UTS namespaces alive."""
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    """Background processes started in it."""

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

class Network:
    """A bridge in its own kit namespace and the boards plugged into it; the kit removes it all."""

    def __init__(self, workdir: Path) -> None:
        self.net = NetnsKit(workdir)
        self.switch = ""
        self.boards: list[Board] = []

    def __enter__(self) -> Network:
        self.switch = self.net.ns("kube-switch")
        self.net.bridge(self.switch, "br0")
        return self

    def add(self, name: str, address: str, *, ip_forward: bool = True, cgroup_memory: bool = True,
            cri: bool = True) -> Board:
        """A board on the bridge, with its private directories mounted."""
        netns = self.net.ns(f"kube-{name}")
        self.net.plug(self.switch, "br0", f"p{len(self.boards)}", netns, "eth0")
        board = Board(name, address, netns)
        self.net.ip(netns, "addr", "add", f"{address}/24", "dev", "eth0")
        self.net.ip(netns, "route", "add", "default", "dev", "eth0")
        self.net.run(netns, "sysctl", "-qw", f"net.ipv4.ip_forward={int(ip_forward)}")
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
        process = self.net.spawn(netns, ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", holder])
        board.holder = process.popen  # `board.run` enters the holder's namespaces
        self.boards.append(board)  # before anything else can fail: the kit's close() ends it all
        self.net.wait_ready(process, lambda: board.run("cat /run/ready").stdout.strip() == "ready", 20,
                            f"board {name}")
        if cri:
            board.background(f"{shlex.quote(sys.executable)} -c {shlex.quote(CRI_STANDIN)}")
            wait_for(lambda: board.run("test -S /run/containerd/containerd.sock").returncode == 0, 10,
                     what="CRI socket")
        return board

    def __exit__(self, *exc: object) -> None:
        # The kit kills every process in its namespaces (the boards' holders and all they started).
        self.net.close()
        for board in self.boards:
            for child in board.children:
                child.wait(timeout=10)
