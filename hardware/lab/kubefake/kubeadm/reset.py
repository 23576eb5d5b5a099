"""`kubeadm reset`: stop the kubelet, remove the static pods' processes, delete what init/join wrote.

Removes what the real one removes and no more: not /etc/cni/net.d, not
iptables, not $HOME/.kube. On a control plane it also empties /var/lib/etcd.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..kubelet.staticpods import stop_all
from . import paths
from .common import say, systemd_running, warn
from .errors import KubeadmError

CLOSING = """
The reset process does not clean CNI configuration. To do so, you must remove /etc/cni/net.d

The reset process does not reset or clean up iptables rules or IPVS tables.
If you wish to reset iptables, you must do so manually by using the "iptables" command.

If your cluster was setup to utilize IPVS, run ipvsadm --clear (or similar)
to reset your system's IPVS tables.

The reset process does not clean your kubeconfig files and you must remove them manually.
Please, check the contents of the $HOME/.kube/config file.
"""
FILES = [paths.ADMIN_CONF, paths.SUPER_ADMIN_CONF, paths.KUBELET_CONF, paths.BOOTSTRAP_KUBELET_CONF,
         paths.CONTROLLER_MANAGER_CONF, paths.SCHEDULER_CONF]
"""Files reset deletes."""
DIRS = [paths.MANIFESTS_DIR, paths.KUBELET_DIR, paths.PKI_DIR]
"""Directories whose contents reset deletes."""


def empty_directory(directory: Path) -> None:
    """Delete what is inside a directory, keeping the directory."""
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def run_reset(force: bool, answer: str | None = None) -> int:
    """The reset workflow; `answer` is what was read from stdin when not forced."""
    if not force:
        print("[reset] Are you sure you want to proceed? [y/N]: ", end="", flush=True)
        if (answer or "").strip().lower() not in ("y", "yes"):
            raise KubeadmError("won't proceed; the user didn't answer (Y|y) in order to continue")
    control_plane = (paths.MANIFESTS_DIR / "etcd.yaml").exists()
    say("[preflight] Running pre-flight checks")
    if control_plane:
        empty_directory(paths.ETCD_DIR)
        say(f"[reset] Deleted contents of the etcd data directory: {paths.ETCD_DIR}")
    say("[reset] Stopping the kubelet service")
    if systemd_running():
        subprocess.run(["systemctl", "stop", "kubelet"], capture_output=True, check=False)
    else:
        warn("[reset] The kubelet service could not be stopped by kubeadm: [no supported init system detected]")
    say(f'[reset] Unmounting mounted directories in "{paths.KUBELET_DIR}"')
    stop_all()
    for directory in DIRS:
        empty_directory(directory)
    say(f"[reset] Deleting contents of directories: [{' '.join(str(d) for d in DIRS)}]")
    for file in FILES:
        if file.exists() or file.is_symlink():
            os.unlink(file)
    say(f"[reset] Deleting files: [{' '.join(str(f) for f in FILES)}]")
    print(CLOSING, end="", flush=True)
    return 0
