"""kubeadm configuration files: kubeadm.k8s.io/v1beta4 (current) and v1beta3 (deprecated).

Parses the documents kubeadm reads (InitConfiguration, ClusterConfiguration,
JoinConfiguration, KubeletConfiguration, KubeProxyConfiguration) into one
internal `InitConfig` / `JoinConfig`, with kubeadm's defaults, its
deprecation warning for v1beta3, and its errors for the v1beta4 change of
`extraArgs` from a map to a list of {name, value}.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import EXIT_GENERAL, EXIT_VALIDATION, KubeadmError

CURRENT = "kubeadm.k8s.io/v1beta4"
"""The current kubeadm config API."""
DEPRECATED = "kubeadm.k8s.io/v1beta3"
"""Still accepted, with a warning."""
OLD = ("kubeadm.k8s.io/v1beta1", "kubeadm.k8s.io/v1beta2", "kubeadm.k8s.io/v1alpha3")
"""Removed APIs."""
KUBELET_API = "kubelet.config.k8s.io/v1beta1"
"""KubeletConfiguration's API."""
DEFAULT_CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"
"""kubeadm's default CRI endpoint (containerd)."""
SCHEME = "k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"
"""Where kubeadm's scheme lives (part of its 'no kind registered' error)."""


@dataclass
class NodeRegistration:
    """nodeRegistration of Init/JoinConfiguration."""

    name: str = ""
    """Node name (default: the hostname, lowercased)."""
    cri_socket: str = DEFAULT_CRI_SOCKET
    """CRI endpoint."""
    taints: list[dict[str, str]] | None = None
    """Taints (None: kubeadm's default for control planes)."""
    kubelet_extra_args: list[tuple[str, str]] = field(default_factory=list)
    """Extra kubelet flags."""
    ignore_preflight_errors: list[str] = field(default_factory=list)
    """Preflight checks demoted to warnings."""


@dataclass
class InitConfig:
    """What `kubeadm init` needs, after defaults."""

    node: NodeRegistration = field(default_factory=NodeRegistration)
    """This node's registration."""
    advertise_address: str = ""
    """API server's advertised address."""
    bind_port: int = 6443
    """API server's port."""
    bootstrap_tokens: list[dict[str, Any]] = field(default_factory=list)
    """InitConfiguration.bootstrapTokens (raw)."""
    kubernetes_version: str = ""
    """ClusterConfiguration.kubernetesVersion (empty: kubeadm's own)."""
    control_plane_endpoint: str = ""
    """Shared endpoint of the control plane."""
    cluster_name: str = "kubernetes"
    """clusterName."""
    pod_subnet: str = ""
    """networking.podSubnet."""
    service_subnet: str = "10.96.0.0/12"
    """networking.serviceSubnet."""
    dns_domain: str = "cluster.local"
    """networking.dnsDomain."""
    cert_sans: list[str] = field(default_factory=list)
    """apiServer.certSANs."""
    apiserver_args: list[tuple[str, str]] = field(default_factory=list)
    """apiServer.extraArgs."""
    controller_manager_args: list[tuple[str, str]] = field(default_factory=list)
    """controllerManager.extraArgs."""
    scheduler_args: list[tuple[str, str]] = field(default_factory=list)
    """scheduler.extraArgs."""
    certificates_dir: str = "/etc/kubernetes/pki"
    """certificatesDir."""
    kubelet: dict[str, Any] = field(default_factory=dict)
    """KubeletConfiguration (raw, defaults added when written)."""
    cluster_document: dict[str, Any] = field(default_factory=dict)
    """The ClusterConfiguration as given (stored in kubeadm-config)."""
    warnings: list[str] = field(default_factory=list)
    """Deprecation warnings to print."""


@dataclass
class JoinConfig:
    """What `kubeadm join` needs (from flags or a JoinConfiguration)."""

    node: NodeRegistration = field(default_factory=NodeRegistration)
    """This node's registration."""
    api_server_endpoint: str = ""
    """discovery.bootstrapToken.apiServerEndpoint."""
    token: str = ""
    """discovery.bootstrapToken.token."""
    tls_bootstrap_token: str = ""
    """discovery.tlsBootstrapToken."""
    ca_cert_hashes: list[str] = field(default_factory=list)
    """discovery.bootstrapToken.caCertHashes."""
    unsafe_skip_ca_verification: bool = False
    """discovery.bootstrapToken.unsafeSkipCAVerification."""
    timeout: float = 300.0
    """Discovery timeout in seconds (v1beta4 timeouts.discovery)."""


