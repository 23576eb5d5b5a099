"""`kubeadm init`: preflight, certificates, kubeconfigs, static pods, then the cluster objects.

The phases and their printed lines follow kubeadm v1.34's `init` workflow.
The control plane comes up the real way: kubeadm writes the static pod
manifests and the kubelet (a service from the kubelet package) starts the
simulated API server from them; init waits for the kubelet's /healthz and
the API server's /livez.
"""

from __future__ import annotations

import functools
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import kubeconfig, pubkeypin, tokens
from ..client import ApiStatusError, Client
from ..release import Release, current
from . import cluster, paths, phases, preflight
from .common import human_seconds, kubelet_healthy, kubelet_service, now, poll, say, warn
from .config import InitConfig, parse_init
from .errors import EXIT_VALIDATION, KubeadmError
from .joincmd import SUCCESS, join_command

INIT_PORTS = [6443, 10259, 10257, 10250, 2379, 2380]
"""Ports the init preflight checks."""


@dataclass
class InitOptions:
    """`kubeadm init` flags."""

    config: Path | None = None
    """--config."""
    flags: dict[str, str] = field(default_factory=dict)
    """Flags that change the configuration (mixed with --config is an error)."""
    ignore_preflight_errors: list[str] = field(default_factory=list)
    """--ignore-preflight-errors."""
    skip_token_print: bool = False
    """--skip-token-print."""
    timeout: float = 240.0
    """Wait for kubelet and control plane (kubeadm: 4m0s)."""


def _apply_flags(config: InitConfig, flags: dict[str, str]) -> None:
    for name, value in flags.items():
        if name == "node-name":
            config.node.name = value
        elif name == "apiserver-advertise-address":
            config.advertise_address = value
        elif name == "apiserver-bind-port":
            config.bind_port = int(value)
        elif name == "pod-network-cidr":
            config.pod_subnet = value
        elif name == "service-cidr":
            config.service_subnet = value
        elif name == "service-dns-domain":
            config.dns_domain = value
        elif name == "apiserver-cert-extra-sans":
            config.cert_sans = [s for s in value.split(",") if s]
        elif name == "kubernetes-version":
            config.kubernetes_version = value
        elif name == "control-plane-endpoint":
            config.control_plane_endpoint = value
        elif name == "cri-socket":
            config.node.cri_socket = value
        elif name == "token":
            config.bootstrap_tokens = [{"token": value}]
        elif name == "token-ttl":
            for token in config.bootstrap_tokens or [{}]:
                token["ttl"] = value
            config.bootstrap_tokens = config.bootstrap_tokens or [{"ttl": value}]


