"""Operations on the node's system: the 64-bit guard, hostname, boot flags and reboot, swap, modules, sysctls, dhcpcd."""

from __future__ import annotations

import re
import shlex

from hardware import boot, swap
from hardware.cmdline import (
    CGROUP_ARGS,
    BootFileError,
    choose_boot_file,
    has_memory_cgroup_args,
    split_args,
)
from hardware.doctor.checks import check_arch
from hardware.doctor.snapshot import Reading, Snapshot
from provisioning import paths
from provisioning.facts.kernel import MODULES, SYSCTLS
from provisioning.operations.base import Change, Context, ProvisionError, Put, Reboot, Run, ok

HEADER = "# Written by the appliance's provisioning; it is rewritten when it differs.\n"


def architecture(ctx: Context) -> Change:
    """Refuse a 32-bit kernel or userland before changing anything (Kubernetes has no 32-bit ARM packages)."""
    system = ctx.facts.system
    snapshot = Snapshot(machine=system.machine, kernel_release="", files={}, commands={
        "dpkg_arch": Reading("dpkg", system.dpkg_arch or None)})
    verdict = check_arch(snapshot)
    if verdict.status == "fail":
        raise ProvisionError(f"{ctx.node}: {verdict.detail}; fix: {verdict.fix}")
    return ok(f"{verdict.detail} ({system.pretty_os})")


def hosts_text(current: str | None, name: str) -> str:
    """/etc/hosts with one `127.0.1.1 NAME` line (Debian's line for the own hostname), all else kept."""
    lines = (current if current is not None else "127.0.0.1\tlocalhost\n").splitlines()
    own = [line for line in lines if line.split()[:1] == ["127.0.1.1"]]
    if current is not None and current.endswith("\n") and [line.split()[1:] for line in own] == [[name]]:
        return current
    kept = [line for line in lines if line not in own]
    after = next((i + 1 for i, line in enumerate(kept) if line.split()[:1] == ["127.0.0.1"]), len(kept))
    return "\n".join([*kept[:after], f"127.0.1.1\t{name}", *kept[after:]]) + "\n"


def hostname(ctx: Context) -> Change:
    """The node's hostname is its name (the same as its Kubernetes node name and its DNS name)."""
    system = ctx.facts.system
    actions: list[Put | Run] = []
    # The running name first: sudo looks the current name up in /etc/hosts and warns when
    # the file already names the new one.
    if system.hostname != ctx.node:
        actions.append(Run(f"hostname {shlex.quote(ctx.node)}"))
    if (system.etc_hostname or "").strip() != ctx.node:
        actions.append(Put("/etc/hostname", f"{ctx.node}\n".encode()))
    hosts = hosts_text(system.etc_hosts, ctx.node)
    if hosts != system.etc_hosts:
        actions.append(Put("/etc/hosts", hosts.encode()))
    if not actions:
        return ok(f"hostname is {ctx.node}")
    return Change(f"hostname {system.hostname or '(none)'} → {ctx.node}", tuple(actions))


def boot_flags(ctx: Context) -> Change:
    """cmdline.txt asks for the memory cgroup, config.txt for the 64-bit kernel (and no radios on workers)."""
    files = ctx.facts.system.boot_files
    if ctx.facts.system.memory_cgroup and all(text is None for text in files.values()):
        return ok("no Raspberry Pi boot partition, and the memory cgroup is on already")
    try:
        edits = boot.plan_boot_files(files, ctx.role)
    except BootFileError as error:
        raise ProvisionError(f"{ctx.node}: {error}") from None
    if not edits:
        return ok(f"{' '.join(CGROUP_ARGS)} in {choose_boot_file(files)}; config.txt as wanted")
    return Change(f"{', '.join(edit.path for edit in edits)} edited ({' '.join(CGROUP_ARGS)}, 64-bit)",
                  tuple(Put(edit.path, edit.content.encode()) for edit in edits))


