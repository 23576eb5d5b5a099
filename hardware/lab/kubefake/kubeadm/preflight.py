"""kubeadm's preflight checks: facts read from the real files, judged apart, printed as kubeadm does.

`gather()` reads what a real kubeadm reads (/proc/sys/net/ipv4/ip_forward,
/sys/fs/cgroup/cgroup.controllers or /proc/cgroups, /proc/swaps, ports,
files, the CRI socket). `judge()` is pure: facts in, (name, message,
fatal) results out, in kubeadm's order. The lab emulates a Pi's kernel by
bind-mounting emulated files over those paths inside a board.
"""

from __future__ import annotations

import errno
import os
import platform
import socket
from dataclasses import dataclass, field
from pathlib import Path

from .errors import EXIT_PREFLIGHT, KubeadmError

SWAP_WARNING = ("swap is supported for cgroup v2 only. The kubelet must be properly configured to use swap. "
                "Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, "
                "or disable swap on the node")
CGROUPS_V1 = ("cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids")
"""Required cgroup v1 controllers (the system validator's list)."""
CGROUPS_V2 = ("cpu", "cpuset", "memory", "pids")
"""Required cgroup v2 controllers."""
OPTIONAL_CGROUPS = ("hugetlb", "blkio", "io")
"""Reported but not required."""


@dataclass
class Facts:
    """What the checks look at."""

    ip_forward: str | None
    """Contents of /proc/sys/net/ipv4/ip_forward (None if unreadable)."""
    cgroup_v2: bool
    """True when /sys/fs/cgroup/cgroup.controllers exists."""
    cgroups: set[str]
    """Enabled controllers."""
    swap_on: bool
    """/proc/swaps lists a device."""
    ports_in_use: set[int]
    """Ports of the checked list that could not be bound."""
    existing_files: set[str]
    """Checked files that exist."""
    nonempty_dirs: set[str]
    """Checked directories that exist and are not empty."""
    cri_error: str | None
    """Why the CRI socket could not be reached (None: reachable)."""
    cpus: int
    """Number of CPUs."""
    memory_mb: int
    """RAM in MB."""
    root: bool
    """Running as root."""
    kernel: str = field(default_factory=platform.release)
    """Kernel release (printed by the system validator)."""


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def read_cgroups() -> tuple[bool, set[str]]:
    """(v2?, enabled controllers) from cgroup.controllers (v2) or /proc/cgroups (v1)."""
    controllers = _read("/sys/fs/cgroup/cgroup.controllers")
    if controllers is not None:
        return True, set(controllers.split())
    enabled = set()
    for line in (_read("/proc/cgroups") or "").splitlines():
        parts = line.split()
        if len(parts) == 4 and not line.startswith("#") and parts[3] == "1":
            enabled.add(parts[0])
    return False, enabled


def port_in_use(port: int) -> bool:
    """True if binding the port on all addresses fails with EADDRINUSE (kubeadm's net.Listen test)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def cri_error(endpoint: str) -> str | None:
    """None if the CRI socket accepts a connection, else the real error text."""
    path = endpoint.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(path)
            return None
        except OSError as error:
            reason = "no such file or directory" if error.errno == errno.ENOENT else \
                "connection refused" if error.errno == errno.ECONNREFUSED else os.strerror(error.errno or 0).lower()
    return ("could not connect to the container runtime: failed to create new CRI runtime service: validate "
            f'service connection: validate CRI v1 runtime API for endpoint "{endpoint}": rpc error: code = '
            'Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix '
            f'{path}: connect: {reason}"')


def memory_mb() -> int:
    """MemTotal in MB, as kubeadm's Mem check computes it."""
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024 // 1000 // 1000
    return 0


def gather(ports: list[int], files: list[str], dirs: list[str], cri_socket: str) -> Facts:
    """Read every fact the checks need from this machine."""
    v2, cgroups = read_cgroups()
    swaps = (_read("/proc/swaps") or "").splitlines()[1:]
    return Facts(
        ip_forward=_read("/proc/sys/net/ipv4/ip_forward"), cgroup_v2=v2, cgroups=cgroups,
        swap_on=any(line.strip() for line in swaps),
        ports_in_use={p for p in ports if port_in_use(p)},
        existing_files={f for f in files if os.path.exists(f)},
        nonempty_dirs={d for d in dirs if os.path.isdir(d) and any(os.scandir(d))},
        cri_error=cri_error(cri_socket), cpus=os.cpu_count() or 1, memory_mb=memory_mb(),
        root=os.geteuid() == 0,
    )