def default_address() -> str:
    """The address of the default route's interface (kubeadm's ChooseHostInterface). No packet is sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
            return str(sock.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def control_plane_version(config: InitConfig, own: Release) -> str:
    """The version to deploy; kubeadm refuses one below its minor minus one or above its own minor."""
    wanted = config.kubernetes_version or own.version
    if wanted in ("stable", "stable-1", "latest"):
        wanted = own.version
    if not wanted.startswith("v"):
        wanted = "v" + wanted
    try:
        minor = int(wanted.lstrip("v").split(".")[1])
    except (IndexError, ValueError):
        raise KubeadmError(f'couldn\'t parse version "{wanted}"', EXIT_VALIDATION) from None
    if minor < int(own.minor) - 1:
        raise KubeadmError(f"this version of kubeadm only supports deploying clusters with the control plane "
                           f"version >= 1.{int(own.minor) - 1}.0. Current version: {wanted}", EXIT_VALIDATION)
    if minor > int(own.minor):
        raise KubeadmError(f"the kubeadm version {own.version} is lower than the requested control plane "
                           f"version {wanted}; use a kubeadm of the same minor version", EXIT_VALIDATION)
    return wanted


def run_init(options: InitOptions) -> int:
    """The whole init workflow; KubeadmError on failure."""
    if options.config is not None and options.flags:
        raise KubeadmError(f"can not mix '--config' with arguments {sorted(options.flags)}", EXIT_VALIDATION)
    text = None
    if options.config is not None:
        try:
            text = options.config.read_text()
        except OSError as error:
            raise KubeadmError(f"unable to read config from {str(options.config)!r} : {error}") from None
    config = parse_init(text, advertise_default=options.flags.get("apiserver-advertise-address") or default_address())
    _apply_flags(config, options.flags)
    for warning in config.warnings:
        warn(warning)
    release = current()
    version = control_plane_version(config, release)
    say(f"[init] Using Kubernetes version: {version}", "[preflight] Running pre-flight checks")
    files = [str(paths.MANIFESTS_DIR / f"{n}.yaml") for n in
             ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")]
    dirs = [str(paths.ETCD_DIR)]
    facts = preflight.gather(INIT_PORTS, files, dirs, config.node.cri_socket)
    results = preflight.judge(facts, init=True, ports=INIT_PORTS, files=files, dirs=dirs)
    out, err, failure = preflight.report(results, options.ignore_preflight_errors + config.node.ignore_preflight_errors,
                                       facts)
    print(out, end="", flush=True)
    print(err, end="", file=sys.stderr, flush=True)
    if failure:
        raise failure
    say("[preflight] Pulling images required for setting up a Kubernetes cluster",
        "[preflight] This might take a minute or two, depending on the speed of your internet connection",
        "[preflight] You can also perform this action beforehand using 'kubeadm config images pull'")
    moment = now()
    lines, ca = phases.certificates(config, moment)
    say(*lines)
    say(*phases.kubeconfigs(config, ca, moment))
    say(*phases.manifests(config, version))
    kubelet_document = phases.kubelet_config(config)
    env = phases.flags_env(config.node.cri_socket, config.node.name, config.node.kubelet_extra_args,
                           socket.gethostname().lower())
    say(*phases.kubelet_files(kubelet_document, env), "[kubelet-start] Starting the kubelet")
    problem = kubelet_service("restart")
    if problem:
        say(problem)
    say(f'[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory "{paths.MANIFESTS_DIR}"',
        f"[kubelet-check] Waiting for a healthy kubelet at {paths.KUBELET_HEALTHZ}. This can take up to 4m0s")
    took = poll(kubelet_healthy, options.timeout)
    if took is None:
        raise KubeadmError("The HTTP call equal to 'curl -sSL http://127.0.0.1:10248/healthz' returned error: "
                           "Get \"http://127.0.0.1:10248/healthz\": dial tcp 127.0.0.1:10248: connect: connection "
                           "refused\n\nUnfortunately, an error has occurred, likely caused by:\n"
                           "\t- The kubelet is not running\n"
                           "\t- The kubelet is unhealthy due to a misconfiguration of the node in some way "
                           "(required cgroups disabled)", phase="wait-control-plane")
    say(f"[kubelet-check] The kubelet is healthy after {human_seconds(took)}",
        "[control-plane-check] Waiting for healthy control plane components. This can take up to 4m0s")
    admin = Client.from_kubeconfig(kubeconfig.load(paths.ADMIN_CONF), timeout=5)
    livez = f"https://{config.advertise_address}:{config.bind_port}/livez"
    say(f"[control-plane-check] Checking kube-apiserver at {livez}",
        "[control-plane-check] Checking kube-controller-manager at https://127.0.0.1:10257/healthz",
        "[control-plane-check] Checking kube-scheduler at https://127.0.0.1:10259/livez")
    took = poll(lambda: _livez(admin), options.timeout)
    if took is None:
        raise KubeadmError(f"kube-apiserver check failed at {livez}: context deadline exceeded",
                           phase="wait-control-plane")
    for component in ("kube-controller-manager", "kube-scheduler"):
        waited = poll(functools.partial(_mirror_running, admin, component, config.node.name), options.timeout)
        if waited is None:
            raise KubeadmError(f"{component} check failed: its static pod is not running", phase="wait-control-plane")
        say(f"[control-plane-check] {component} is healthy after {human_seconds(waited + took)}")
    say(f"[control-plane-check] kube-apiserver is healthy after {human_seconds(took)}")
    say(*cluster.upload_config(admin, config, kubelet_document, version))
    say(*cluster.mark_control_plane(admin, config, options.timeout))
    moment = now()
    made = [cluster.token_from_options(raw, moment) for raw in config.bootstrap_tokens or [{}]]
    server = phases.server_url(config)
    say(*cluster.bootstrap_tokens(admin, config, server, ca.cert_pem(), made))
    say(f'[kubelet-finalize] Updating "{paths.KUBELET_CONF}" to point to a rotatable kubelet client certificate and key')
    _finalize_kubelet_conf(server, ca.cert_pem(), config)
    say(*cluster.addons(admin, config, version))
    pin = pubkeypin.hash_of(ca.cert)
    token = "<value withheld>" if options.skip_token_print else str(made[0].token)
    print(SUCCESS.format(join=join_command(server.removeprefix("https://"), token, [pin])), end="", flush=True)
    return 0


def _livez(client: Client) -> bool:
    try:
        client.request("GET", "/livez")
        return True
    except ApiStatusError:
        return False


def _mirror_running(client: Client, component: str, node: str) -> bool:
    try:
        pod = client.get(f"/api/v1/namespaces/kube-system/pods/{component}-{node}")
    except ApiStatusError:
        return False
    status = pod.get("status")
    return isinstance(status, dict) and status.get("phase") == "Running"


def _finalize_kubelet_conf(server: str, ca_pem: bytes, config: InitConfig) -> None:
    if not paths.KUBELET_CLIENT_CURRENT.exists():
        return
    user = f"system:node:{config.node.name}"
    conf = kubeconfig.Kubeconfig(server, ca_pem, config.cluster_name, user)
    current_pem = str(paths.KUBELET_CLIENT_CURRENT)
    phases.write(paths.KUBELET_CONF, kubeconfig.render(conf, cert_files=(current_pem, current_pem)))


def new_token_text() -> str:
    """`kubeadm token generate`."""
    return str(tokens.generate_token())