def _args(value: Any, api: str, where: str) -> list[tuple[str, str]]:
    """extraArgs in either API's shape; the wrong shape is kubeadm's decoding error."""
    if value is None:
        return []
    if api == CURRENT:
        if not isinstance(value, list):
            raise KubeadmError(
                f"error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go struct "
                f"field {where}.extraArgs of type []v1beta4.Arg", EXIT_GENERAL)
        pairs = []
        for item in value:
            if not isinstance(item, dict) or "name" not in item:
                raise KubeadmError(f"{where}.extraArgs: Invalid value: each item needs a name and a value",
                                   EXIT_VALIDATION)
            pairs.append((str(item["name"]), str(item.get("value", ""))))
        return pairs
    if not isinstance(value, dict):
        raise KubeadmError(
            f"error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go struct "
            f"field {where}.extraArgs of type map[string]string", EXIT_GENERAL)
    return [(str(k), str(v)) for k, v in value.items()]


def _seconds(text: str) -> float:
    """A Go duration (`5m0s`, `10s`) in seconds."""
    import re
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text)
    if not parts:
        raise KubeadmError(f'time: invalid duration "{text}"')
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[u] for n, u in parts)


def documents(text: str) -> list[dict[str, Any]]:
    """The YAML documents of a config file (empty ones dropped)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise KubeadmError(f"error converting YAML to JSON: {error}") from None
    for doc in docs:
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            raise KubeadmError("Object 'Kind' is missing in the configuration document")
    return docs


def _api_check(doc: dict[str, Any], warnings: list[str]) -> str:
    api, kind = str(doc["apiVersion"]), str(doc["kind"])
    if api in OLD:
        raise KubeadmError(f'your configuration file uses an old API spec: "{api}" (kind: "{kind}"). Please use '
                           "kubeadm v1.22 instead and run 'kubeadm config migrate --old-config old.yaml "
                           "--new-config new.yaml', which will write the new, similar spec using a newer API version.")
    if api == DEPRECATED:
        warnings.append(f'your configuration file uses a deprecated API spec: "{api}" (kind: "{kind}"). Please use '
                        "'kubeadm config migrate --old-config old.yaml --new-config new.yaml', which will write "
                        "the new, similar spec using a newer API version.")
    elif api != CURRENT:
        raise KubeadmError(f'no kind "{kind}" is registered for version "{api}" in scheme "{SCHEME}"')
    return api


def _node_registration(raw: Any, api: str, node: NodeRegistration) -> None:
    if not isinstance(raw, dict):
        return
    node.name = str(raw.get("name") or node.name)
    node.cri_socket = str(raw.get("criSocket") or node.cri_socket)
    if "taints" in raw:
        node.taints = list(raw["taints"] or [])
    args = raw.get("kubeletExtraArgs")
    if args is not None:
        node.kubelet_extra_args = _args(args, api, "NodeRegistrationOptions.nodeRegistration")
    node.ignore_preflight_errors = [str(e) for e in raw.get("ignorePreflightErrors") or []]


def default_node_name() -> str:
    """The hostname, lowercased (kubeadm's default node name)."""
    return socket.gethostname().lower()


def _validate_init(config: InitConfig) -> None:
    problems = []
    try:
        ipaddress.ip_address(config.advertise_address)
    except ValueError:
        problems.append(f'localAPIEndpoint.advertiseAddress: Invalid value: "{config.advertise_address}": '
                        "couldn't use \"" + config.advertise_address + "\" as \"apiserver-advertise-address\", "
                        "must be ipv4 or ipv6 address")
    for name, value in (("networking.podSubnet", config.pod_subnet),
                        ("networking.serviceSubnet", config.service_subnet)):
        if value:
            try:
                ipaddress.ip_network(value)
            except ValueError:
                problems.append(f'{name}: Invalid value: "{value}": couldn\'t parse subnet')
    if not 0 < config.bind_port < 65536:
        problems.append(f'localAPIEndpoint.bindPort: Invalid value: {config.bind_port}: port number is not valid')
    if problems:
        raise KubeadmError("[" + ", ".join(problems) + "]" if len(problems) > 1 else problems[0], EXIT_VALIDATION)


def parse_init(text: str | None, *, advertise_default: str = "") -> InitConfig:
    """InitConfig from a config file's text (None: all defaults), validated."""
    try:
        return _parse_init(text, advertise_default)
    except (TypeError, ValueError, AttributeError) as error:
        # A field of the wrong shape: kubeadm's strict decoder fails the same way, naming the problem.
        raise KubeadmError(f"error unmarshaling JSON: while decoding JSON: {error}") from None


def _parse_init(text: str | None, advertise_default: str) -> InitConfig:
    config = InitConfig()
    config.node.name = default_node_name()
    for doc in documents(text) if text else []:
        api, kind = str(doc["apiVersion"]), str(doc["kind"])
        if api.startswith("kubeadm.k8s.io/"):
            api = _api_check(doc, config.warnings)
            if kind == "InitConfiguration":
                _node_registration(doc.get("nodeRegistration"), api, config.node)
                endpoint = doc.get("localAPIEndpoint") or {}
                config.advertise_address = str(endpoint.get("advertiseAddress") or "")
                config.bind_port = int(endpoint.get("bindPort") or 6443)
                config.bootstrap_tokens = list(doc.get("bootstrapTokens") or [])
            elif kind == "ClusterConfiguration":
                config.cluster_document = doc
                config.kubernetes_version = str(doc.get("kubernetesVersion") or "")
                config.control_plane_endpoint = str(doc.get("controlPlaneEndpoint") or "")
                config.cluster_name = str(doc.get("clusterName") or "kubernetes")
                config.certificates_dir = str(doc.get("certificatesDir") or config.certificates_dir)
                networking = doc.get("networking") or {}
                config.pod_subnet = str(networking.get("podSubnet") or "")
                config.service_subnet = str(networking.get("serviceSubnet") or config.service_subnet)
                config.dns_domain = str(networking.get("dnsDomain") or config.dns_domain)
                apiserver = doc.get("apiServer") or {}
                config.cert_sans = [str(s) for s in apiserver.get("certSANs") or []]
                config.apiserver_args = _args(apiserver.get("extraArgs"), api, "ClusterConfiguration.apiServer")
                config.controller_manager_args = _args((doc.get("controllerManager") or {}).get("extraArgs"), api,
                                                       "ClusterConfiguration.controllerManager")
                config.scheduler_args = _args((doc.get("scheduler") or {}).get("extraArgs"), api,
                                              "ClusterConfiguration.scheduler")
            elif kind not in ("JoinConfiguration", "ResetConfiguration", "UpgradeConfiguration"):
                raise KubeadmError(f'no kind "{kind}" is registered for version "{api}" in scheme "{SCHEME}"')
        elif api == KUBELET_API and kind == "KubeletConfiguration":
            config.kubelet = doc
        elif kind == "KubeProxyConfiguration":
            continue
        else:
            config.warnings.append(f'the configuration document with apiVersion "{api}" and kind "{kind}" '
                                   "is not supported and will be ignored")
    config.advertise_address = config.advertise_address or advertise_default
    _validate_init(config)
    return config


def parse_join(text: str, config: JoinConfig) -> JoinConfig:
    """Fill a JoinConfig from a JoinConfiguration file."""
    try:
        return _parse_join(text, config)
    except (TypeError, ValueError, AttributeError) as error:
        raise KubeadmError(f"error unmarshaling JSON: while decoding JSON: {error}") from None


def _parse_join(text: str, config: JoinConfig) -> JoinConfig:
    warnings: list[str] = []
    for doc in documents(text):
        if str(doc["apiVersion"]).startswith("kubeadm.k8s.io/") and doc["kind"] == "JoinConfiguration":
            api = _api_check(doc, warnings)
            _node_registration(doc.get("nodeRegistration"), api, config.node)
            discovery = doc.get("discovery") or {}
            token = discovery.get("bootstrapToken") or {}
            config.api_server_endpoint = str(token.get("apiServerEndpoint") or config.api_server_endpoint)
            config.token = str(token.get("token") or config.token)
            config.ca_cert_hashes = [str(h) for h in token.get("caCertHashes") or []] or config.ca_cert_hashes
            config.unsafe_skip_ca_verification = bool(token.get("unsafeSkipCAVerification"))
            config.tls_bootstrap_token = str(discovery.get("tlsBootstrapToken") or config.tls_bootstrap_token)
            timeouts = doc.get("timeouts") or {}
            if timeouts.get("discovery"):
                config.timeout = _seconds(str(timeouts["discovery"]))
    return config