def check_name(prefix: str, path: str) -> str:
    """kubeadm's check names: FileContent--proc-sys-net-ipv4-ip_forward and the like."""
    return prefix + "-" + path.replace("/", "-")


def validator_report(facts: Facts) -> list[str]:
    """The system validator's lines (printed when SystemVerification fails)."""
    lines = [f"KERNEL_VERSION: {facts.kernel}", "OS: Linux"]
    names = CGROUPS_V2 if facts.cgroup_v2 else CGROUPS_V1
    for name in (*names, *OPTIONAL_CGROUPS):
        if facts.cgroup_v2 and name == "blkio" or not facts.cgroup_v2 and name == "io":
            continue
        lines.append(f"CGROUPS_{name.upper()}: {'enabled' if name in facts.cgroups else 'missing'}")
    return lines


def judge(facts: Facts, *, init: bool, ports: list[int], files: list[str], dirs: list[str],
          ipv4: bool = True) -> list[tuple[str, str, bool]]:
    """The checks' results in kubeadm's order: (name, message, fatal)."""
    results: list[tuple[str, str, bool]] = []
    if init and facts.cpus < 2:
        results.append(("NumCPU", f"the number of available CPUs {facts.cpus} is less than the required 2", True))
    if init and facts.memory_mb < 1700:
        results.append(("Mem", f"the system RAM ({facts.memory_mb} MB) is less than the minimum 1700 MB", True))
    for port in ports:
        if port in facts.ports_in_use:
            results.append((f"Port-{port}", f"Port {port} is in use", True))
    for path in files:
        if path in facts.existing_files:
            results.append((check_name("FileAvailable", path), f"{path} already exists", True))
    for path in dirs:
        if path in facts.nonempty_dirs:
            results.append((check_name("DirAvailable", path), f"{path} is not empty", True))
    if facts.cri_error:
        results.append(("CRI", facts.cri_error, True))
    if facts.swap_on:
        results.append(("Swap", SWAP_WARNING, False))
    if ipv4 and (facts.ip_forward or "").strip() != "1":
        path = "/proc/sys/net/ipv4/ip_forward"
        results.append((check_name("FileContent", path), f"{path} contents are not set to 1", True))
    required = CGROUPS_V2 if facts.cgroup_v2 else CGROUPS_V1
    missing = [c for c in required if c not in facts.cgroups]
    if missing:
        results.append(("SystemVerification", f"missing required cgroups: {' '.join(missing)}", True))
    if not facts.root:
        results.append(("IsPrivilegedUser", "user is not running as root", True))
    return results


def report(results: list[tuple[str, str, bool]], ignored: list[str],
           facts: Facts) -> tuple[str, str, KubeadmError | None]:
    """(stdout, stderr, error): the checks' text, and kubeadm's exit-2 error if a fatal one is not ignored."""
    ignore = {i.lower() for i in ignored}
    out, err = [], []
    fatal = []
    if any(name == "SystemVerification" for name, _, _ in results):
        out.append("[preflight] The system verification failed. Printing the output from the verification:")
        out.extend(validator_report(facts))
    for name, message, is_fatal in results:
        if is_fatal and "all" not in ignore and name.lower() not in ignore:
            fatal.append(f"\t[ERROR {name}]: {message}")
        else:
            err.append(f"\t[WARNING {name}]: {message}")
    error = None
    if fatal:
        error = KubeadmError("[preflight] Some fatal errors occurred:\n" + "\n".join(fatal) +
                           "\n[preflight] If you know what you are doing, you can make a check non-fatal with "
                           "`--ignore-preflight-errors=...`", EXIT_PREFLIGHT, phase="preflight")
    return "".join(line + "\n" for line in out), "".join(line + "\n" for line in err), error
