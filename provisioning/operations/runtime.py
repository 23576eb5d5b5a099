"""Operations for the container runtime: base packages, containerd with the systemd cgroup driver, CNI plugins."""

from __future__ import annotations

import hashlib
import shlex

from provisioning import paths
from provisioning.facts.packages import upstream_version
from provisioning.operations.base import APT_TIMEOUT, Change, Context, ProvisionError, Put, Run, ok

BASE_PACKAGES = ("containerd", "containernetworking-plugins", "iptables", "python3-pyroute2",
                 "python3-yaml", "gpg", "curl", "ca-certificates")
"""Debian packages every node needs: the runtime, CNI plugins, what the agent and doctor import,
and what adding the Kubernetes apt source takes."""

CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")
"""The plugins the agent's CNI config uses (netd.cni)."""


def apt_install(packages: tuple[str, ...] | list[str], *, update: bool = True, extra: str = "") -> Run:
    """apt-get install, non-interactive, waiting for a dpkg lock held by unattended upgrades, after
    finishing whatever dpkg was doing when an earlier run was cut off."""
    names = " ".join(shlex.quote(name) for name in packages)
    refresh = "apt-get -q update && " if update else ""
    # A power cut in the middle of dpkg leaves it "interrupted"; apt refuses until it is finished.
    return Run(f"export DEBIAN_FRONTEND=noninteractive; dpkg --configure -a && "
               f"{refresh}apt-get -q -y -o DPkg::Lock::Timeout=300 "
               f"-o Dpkg::Use-Pty=0 install --no-install-recommends {extra}{names}", timeout=APT_TIMEOUT)


def base_packages(ctx: Context) -> Change:
    """The Debian packages of BASE_PACKAGES are installed."""
    missing = [name for name in BASE_PACKAGES if ctx.facts.packages.installed(name) is None]
    if not missing:
        return ok(f"{', '.join(BASE_PACKAGES)} installed")
    return Change(f"install {', '.join(missing)}", (apt_install(missing),))


def containerd_config(containerd_version: str) -> str:
    """config.toml for containerd 1.x (config version 2) or 2.x (version 3): runc with the systemd
    cgroup driver (the kubelet's cgroupDriver is systemd too) and Debian's CNI plugin folder."""
    major = upstream_version(containerd_version).split(".", 1)[0]
    header = "# Written by the appliance's provisioning; it is rewritten when it differs.\n"
    if major.isdigit() and int(major) >= 2:
        cri = "plugins.'io.containerd.cri.v1.runtime'"
        return (f"{header}version = 3\n\n"
                f"[{cri}.containerd.runtimes.runc]\n  runtime_type = 'io.containerd.runc.v2'\n\n"
                f"[{cri}.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n\n"
                f"[{cri}.cni]\n  bin_dir = '{paths.CNI_BIN_DIR}'\n  conf_dir = '{paths.CNI_CONF_DIR}'\n")
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return (f"{header}version = 2\n\n"
            f"[{cri}.containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\n"
            f"[{cri}.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n\n"
            f"[{cri}.cni]\n  bin_dir = \"{paths.CNI_BIN_DIR}\"\n  conf_dir = \"{paths.CNI_CONF_DIR}\"\n")


def containerd(ctx: Context) -> Change:
    """containerd runs, enabled, with the appliance's config (restarted when the config changes)."""
    package = ctx.facts.packages.installed("containerd")
    if package is None:
        raise ProvisionError(f"{ctx.node}: containerd is not installed; the packages step did not run")
    text = containerd_config(package.version)
    unit = ctx.facts.units["containerd.service"]
    actions: list[Put | Run] = []
    if ctx.facts.state.containerd_config_sha256 != hashlib.sha256(text.encode()).hexdigest():
        actions += [Put(paths.CONTAINERD_CONFIG, text.encode()),
                    Run("systemctl enable containerd && systemctl restart containerd")]
    elif not (unit.enabled and unit.active):
        actions.append(Run("systemctl enable --now containerd"))
    if not actions:
        return ok(f"containerd {upstream_version(package.version)} runs with SystemdCgroup = true")
    return Change(f"containerd {upstream_version(package.version)}: config with SystemdCgroup = true, "
                  "enabled and running", tuple(actions))


def cni_plugins(ctx: Context) -> Change:
    """The CNI plugins the agent's config names are in containerd's plugin folder."""
    missing = [name for name in CNI_PLUGINS if name not in ctx.facts.state.cni_plugins]
    if not missing:
        return ok(f"CNI plugins {', '.join(CNI_PLUGINS)} in {paths.CNI_BIN_DIR}")
    return Change(f"{', '.join(missing)} missing from {paths.CNI_BIN_DIR}: reinstall containernetworking-plugins",
                  (apt_install(["containernetworking-plugins"], extra="--reinstall "),))
