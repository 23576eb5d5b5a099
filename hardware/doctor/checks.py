"""The preflight checks: pure functions from a `Snapshot` to a `Check`.

Each check says ok, warn or fail, what it saw (detail) and the exact fix.
"fail" means Kubernetes will not work (kubelet or kubeadm refuse, or pods
cannot talk); "warn" means it works but something is off, or the check does
not apply to this machine (e.g. throttling on a machine that is not a Pi).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hardware.cmdline import CGROUP_ARGS, FIRMWARE_CMDLINE, has_memory_cgroup_args
from hardware.doctor import parsers
from hardware.doctor.snapshot import Snapshot
from hardware.models import MalformedRevision, cpuinfo_revision, decode_revision, device_tree_model
from hardware.support import assess
from hardware.swap import RPI_SWAP_DROPIN

GIB = 1024**3


@dataclass(frozen=True)
class Check:
    """The outcome of one preflight check."""

    name: str
    """Short stable name, e.g. "memory-cgroup"."""
    status: str
    """"ok", "warn" or "fail"."""
    detail: str
    """What was found, in one line."""
    fix: str = ""
    """The exact command or edit that fixes it ("" when ok)."""


def check_arch(snap: Snapshot) -> Check:
    """64-bit kernel and 64-bit userland (Kubernetes has no 32-bit ARM packages)."""
    kernel64 = snap.machine in parsers.KERNEL_64BIT
    bits, userland = parsers.userland_bits(snap.text("dpkg_arch"), snap.text("long_bit"))
    detail = f"kernel {snap.machine}, userland {userland}"
    reflash = "flash Raspberry Pi OS Lite (64-bit) (`appliance image build`); arm_64bit=1 alone keeps a 32-bit userland"
    if not kernel64:
        return Check("arch", "fail", f"{detail}: 32-bit kernel", reflash)
    if bits is None:
        return Check("arch", "warn", f"{detail}: cannot tell the userland's word size", "install dpkg or getconf")
    if bits != 64:
        return Check("arch", "fail", f"{detail}: 64-bit kernel with a 32-bit userland", reflash)
    return Check("arch", "ok", detail)


def check_board(snap: Snapshot, role: str) -> Check:
    """Which Raspberry Pi this is and whether it can run the cluster in `role`."""
    cpuinfo = snap.text("/proc/cpuinfo") or ""
    revision = cpuinfo_revision(cpuinfo) or snap.dt_revision
    dt_raw = snap.text("/proc/device-tree/model")
    dt_model = device_tree_model(dt_raw.encode()) if dt_raw else ""
    if dt_model.startswith("Raspberry Pi") and revision is None:
        return Check("board", "warn", f"{dt_model}, but its revision code is unreadable; RAM and model not checked")
    if revision is None or (dt_model and not dt_model.startswith("Raspberry Pi")):
        seen = f" (device tree: {dt_model})" if dt_model else ""
        return Check(
            "board", "warn",
            f"not a Raspberry Pi: no Revision in /proc/cpuinfo{seen}; board checks do not apply",
        )
    try:
        info = decode_revision(revision)
    except MalformedRevision as error:
        return Check("board", "warn", f"cannot decode the board: {error}")
    verdict = assess(info, role)
    memory = f"{info.memory_mb} MB" if info.memory_mb is not None else "RAM size not in the code"
    detail = f"{dt_model or info.model} (revision {info.revision}, {info.soc}, {memory})"
    if not verdict.supported:
        return Check("board", "fail", f"{detail}: {verdict.reason}", "use a Pi 3, 4, 5 or Zero 2 W")
    if verdict.warnings:
        return Check("board", "warn", f"{detail}: {'; '.join(verdict.warnings)}", "use a Pi 4 or 5 with 2 GB or more as the master")
    return Check("board", "ok", detail)


def check_memory(snap: Snapshot, role: str) -> Check:
    """RAM: kubeadm refuses a control plane under 1700 MB."""
    total = parsers.meminfo_total_mb(snap.text("/proc/meminfo") or "")
    if total is None:
        return Check("memory", "warn", "cannot read MemTotal from /proc/meminfo")
    if role == "master" and total < 1700:
        return Check("memory", "fail", f"{total} MiB RAM; kubeadm needs 1700 MB for a control plane",
                     "make a board with 2 GB or more the master")
    if total < 900:
        return Check("memory", "warn", f"{total} MiB RAM leaves little room for pods")
    return Check("memory", "ok", f"{total} MiB RAM ({role})")


def check_memory_cgroup(snap: Snapshot) -> Check:
    """The memory cgroup is really enabled in the running kernel, not just asked for."""
    cmdline = snap.text("/proc/cmdline") or ""
    asked = "asks for it" if has_memory_cgroup_args(cmdline) else f"lacks {' '.join(CGROUP_ARGS)}"
    fix = (f"add `{' '.join(CGROUP_ARGS)}` to the one line of {FIRMWARE_CMDLINE} "
           "(/boot/cmdline.txt before bookworm) and reboot; `appliance provision NODE` does this")
    controllers = snap.text("/sys/fs/cgroup/cgroup.controllers")
    if controllers is not None:
        if "memory" in parsers.cgroup_controllers(controllers):
            return Check("memory-cgroup", "ok", "memory controller enabled (cgroup v2)")
        return Check("memory-cgroup", "fail",
                     f"memory missing from /sys/fs/cgroup/cgroup.controllers; the kernel command line {asked}", fix)
    enabled = parsers.proc_cgroups(snap.text("/proc/cgroups") or "").get("memory")
    if enabled:
        return Check("memory-cgroup", "ok", "memory controller enabled (/proc/cgroups, cgroup v1)")
    seen = "disabled" if enabled is False else "absent"
    return Check("memory-cgroup", "fail", f"memory controller {seen} in /proc/cgroups; the kernel command line {asked}", fix)


def check_swap(snap: Snapshot) -> Check:
    """Swap off, or the kubelet told to tolerate it."""
    swaps_text = snap.text("/proc/swaps")
    if swaps_text is None:
        return Check("swap", "warn", "cannot read /proc/swaps")
    swaps = parsers.proc_swaps(swaps_text)
    if not swaps:
        return Check("swap", "ok", "no swap active")
    kubelet = snap.text("/var/lib/kubelet/config.yaml")
    if kubelet is not None and parsers.kubelet_fail_swap_on(kubelet) is False:
        return Check("swap", "warn", f"swap on ({', '.join(swaps)}); kubelet has failSwapOn: false")
    if any(snap.exists.get(f"{lib}/systemd/system-generators/rpi-swap-generator") for lib in ("/usr/lib", "/lib")):
        fix = (f"mkdir -p {RPI_SWAP_DROPIN.rsplit('/', 1)[0]} && "
               f"printf '[Main]\\nMechanism=none\\n' > {RPI_SWAP_DROPIN} && swapoff -a "
               "(rpi-swap; `appliance provision NODE` does this)")
    elif snap.exists.get("/etc/dphys-swapfile") or snap.binaries.get("dphys-swapfile"):
        fix = "dphys-swapfile swapoff && dphys-swapfile uninstall && systemctl disable dphys-swapfile"
    else:
        fix = "swapoff -a and remove the swap lines from /etc/fstab"
    return Check("swap", "fail", f"swap on: {', '.join(swaps)}; the kubelet refuses to start", fix)


def check_iptables(snap: Snapshot) -> Check:
    """iptables and ip6tables both on the nf_tables backend, no legacy tables in use."""
    fix = ("update-alternatives --set iptables /usr/sbin/iptables-nft && "
           "update-alternatives --set ip6tables /usr/sbin/ip6tables-nft")
    v4 = snap.commands.get("iptables")
    if v4 is None or v4.text is None:
        why = v4.problem if v4 else "not run"
        return Check("iptables", "fail", f"iptables unusable ({why})", "apt install iptables")
    backend = parsers.iptables_backend(v4.text)
    if backend is None:
        return Check("iptables", "warn", f"unrecognised `iptables --version`: {v4.text.strip()[:80]}")
    if backend != "nf_tables":
        return Check("iptables", "fail", f"iptables uses the {backend} backend; kube-proxy and the appliance's NAT use nf_tables", fix)
    v6 = snap.text("ip6tables")
    v6_backend = parsers.iptables_backend(v6) if v6 else None
    if v6 is not None and v6_backend != "nf_tables":
        return Check("iptables", "fail", f"iptables is nf_tables but ip6tables is {v6_backend}", fix)
    legacy = (snap.text("/proc/net/ip_tables_names") or "").split()
    if legacy:
        return Check("iptables", "warn", f"nf_tables backend, but legacy tables are loaded too ({', '.join(legacy)})",
                     "find what still calls iptables-legacy, remove its rules, then reboot")
    return Check("iptables", "ok", "iptables and ip6tables use nf_tables" if v6 else "iptables uses nf_tables")


def check_module(snap: Snapshot, name: str) -> Check:
    """A kernel module the kubelet needs is loaded, built in, or at least loadable."""
    fix = f"modprobe {name} && echo {name} > /etc/modules-load.d/{name}.conf"
    loaded = parsers.proc_modules(snap.text("/proc/modules") or "")
    active = (name == "br_netfilter" and snap.exists.get("/proc/sys/net/bridge")) or (
        name == "overlay" and "overlay" in parsers.filesystems(snap.text("/proc/filesystems") or ""))
    if name in loaded or snap.exists.get(f"/sys/module/{name}"):
        return Check(f"module-{name}", "ok", f"{name} loaded")
    if active:
        return Check(f"module-{name}", "ok", f"{name} active (built into the kernel)")
    if name in parsers.module_names(snap.text("modules.builtin") or ""):
        return Check(f"module-{name}", "ok", f"{name} built into kernel {snap.kernel_release}")
    if name in parsers.module_names(snap.text("modules.dep") or ""):
        return Check(f"module-{name}", "warn", f"{name} loadable but not loaded", fix)
    return Check(f"module-{name}", "fail", f"{name} neither loaded nor found in /lib/modules/{snap.kernel_release}",
                 f"install the modules of the running kernel (apt install --reinstall the linux-image package), reboot, then {fix}")


def check_sysctl(snap: Snapshot, key: str) -> Check:
    """A sysctl the pod network needs is 1."""
    path = "/proc/sys/" + key.replace(".", "/")
    fix = f"sysctl -w {key}=1 && echo '{key} = 1' > /etc/sysctl.d/90-appliance.conf"
    text = snap.text(path)
    if text is None:
        if key.startswith("net.bridge."):
            return Check(key, "fail", f"{path} missing: br_netfilter is not loaded", f"modprobe br_netfilter && {fix}")
        return Check(key, "fail", f"{path} missing", fix)
    value = parsers.sysctl_int(text)
    if value == 1:
        return Check(key, "ok", f"{key} = 1")
    return Check(key, "fail", f"{key} = {text.strip()[:20]}, needs 1", fix)


def check_clock(snap: Snapshot) -> Check:
    """The clock is NTP-synchronised (a Pi has no battery clock; TLS and tokens need the time)."""
    fix = "systemctl enable --now systemd-timesyncd and make sure the node reaches an NTP server (the master)"
    synced = parsers.ntp_synchronized(snap.text("timedatectl") or "")
    source = "timedatectl"
    if synced is None and snap.adjtimex is not None:
        synced, source = parsers.adjtimex_synchronized(*snap.adjtimex), "adjtimex"
    if synced is None:
        return Check("clock", "warn", "cannot tell whether the clock is synchronised (no timedatectl, no adjtimex)", fix)
    if synced:
        return Check("clock", "ok", f"clock synchronised ({source})")
    return Check("clock", "fail", f"clock not synchronised ({source})", fix)


def check_disk(snap: Snapshot) -> Check:
    """Free space: kubelet evicts pods under 10 % (nodefs) / 15 % (imagefs) free."""
    if not snap.disks:
        return Check("disk", "warn", "cannot stat / or /var/lib")
    worst_status, parts = "ok", []
    for disk in snap.disks:
        free_gib = disk.free_bytes / GIB
        share = disk.free_bytes / disk.total_bytes if disk.total_bytes else 0.0
        parts.append(f"{disk.path}: {free_gib:.1f} GiB free ({share:.0%})")
        if free_gib < 2 or share < 0.10:
            worst_status = "fail"
        elif (free_gib < 5 or share < 0.15) and worst_status == "ok":
            worst_status = "warn"
    fix = "" if worst_status == "ok" else "free space (apt clean, crictl rmi --prune) or use a 32 GB or larger card"
    return Check("disk", worst_status, "; ".join(parts), fix)


def check_throttling(snap: Snapshot) -> Check:
    """Under-voltage and throttling from the Pi firmware."""
    fix = "use the official supply for this board (Pi 5: 27 W USB-C PD, Pi 4: 15 W, Pi 3B+: 12.5 W) and good cables; add cooling"
    vc = snap.commands.get("vcgencmd")
    raw = vc.text if vc else None
    if raw is None:
        raw = snap.text("/sys/devices/platform/soc/soc:firmware/get_throttled")
    if raw is None:
        is_pi = cpuinfo_revision(snap.text("/proc/cpuinfo") or "") is not None or snap.dt_revision is not None
        if not is_pi:
            return Check("throttling", "warn", "not applicable: not a Raspberry Pi (no vcgencmd, no firmware get_throttled node)")
        return Check("throttling", "warn", "cannot read throttling state (no vcgencmd, no firmware get_throttled node)",
                     "apt install raspi-utils (vcgencmd)")
    state = parsers.throttled(raw)
    if state is None:
        return Check("throttling", "warn", f"unrecognised get_throttled output: {raw.strip()[:40]}")
    if state.now:
        return Check("throttling", "fail", f"0x{state.raw:x}: {', '.join(state.now)}", fix)
    if state.since_boot:
        return Check("throttling", "warn", f"0x{state.raw:x}: {', '.join(state.since_boot)}", fix)
    return Check("throttling", "ok", "no under-voltage or throttling since boot")


def check_container_runtime(snap: Snapshot) -> Check:
    """containerd installed, running, and using the systemd cgroup driver."""
    install = "apt install containerd, set SystemdCgroup = true in /etc/containerd/config.toml, systemctl enable --now containerd"
    running = snap.exists.get("/run/containerd/containerd.sock", False)
    binary = snap.binaries.get("containerd")
    if not running and not binary:
        return Check("container-runtime", "fail", "containerd not installed", install)
    if not running:
        return Check("container-runtime", "fail", f"containerd installed ({binary}) but not running", "systemctl enable --now containerd")
    config = snap.text("/etc/containerd/config.toml") or ""
    if "SystemdCgroup = true" not in config:
        return Check("container-runtime", "warn", "containerd runs but does not use the systemd cgroup driver",
                     "set SystemdCgroup = true in /etc/containerd/config.toml and systemctl restart containerd")
    return Check("container-runtime", "ok", "containerd running with SystemdCgroup = true")


CHECKS: tuple[Callable[[Snapshot, str], Check], ...] = (
    lambda s, r: check_arch(s),
    check_board,
    check_memory,
    lambda s, r: check_memory_cgroup(s),
    lambda s, r: check_swap(s),
    lambda s, r: check_iptables(s),
    lambda s, r: check_module(s, "br_netfilter"),
    lambda s, r: check_module(s, "overlay"),
    lambda s, r: check_sysctl(s, "net.ipv4.ip_forward"),
    lambda s, r: check_sysctl(s, "net.bridge.bridge-nf-call-iptables"),
    lambda s, r: check_clock(s),
    lambda s, r: check_disk(s),
    lambda s, r: check_throttling(s),
    lambda s, r: check_container_runtime(s),
)


def run_checks(snap: Snapshot, role: str = "worker") -> list[Check]:
    """All checks, in a fixed order."""
    return [check(snap, role) for check in CHECKS]
