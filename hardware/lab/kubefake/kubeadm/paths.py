"""The paths kubeadm and the kubelet use (kubeadm's constants.go), in one place."""

from __future__ import annotations

from pathlib import Path

KUBERNETES_DIR = Path("/etc/kubernetes")
"""kubeadm's configuration directory."""
PKI_DIR = KUBERNETES_DIR / "pki"
"""certificatesDir default."""
MANIFESTS_DIR = KUBERNETES_DIR / "manifests"
"""Static pod manifests."""
ADMIN_CONF = KUBERNETES_DIR / "admin.conf"
"""Admin kubeconfig (group kubeadm:cluster-admins)."""
SUPER_ADMIN_CONF = KUBERNETES_DIR / "super-admin.conf"
"""Break-glass kubeconfig (group system:masters)."""
KUBELET_CONF = KUBERNETES_DIR / "kubelet.conf"
"""The kubelet's kubeconfig."""
BOOTSTRAP_KUBELET_CONF = KUBERNETES_DIR / "bootstrap-kubelet.conf"
"""The kubelet's TLS bootstrap kubeconfig (joining nodes)."""
CONTROLLER_MANAGER_CONF = KUBERNETES_DIR / "controller-manager.conf"
"""kube-controller-manager's kubeconfig."""
SCHEDULER_CONF = KUBERNETES_DIR / "scheduler.conf"
"""kube-scheduler's kubeconfig."""
KUBELET_DIR = Path("/var/lib/kubelet")
"""The kubelet's state."""
KUBELET_CONFIG = KUBELET_DIR / "config.yaml"
"""KubeletConfiguration written by kubeadm."""
KUBELET_FLAGS_ENV = KUBELET_DIR / "kubeadm-flags.env"
"""KUBELET_KUBEADM_ARGS written by kubeadm."""
KUBELET_PKI = KUBELET_DIR / "pki"
"""The kubelet's certificates."""
KUBELET_CLIENT_CURRENT = KUBELET_PKI / "kubelet-client-current.pem"
"""The kubelet's rotated client certificate and key."""
ETCD_DIR = Path("/var/lib/etcd")
"""etcd's data directory (the simulated API server's state)."""
CNI_DIR = Path("/etc/cni/net.d")
"""CNI configuration (reset leaves it)."""
KUBELET_HEALTHZ = "http://127.0.0.1:10248/healthz"
"""The kubelet's health endpoint."""
