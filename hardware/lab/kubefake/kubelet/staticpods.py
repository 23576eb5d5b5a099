"""Static pods: the kubelet runs what /etc/kubernetes/manifests asks for.

Only kube-apiserver has a process in the simulation: it is started from the
manifest's own command line (the fake API server takes the real flags), plus
the controller-manager flags it needs, because the simulated API server
runs the condensed controllers itself. etcd, kube-controller-manager and
kube-scheduler are "running" once their manifest is read: the API server
keeps the state etcd would keep and does the controllers' work.

Processes start in their own session and their pids are kept under
/run/kubefake/static-pods, so they outlive a kubelet restart (as containers
outlive it under containerd) and `kubeadm reset` can remove them, as it
removes containers through the CRI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PID_DIR = Path("/run/kubefake/static-pods")
"""Where the pids of running static pod processes are kept."""
LOG_DIR = Path("/var/log/pods")
"""Where static pod processes log (as container logs live there)."""
PASSED_CONTROLLER_FLAGS = ("cluster-signing-cert-file", "cluster-signing-key-file", "allocate-node-cidrs",
                           "cluster-cidr", "node-cidr-mask-size")
"""Controller-manager flags handed to the simulated API server (it runs the controllers)."""


def package_root() -> tuple[str, str]:
    """(the fake's package name, the directory to put on PYTHONPATH) for `python3 -m`."""
    package = __name__.rsplit(".", 2)[0]
    depth = package.count(".") + 1
    return package, str(Path(__file__).resolve().parents[depth + 1])


def load_manifest(path: Path) -> dict[str, Any] | None:
    """A manifest's pod, or None if it does not parse."""
    try:
        pod = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return pod if isinstance(pod, dict) else None


def command_of(pod: dict[str, Any]) -> list[str]:
    """The first container's command."""
    containers = (pod.get("spec") or {}).get("containers") or []
    return [str(a) for a in (containers[0].get("command") or [])] if containers else []


def image_version(pod: dict[str, Any]) -> str:
    """The tag of the first container's image (v1.34.2)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    image = str(containers[0].get("image", "")) if containers else ""
    return image.rsplit(":", 1)[1] if ":" in image else ""


def flag_values(command: list[str]) -> dict[str, str]:
    """`--name=value` flags of a command line."""
    return {a[2:].split("=", 1)[0]: a.split("=", 1)[1] for a in command if a.startswith("--") and "=" in a}


def apiserver_command(pod: dict[str, Any], controller_manager: dict[str, Any] | None,
                      etcd: dict[str, Any] | None) -> list[str]:
    """How the simulated kube-apiserver is started for this manifest."""
    package, _ = package_root()
    args = command_of(pod)[1:]
    if controller_manager is not None:
        flags = flag_values(command_of(controller_manager))
        args += [f"--{k}={flags[k]}" for k in PASSED_CONTROLLER_FLAGS if k in flags]
    if etcd is not None:
        data_dir = flag_values(command_of(etcd)).get("data-dir")
        if data_dir:
            args.append(f"--kubefake-etcd-data-dir={data_dir}")
    version = image_version(pod)
    if version:
        args.append(f"--kubefake-version={version}")
    return [sys.executable, "-m", f"{package}.apiserver.server", *args]


def alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@dataclass
class StaticPods:
    """The static pods of one kubelet."""

    manifest_dir: Path
    """staticPodPath."""
    pid_dir: Path = PID_DIR
    """Pid files of started processes."""
    log_dir: Path = LOG_DIR
    """Logs."""
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Manifests read last time, by pod name."""
    restarts: dict[str, float] = field(default_factory=dict)
    """When each process may be started again (crash back-off)."""

    def pid(self, name: str) -> int | None:
        """Pid of a running static pod process."""
        try:
            pid = int((self.pid_dir / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def sync(self) -> dict[str, dict[str, Any]]:
        """Start what the manifests want, stop what they no longer want; the running pods by name."""
        pods: dict[str, dict[str, Any]] = {}
        if self.manifest_dir.is_dir():
            for path in sorted(self.manifest_dir.glob("*.yaml")):
                pod = load_manifest(path)
                if pod is not None:
                    pods[str((pod.get("metadata") or {}).get("name") or path.stem)] = pod
        if "kube-apiserver" in pods:
            command = apiserver_command(pods["kube-apiserver"], pods.get("kube-controller-manager"), pods.get("etcd"))
            if self.seen.get("kube-apiserver") != pods["kube-apiserver"] and self.pid("kube-apiserver") \
                    and "kube-apiserver" in self.seen:
                self.stop("kube-apiserver")
            if self.pid("kube-apiserver") is None and time.monotonic() >= self.restarts.get("kube-apiserver", 0):
                self.start("kube-apiserver", command)
        elif self.pid("kube-apiserver") is not None:
            self.stop("kube-apiserver")
        self.seen = pods
        return pods

    def start(self, name: str, command: list[str]) -> None:
        """Start one process in its own session, its output to its log."""
        _, pythonpath = package_root()
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": pythonpath}
        with open(self.log_dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                       start_new_session=True)
        (self.pid_dir / f"{name}.pid").write_text(f"{process.pid}\n")
        self.restarts[name] = time.monotonic() + 5.0

    def stop(self, name: str) -> None:
        """Stop one process (TERM, then KILL)."""
        pid = self.pid(name)
        if pid is not None:
            stop_pid(pid)
        (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)


def stop_pid(pid: int, grace: float = 5.0) -> None:
    """TERM a process, KILL it if it lingers."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop_all(pid_dir: Path = PID_DIR) -> list[str]:
    """Stop every static pod process (kubeadm reset's container removal); their names."""
    stopped = []
    for pidfile in sorted(pid_dir.glob("*.pid")) if pid_dir.is_dir() else []:
        try:
            pid = int(pidfile.read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and alive(pid):
            stop_pid(pid)
            stopped.append(pidfile.stem)
        pidfile.unlink(missing_ok=True)
    return stopped
