"""Doctor checks judge snapshots built from captured output: a healthy Pi 4 node, then one fault at a time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hardware.doctor import exit_code, render_table, to_json
from hardware.doctor.checks import run_checks
from hardware.doctor.snapshot import Disk, Reading, Snapshot

CAPTURED = Path(__file__).parent / "data" / "captured"
GIB = 1024**3


def _read(name: str) -> str:
    return (CAPTURED / name).read_text()


def healthy_pi4(**changes: object) -> Snapshot:
    """A prepared Raspberry Pi 4 worker as provisioning leaves it."""
    files = {
        "/proc/cpuinfo": _read("pi4-arm64-cpuinfo.txt"),
        "/proc/device-tree/model": "Raspberry Pi 4 Model B Rev 1.1\0",
        "/proc/meminfo": "MemTotal:        3881640 kB\n",
        "/proc/cgroups": _read("pi-bookworm-proc-cgroups-memory-disabled.txt"),
        "/sys/fs/cgroup/cgroup.controllers": _read("pi-bookworm-cgroup-controllers-memory.txt"),
        "/proc/cmdline": "console=tty1 root=PARTUUID=a3f07636-02 rootwait cgroup_enable=memory cgroup_memory=1\n",
        "/proc/swaps": "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
        "/proc/modules": _read("pi-proc-modules-excerpt.txt"),
        "/proc/filesystems": _read("host-filesystems.txt"),
        "/proc/net/ip_tables_names": "",
        "/proc/sys/net/ipv4/ip_forward": "1\n",
        "/proc/sys/net/bridge/bridge-nf-call-iptables": "1\n",
        "/etc/containerd/config.toml": "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n",
    }
    commands = {
        "dpkg_arch": "arm64\n",
        "long_bit": "64\n",
        "iptables": "iptables v1.8.9 (nf_tables)\n",
        "ip6tables": "ip6tables v1.8.9 (nf_tables)\n",
        "timedatectl": _read("pi-timedatectl-synced.txt"),
        "vcgencmd": _read("pi-vcgencmd-throttled-clean.txt"),
    }
    snap = Snapshot(
        machine="aarch64",
        kernel_release="6.12.47+rpt-rpi-v8",
        files={k: Reading(k, v) for k, v in files.items()},
        commands={k: Reading(k, v) for k, v in commands.items()},
        exists={"/run/containerd/containerd.sock": True, "/proc/sys/net/bridge": True},
        binaries={"containerd": "/usr/bin/containerd"},
        adjtimex=(0, 0x2001),
        disks=(Disk("/", 29 * GIB, 20 * GIB),),
    )
    return replace(snap, **changes)  # type: ignore[arg-type]


def _without(snap: Snapshot, *keys: str) -> Snapshot:
    files = {k: (Reading(k, None, "missing") if k in keys else v) for k, v in snap.files.items()}
    commands = {k: (Reading(k, None, f"command not found: {k}") if k in keys else v) for k, v in snap.commands.items()}
    return replace(snap, files=files, commands=commands)


def _with(snap: Snapshot, **texts: str) -> Snapshot:
    """Replace readings: a command name (dpkg_arch, iptables, ...) or a file path."""
    files, commands = dict(snap.files), dict(snap.commands)
    for key, text in texts.items():
        if key in commands:
            commands[key] = Reading(key, text)
        else:
            files[key] = Reading(key, text)
    return replace(snap, files=files, commands=commands)


def by_name(snap: Snapshot, role: str = "worker") -> dict[str, tuple[str, str, str]]:
    return {c.name: (c.status, c.detail, c.fix) for c in run_checks(snap, role)}


def test_healthy_pi4_is_all_ok() -> None:
    checks = run_checks(healthy_pi4())
    assert [c.status for c in checks] == ["ok"] * len(checks), render_table(checks)
    assert exit_code(checks) == 0
    assert "Raspberry Pi 4 Model B Rev 1.1" in by_name(healthy_pi4())["board"][1]


def test_json_shape() -> None:
    checks = to_json(run_checks(healthy_pi4()))["checks"]
    assert isinstance(checks, list) and len(checks) == 14
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in checks)


def test_32bit_userland_on_64bit_kernel_fails() -> None:
    status, detail, fix = by_name(_with(healthy_pi4(), dpkg_arch="armhf\n"))["arch"]
    assert status == "fail" and "32-bit userland" in detail and "64-bit" in fix
    assert by_name(healthy_pi4(machine="armv7l"))["arch"][0] == "fail"


def test_pi_zero_w_refused() -> None:
    snap = _with(healthy_pi4(machine="armv6l"), **{"/proc/cpuinfo": _read("pizerow-armv6-cpuinfo.txt")})
    status, detail, _ = by_name(snap)["board"]
    assert status == "fail" and "32-bit" in detail


def test_memory_cgroup_missing_v2_and_v1() -> None:
    snap = _with(healthy_pi4(), **{"/sys/fs/cgroup/cgroup.controllers": _read("pi-bookworm-cgroup-controllers-no-memory.txt"),
                                   "/proc/cmdline": "console=tty1 root=/dev/mmcblk0p2 rootwait\n"})
    status, detail, fix = by_name(snap)["memory-cgroup"]
    assert status == "fail" and "lacks cgroup_enable=memory" in detail and "/boot/firmware/cmdline.txt" in fix
    v1 = _without(snap, "/sys/fs/cgroup/cgroup.controllers")
    assert by_name(v1)["memory-cgroup"][0] == "fail"  # /proc/cgroups says enabled 0
    v1_ok = _with(v1, **{"/proc/cgroups": _read("host-proc-cgroups.txt")})
    assert by_name(v1_ok)["memory-cgroup"][0] == "ok"


def test_swap_on_trixie_and_bookworm() -> None:
    zram = replace(_with(healthy_pi4(), **{"/proc/swaps": _read("pi-trixie-proc-swaps-zram.txt")}),
                   exists={"/usr/lib/systemd/system-generators/rpi-swap-generator": True})
    status, detail, fix = by_name(zram)["swap"]
    assert status == "fail" and "/dev/zram0" in detail
    assert r"printf '[Main]\nMechanism=none\n' > /etc/rpi/swap.conf.d/90-appliance-noswap.conf && swapoff -a" in fix
    dphys = replace(_with(healthy_pi4(), **{"/proc/swaps": _read("pi-bookworm-proc-swaps-dphys.txt")}),
                    exists={"/etc/dphys-swapfile": True, "/run/containerd/containerd.sock": True})
    assert "dphys-swapfile uninstall" in by_name(dphys)["swap"][2]
    tolerated = _with(zram, **{"/var/lib/kubelet/config.yaml": _read("kubelet-config-failswapon-false.yaml")})
    assert by_name(tolerated)["swap"][0] == "warn"


def test_iptables_variants() -> None:
    legacy = _with(healthy_pi4(), iptables=_read("pi-iptables-version-legacy.txt"))
    status, _, fix = by_name(legacy)["iptables"]
    assert status == "fail" and "iptables-nft" in fix
    mixed = _with(healthy_pi4(), ip6tables="ip6tables v1.8.9 (legacy)\n")
    assert by_name(mixed)["iptables"][0] == "fail"
    leftovers = _with(healthy_pi4(), **{"/proc/net/ip_tables_names": "filter\nnat\n"})
    assert by_name(leftovers)["iptables"][0] == "warn"
    missing = _without(healthy_pi4(), "iptables")
    assert by_name(missing)["iptables"][0] == "fail"


def test_modules_loadable_but_not_loaded() -> None:
    snap = replace(_with(healthy_pi4(), **{"/proc/modules": "", "/proc/filesystems": "nodev\tproc\n",
                                           "modules.dep": _read("pi-bookworm-modules-dep-excerpt.txt")}),
                   exists={"/run/containerd/containerd.sock": True})
    checks = by_name(snap)
    assert checks["module-br_netfilter"][0] == "warn" and "modprobe br_netfilter" in checks["module-br_netfilter"][2]
    assert checks["module-overlay"][0] == "warn"
    gone = replace(_with(snap, **{"modules.dep": ""}))
    assert by_name(gone)["module-overlay"][0] == "fail"


def test_sysctls() -> None:
    snap = _without(_with(healthy_pi4(), **{"/proc/sys/net/ipv4/ip_forward": "0\n"}),
                    "/proc/sys/net/bridge/bridge-nf-call-iptables")
    checks = by_name(snap)
    assert checks["net.ipv4.ip_forward"][0] == "fail" and "sysctl -w net.ipv4.ip_forward=1" in checks["net.ipv4.ip_forward"][2]
    assert checks["net.bridge.bridge-nf-call-iptables"][0] == "fail"
    assert "modprobe br_netfilter" in checks["net.bridge.bridge-nf-call-iptables"][2]


def test_clock() -> None:
    unsynced = _with(healthy_pi4(), timedatectl=_read("pi-timedatectl-unsynced.txt"))
    assert by_name(unsynced)["clock"][0] == "fail"
    fallback = replace(_without(healthy_pi4(), "timedatectl"), adjtimex=(5, 0x40))
    assert by_name(fallback)["clock"][:2] == ("fail", "clock not synchronised (adjtimex)")
    unknown = replace(_without(healthy_pi4(), "timedatectl"), adjtimex=None)
    assert by_name(unknown)["clock"][0] == "warn"


@pytest.mark.parametrize(("free_gib", "total_gib", "status"), [(20, 29, "ok"), (4, 29, "warn"), (1.5, 29, "fail"), (3, 31, "fail")])
def test_disk(free_gib: float, total_gib: float, status: str) -> None:
    snap = healthy_pi4(disks=(Disk("/", int(total_gib * GIB), int(free_gib * GIB)),))
    assert by_name(snap)["disk"][0] == status


def test_throttling() -> None:
    now = _with(healthy_pi4(), vcgencmd=_read("pi-vcgencmd-throttled-undervolt-now.txt"))
    status, detail, fix = by_name(now)["throttling"]
    assert status == "fail" and "under-voltage detected" in detail and "27 W" in fix
    past = _with(healthy_pi4(), vcgencmd=_read("pi-vcgencmd-throttled-undervolt-past.txt"))
    assert by_name(past)["throttling"][0] == "warn"
    sysfs = _with(_without(healthy_pi4(), "vcgencmd"), **{
        "/sys/devices/platform/soc/soc:firmware/get_throttled": _read("pi-sysfs-get-throttled-undervolt.txt")})
    assert by_name(sysfs)["throttling"][0] == "fail"
    no_tool = _without(healthy_pi4(), "vcgencmd")
    assert by_name(no_tool)["throttling"][:2] == ("warn", "cannot read throttling state (no vcgencmd, no firmware get_throttled node)")
    not_pi = _without(_with(healthy_pi4(), **{"/proc/cpuinfo": _read("host-cpuinfo.txt")}), "vcgencmd")
    assert by_name(not_pi)["throttling"][1].startswith("not applicable: not a Raspberry Pi")


def test_container_runtime() -> None:
    stopped = replace(healthy_pi4(), exists={})
    assert by_name(stopped)["container-runtime"][:2] == ("fail", "containerd installed (/usr/bin/containerd) but not running")
    absent = replace(stopped, binaries={})
    assert by_name(absent)["container-runtime"][0] == "fail"
    cgroupfs = _with(healthy_pi4(), **{"/etc/containerd/config.toml": "version = 2\n"})
    assert by_name(cgroupfs)["container-runtime"][0] == "warn"


def test_master_role_memory() -> None:
    small = _with(healthy_pi4(), **{"/proc/meminfo": "MemTotal:         948280 kB\n",
                                    "/proc/cpuinfo": _read("pi4-arm64-cpuinfo.txt").replace("c03111", "a02082")})
    checks = by_name(small, "master")
    assert checks["memory"][0] == "fail" and checks["board"][0] == "warn"
    assert by_name(small, "worker")["memory"][0] == "ok"


def test_nothing_readable_gives_warnings_not_crashes() -> None:
    empty = Snapshot(machine="aarch64", kernel_release="x", files={}, commands={})
    checks = run_checks(empty)
    assert len(checks) == 14 and exit_code(checks) == 1
    assert {c.status for c in checks} <= {"ok", "warn", "fail"}
    assert all(c.fix for c in checks if c.status == "fail")


def test_pi_on_a_kernel_without_cpuinfo_revision() -> None:
    """Mainline/Ubuntu kernels print no Revision; the device-tree cell still identifies the board."""
    no_line = _with(healthy_pi4(), **{"/proc/cpuinfo": _read("pi4-arm64-cpuinfo.txt").replace("Revision\t: c03111\n", "")})
    status, detail, _ = by_name(replace(no_line, dt_revision="c03111"))["board"]
    assert status == "ok" and "revision c03111" in detail
    status, detail, _ = by_name(no_line)["board"]
    assert status == "warn" and detail.startswith("Raspberry Pi 4 Model B Rev 1.1, but its revision code is unreadable")
