"""Doctor parsers on captured output (this machine and documented Pi output); fuzzed: they never raise."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.doctor import parsers

CAPTURED = Path(__file__).parent / "data" / "captured"


def _read(name: str) -> str:
    return (CAPTURED / name).read_text()


def test_proc_cgroups() -> None:
    host = parsers.proc_cgroups(_read("host-proc-cgroups.txt"))
    assert host["memory"] is True and "cpu" in host
    pi = parsers.proc_cgroups(_read("pi-bookworm-proc-cgroups-memory-disabled.txt"))
    assert pi["memory"] is False and pi["cpu"] is True


def test_cgroup_controllers() -> None:
    assert "memory" not in parsers.cgroup_controllers(_read("pi-bookworm-cgroup-controllers-no-memory.txt"))
    assert "memory" in parsers.cgroup_controllers(_read("pi-bookworm-cgroup-controllers-memory.txt"))


def test_proc_swaps() -> None:
    assert parsers.proc_swaps(_read("host-proc-swaps.txt")) == ()
    assert parsers.proc_swaps(_read("pi-trixie-proc-swaps-zram.txt")) == ("/dev/zram0",)
    assert parsers.proc_swaps(_read("pi-bookworm-proc-swaps-dphys.txt")) == ("/var/swap",)
    assert parsers.proc_swaps("Filename Type\n/mnt/my\\040swap file 10 0 -2\n") == ("/mnt/my swap",)


@pytest.mark.parametrize(("name", "backend"), [
    ("host-iptables-version.txt", "nf_tables"),
    ("host-iptables-legacy-version.txt", "legacy"),
    ("pi-iptables-version-legacy.txt", "legacy"),
    ("old-iptables-version.txt", "legacy"),
])
def test_iptables_backend(name: str, backend: str) -> None:
    assert parsers.iptables_backend(_read(name)) == backend


def test_iptables_backend_unknown() -> None:
    assert parsers.iptables_backend("bash: iptables: command not found") is None
    assert parsers.iptables_backend("iptables v1.9.0") is None  # 1.8+ always names the backend


def test_throttled() -> None:
    now = parsers.throttled(_read("pi-vcgencmd-throttled-undervolt-now.txt"))
    assert now is not None and now.raw == 0x50005
    assert now.now == ("under-voltage detected", "currently throttled")
    assert now.since_boot == ("under-voltage has occurred", "throttling has occurred")
    past = parsers.throttled(_read("pi-vcgencmd-throttled-undervolt-past.txt"))
    assert past is not None and past.now == () and past.since_boot
    clean = parsers.throttled(_read("pi-vcgencmd-throttled-clean.txt"))
    assert clean is not None and clean.raw == 0 and not clean.now and not clean.since_boot
    assert parsers.throttled(_read("pi-sysfs-get-throttled-undervolt.txt")) == now
    assert parsers.throttled("error=1 error_msg=\"Command not registered\"") is None


def test_time_sync() -> None:
    assert parsers.ntp_synchronized(_read("pi-timedatectl-synced.txt")) is True
    assert parsers.ntp_synchronized(_read("pi-timedatectl-unsynced.txt")) is False
    assert parsers.ntp_synchronized("yes\n") is True  # the --value form
    assert parsers.ntp_synchronized(_read("host-timedatectl.txt")) is None  # no systemd here
    assert parsers.adjtimex_synchronized(0, 0x2001) is True
    assert parsers.adjtimex_synchronized(5, 0x40) is False  # TIME_ERROR + STA_UNSYNC, as on this machine
    assert parsers.adjtimex_synchronized(0, 0x40) is False


def test_meminfo_and_sysctl() -> None:
    total = parsers.meminfo_total_mb(_read("host-meminfo.txt"))
    assert total is not None and total > 100
    assert parsers.meminfo_total_mb("MemTotal:        3881640 kB\n") == 3790
    assert parsers.sysctl_int("1\n") == 1 and parsers.sysctl_int("0") == 0
    assert parsers.sysctl_int("") is None and parsers.sysctl_int("1 2") is None


def test_modules() -> None:
    dep = parsers.module_names(_read("pi-bookworm-modules-dep-excerpt.txt"))
    assert {"br_netfilter", "overlay", "bridge", "nf_tables"} <= dep
    assert parsers.module_names("kernel/fs/fuse/fuse.ko\nkernel/drivers/md/dm-mod.ko\n") == {"fuse", "dm_mod"}
    assert {"br_netfilter", "overlay"} <= parsers.proc_modules(_read("pi-proc-modules-excerpt.txt"))
    assert "overlay" in parsers.filesystems(_read("host-filesystems.txt"))


def test_userland_bits() -> None:
    assert parsers.userland_bits(_read("host-dpkg-arch.txt"), None) == (64, "amd64")
    assert parsers.userland_bits("armhf\n", "32\n") == (32, "armhf")
    assert parsers.userland_bits(None, "64\n") == (64, "64-bit (getconf LONG_BIT)")
    assert parsers.userland_bits("weird", None) == (None, "unknown")


def test_kubelet_config() -> None:
    assert parsers.kubelet_fail_swap_on(_read("kubelet-config-failswapon-false.yaml")) is False
    assert parsers.kubelet_fail_swap_on(_read("kubelet-config-default.yaml")) is True
    assert parsers.kubelet_fail_swap_on("") is True
    assert parsers.kubelet_fail_swap_on("failSwapOn: [") is None
    assert parsers.kubelet_fail_swap_on("when: 2001-13-45") is None
    assert parsers.kubelet_fail_swap_on("- a list") is None


def test_os_codename() -> None:
    assert parsers.os_codename('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_CODENAME=trixie\n') == "trixie"
    assert parsers.os_codename("") is None


TEXT_PARSERS = [
    parsers.proc_swaps, parsers.proc_cgroups, parsers.cgroup_controllers, parsers.iptables_backend,
    parsers.throttled, parsers.ntp_synchronized, parsers.meminfo_total_mb, parsers.sysctl_int,
    parsers.proc_modules, parsers.module_names, parsers.filesystems, parsers.kubelet_fail_swap_on,
    parsers.os_codename,
]


@pytest.mark.parametrize("parse", TEXT_PARSERS, ids=lambda p: p.__name__)
@given(data=st.one_of(st.text(max_size=500), st.binary(max_size=500).map(lambda b: b.decode("utf-8", "replace"))))
def test_fuzz_parsers_never_raise(parse, data: str) -> None:  # type: ignore[no-untyped-def]
    parse(data)


@given(st.integers(min_value=-(2**40), max_value=2**40), st.integers(min_value=-(2**31), max_value=2**31))
def test_fuzz_adjtimex(state: int, status: int) -> None:
    assert parsers.adjtimex_synchronized(state, status) in (True, False)


def test_hostile_kubelet_yaml() -> None:
    assert parsers.kubelet_fail_swap_on("[" * 5000 + "]" * 5000) is None
    laughs = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nfailSwapOn: false\n"
    assert parsers.kubelet_fail_swap_on(laughs) is False