def reboot(ctx: Context) -> Change:
    """Reboot once when cmdline.txt asks for the memory cgroup but the running kernel lacks it."""
    system = ctx.facts.system
    if system.memory_cgroup:
        return ok("the running kernel has the memory cgroup")
    try:
        path = choose_boot_file(system.boot_files)
    except BootFileError:
        raise ProvisionError(f"{ctx.node}: the memory cgroup is off and there is no cmdline.txt to turn it on; "
                             "boot a kernel with the memory cgroup (cgroup_enable=memory)") from None
    text = system.boot_files.get(path) or ""
    if not has_memory_cgroup_args(text):
        raise ProvisionError(f"{ctx.node}: {path} still lacks {' '.join(CGROUP_ARGS)}; the boot step did not run")
    # The running kernel was booted with them (the Pi firmware puts the device tree's
    # cgroup_disable=memory first, so only their presence is checked): rebooting again won't help.
    running = split_args(system.proc_cmdline)
    if all(arg in running for arg in CGROUP_ARGS):
        raise ProvisionError(
            f"{ctx.node}: rebooted with {' '.join(CGROUP_ARGS)} but the memory cgroup is still off; "
            "check /proc/cmdline for a later cgroup_disable=memory and this board's firmware")
    return Change(f"memory cgroup off in the running kernel; {path} turns it on: reboot", (Reboot(),))


def swap_off(ctx: Context) -> Change:
    """Swap off now and after reboots (hardware.swap decides how: rpi-swap drop-in, dphys-swapfile)."""
    plan = swap.plan_swap_off(ctx.facts.kernel.swap)
    if plan.empty:
        return ok("; ".join(plan.notes))
    actions: list[Put | Run] = [Put(edit.path, edit.content.encode()) for edit in plan.edits]
    actions += [Run(shlex.join(argv)) for argv in plan.commands]
    return Change("; ".join(plan.notes), tuple(actions))


MODULES_TEXT = HEADER + "".join(f"{name}\n" for name in MODULES)
SYSCTL_TEXT = HEADER + "".join(f"{key} = 1\n" for key in SYSCTLS)


def kernel_modules(ctx: Context) -> Change:
    """overlay and br_netfilter loaded now and at every boot."""
    kernel = ctx.facts.kernel
    actions: list[Put | Run] = []
    if kernel.modules_conf != MODULES_TEXT:
        actions.append(Put(paths.MODULES_CONF, MODULES_TEXT.encode()))
    missing = [name for name in MODULES if name not in kernel.loaded_modules]
    if missing:
        actions.append(Run(f"modprobe -a {' '.join(missing)}"))
    if not actions:
        return ok(f"{' and '.join(MODULES)} loaded and listed in {paths.MODULES_CONF}")
    now = f"load {' '.join(missing)} now; " if missing else ""
    return Change(f"{now}list {' and '.join(MODULES)} in {paths.MODULES_CONF} for every boot", tuple(actions))


def sysctls(ctx: Context) -> Change:
    """Forwarding and bridge netfilter on now and at every boot."""
    kernel = ctx.facts.kernel
    actions: list[Put | Run] = []
    if kernel.sysctl_conf != SYSCTL_TEXT:
        actions.append(Put(paths.SYSCTL_CONF, SYSCTL_TEXT.encode()))
    off = [key for key, value in kernel.sysctls.items() if value != 1]
    if off:
        actions.append(Run(f"sysctl -q -p {paths.SYSCTL_CONF}"))
    if not actions:
        return ok(f"{', '.join(SYSCTLS)} = 1 and kept in {paths.SYSCTL_CONF}")
    now = f"set {', '.join(off)} to 1 now; " if off else ""
    return Change(f"{now}keep {', '.join(SYSCTLS)} at 1 in {paths.SYSCTL_CONF}", tuple(actions))


def dhcpcd_noarp(ctx: Context) -> Change:
    """`noarp` in dhcpcd.conf: the appliance's DHCP server probes addresses already, so a second probe only slows boots."""
    text = ctx.facts.state.dhcpcd_conf
    if text is None:
        return ok(f"no {paths.DHCPCD_CONF} (NetworkManager or another client manages the address)")
    if any(re.fullmatch(r"\s*noarp\s*", line) for line in text.splitlines()):
        return ok(f"noarp set in {paths.DHCPCD_CONF}")
    new = text + ("" if text.endswith("\n") or not text else "\n")
    new += "# The appliance's DHCP server probes every address before offering it.\nnoarp\n"
    return Change(f"noarp added to {paths.DHCPCD_CONF} (takes effect at the next lease)",
                  (Put(paths.DHCPCD_CONF, new.encode()),))
