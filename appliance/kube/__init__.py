"""The Kubernetes adapter: the master's side of the API (INTERFACES.md).

    client = KubeClient.from_state_dir(state_dir)     # KubeUnavailable before `init`
    token = client.create_token(ttl=7200, description="laptop")
    client.join_command(token.token)                  # kubeadm join HOST:6443 --token … --discovery-token-ca-cert-hash sha256:…
"""

from appliance.kube.client import ADMIN_CONF, KubeClient
from appliance.kube.errors import KubeRequestError, KubeUnavailable
from appliance.kube.kubeconfig import KubeConfig, laptop_kubeconfig, parse_kubeconfig
from appliance.kube.nodes import KubeNode
from appliance.kube.tokens import BootstrapToken, ca_cert_hash, is_valid_token, is_valid_token_id

__all__ = [
    "ADMIN_CONF", "BootstrapToken", "KubeClient", "KubeConfig", "KubeNode", "KubeRequestError",
    "KubeUnavailable", "ca_cert_hash", "is_valid_token", "is_valid_token_id", "laptop_kubeconfig",
    "parse_kubeconfig",
]  # fmt: skip
