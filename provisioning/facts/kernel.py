"""Kernel facts: loaded modules, the sysctls the pod network needs, and swap."""

from __future__ import annotations

from dataclasses import dataclass

from hardware import swap
from hardware.doctor import parsers
from provisioning import paths
from provisioning.facts import script as s
from provisioning.facts.services import parse_show

MODULES = ("overlay", "br_netfilter")
"""Modules containerd and the bridge CNI need."""

SYSCTLS = ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")
"""Sysctls that must be 1 (the bridge ones exist once br_netfilter is loaded)."""

RPI_SWAP_GENERATORS = ("/usr/lib/systemd/system-generators/rpi-swap-generator",
                       "/lib/systemd/system-generators/rpi-swap-generator")


def _sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


SECTIONS = (
    s.command("modules", "cut -d' ' -f1 /proc/modules"),
    *(s.exists(f"sys_module:{name}", f"/sys/module/{name}") for name in MODULES),
    # What the doctor also accepts: a module built in (or loaded where /proc/modules is not shown)
    # is active when its effect is: /proc/sys/net/bridge for br_netfilter, overlay in filesystems.
    s.exists("bridge_sysctls", "/proc/sys/net/bridge"),
    s.command("filesystems", "cut -f2 /proc/filesystems"),
    s.file("modules_conf", paths.MODULES_CONF),
    *(s.file(f"sysctl:{key}", _sysctl_path(key)) for key in SYSCTLS),
    s.file("sysctl_conf", paths.SYSCTL_CONF),
    s.file("proc_swaps", "/proc/swaps"),
    *(s.exists(f"rpi_swap:{path}", path) for path in RPI_SWAP_GENERATORS),
    s.file("rpi_swap_dropin", swap.RPI_SWAP_DROPIN),
    s.exists("dphys_swapfile", "/etc/dphys-swapfile"),
)


@dataclass(frozen=True)
class KernelFacts:
    """Modules, sysctls and swap as the node has them now."""

    loaded_modules: frozenset[str]
    """Modules loaded now (or built in and visible under /sys/module)."""
    modules_conf: str | None
    """Text of the appliance's modules-load.d file, None when missing."""
    sysctls: dict[str, int | None]
    """Current value of each sysctl of SYSCTLS (None: missing, e.g. br_netfilter not loaded)."""
    sysctl_conf: str | None
    """Text of the appliance's sysctl.d file, None when missing."""
    swap: swap.SwapFacts
    """What the swap plan needs."""


def dphys_enabled(units_text: str) -> bool:
    """Whether dphys-swapfile.service starts at boot (from the services' one `systemctl show`)."""
    unit = parse_show(units_text).get("dphys-swapfile.service")
    return unit is not None and unit.enabled


def parse(raw: dict[str, str]) -> KernelFacts:
    """KernelFacts from the gathered sections."""
    loaded = set(parsers.proc_modules(raw.get("modules", "")))
    loaded |= {name for name in MODULES if s.flag(raw.get(f"sys_module:{name}"))}
    if s.flag(raw.get("bridge_sysctls")):
        loaded.add("br_netfilter")
    if "overlay" in raw.get("filesystems", "").split():
        loaded.add("overlay")
    sysctls = {}
    for key in SYSCTLS:
        text = s.file_text(raw.get(f"sysctl:{key}"))
        sysctls[key] = parsers.sysctl_int(text) if text is not None else None
    swaps_text = s.file_text(raw.get("proc_swaps"))
    return KernelFacts(
        loaded_modules=frozenset(loaded),
        modules_conf=s.file_text(raw.get("modules_conf")),
        sysctls=sysctls,
        sysctl_conf=s.file_text(raw.get("sysctl_conf")),
        swap=swap.SwapFacts(
            active_swaps=parsers.proc_swaps(swaps_text) if swaps_text else (),
            rpi_swap=any(s.flag(raw.get(f"rpi_swap:{path}")) for path in RPI_SWAP_GENERATORS),
            rpi_swap_dropin=s.file_text(raw.get("rpi_swap_dropin")),
            dphys_swapfile=s.flag(raw.get("dphys_swapfile")),
            dphys_enabled=dphys_enabled(raw.get("units", "")),
        ),
    )
