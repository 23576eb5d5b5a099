"""`kubeadm join` for workers: preflight, token discovery with CA pinning, then the TLS bootstrap.

Discovery is the real protocol: cluster-info is fetched anonymously over
TLS without verification (the only such call), its JWS signature is
checked with the token secret, the CA's public key is checked against every
--discovery-token-ca-cert-hash, and only then is the API server trusted.
"""

from __future__ import annotations

import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import jws, kubeconfig, pubkeypin, tokens
from ..client import ApiStatusError, Client, ssl_context
from . import paths, phases, preflight
from .common import human_seconds, kubelet_healthy, kubelet_service, poll, say, warn
from .config import JoinConfig, parse_join
from .errors import EXIT_VALIDATION, KubeadmError

JOIN_PORTS = [10250]
"""Ports the join preflight checks."""
UNSAFE_HASHLESS = ('discovery.bootstrapToken.caCertHashes: Invalid value: "": using token-based discovery without '
                   "caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or "
                   "pass --discovery-token-unsafe-skip-ca-verification flag to continue")
SUCCESS = """
This node has joined the cluster:
* Certificate signing request was sent to apiserver and a response was received.
* The Kubelet was informed of the new secure connection details.

Run 'kubectl get nodes' on the control-plane to see this node join the cluster.

"""


@dataclass
class JoinOptions:
    """`kubeadm join` flags."""

    endpoint: str = ""
    """The positional API server endpoint."""
    config: Path | None = None
    """--config."""
    join: JoinConfig = field(default_factory=JoinConfig)
    """Values from flags."""
    flags_given: list[str] = field(default_factory=list)
    """Names of configuration flags given (mixing them with --config is an error)."""
    ignore_preflight_errors: list[str] = field(default_factory=list)
    """--ignore-preflight-errors."""
    timeout: float = 240.0
    """Kubelet health and TLS bootstrap wait."""


def _discovery_error(message: str) -> KubeadmError:
    return KubeadmError(f"couldn't validate the identity of the API Server: {message}", phase="preflight")


def discover(config: JoinConfig, token: tokens.TokenString, pins: pubkeypin.PinSet) -> kubeconfig.Kubeconfig:
    """Token discovery: the trusted cluster (server + CA) from cluster-info."""
    endpoint = config.api_server_endpoint
    path = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
    insecure = Client(f"https://{endpoint}", ssl_context(None, insecure=True), timeout=5)
    key = f"jws-kubeconfig-{token.id}"
    deadline = time.monotonic() + config.timeout
    last = f"could not find a JWS signature in the cluster-info ConfigMap for token ID {tokens.go_quote(token.id)}"
    data: dict[str, object] = {}
    while True:
        try:
            found = insecure.get(path).get("data")
            data = found if isinstance(found, dict) else {}
            if key in data:
                break
            last = f"could not find a JWS signature in the cluster-info ConfigMap for token ID {tokens.go_quote(token.id)}"
        except ApiStatusError as error:
            last = str(error)
        except OSError as error:
            last = f'Get "https://{endpoint}{path}?timeout=10s": {error}'
        if time.monotonic() > deadline:
            raise _discovery_error(last)
        time.sleep(1.0)
    content = str(data.get("kubeconfig", ""))
    if not jws.detached_token_is_valid(str(data[key]), content, token.id, token.secret):
        raise _discovery_error("failed to verify JWS signature of received cluster info object, can't trust this API server")
    try:
        found_config = kubeconfig.parse(content)
        certificates = pubkeypin.load_certificates(found_config.ca_pem)
    except (kubeconfig.KubeconfigError, ValueError) as error:
        raise _discovery_error(f"couldn't parse the kubeconfig file in the cluster-info ConfigMap: {error}") from None
    if not pins.empty():
        try:
            pins.check(certificates)
        except pubkeypin.PinError as error:
            raise _discovery_error(f"cluster CA found in cluster-info ConfigMap is invalid: {error}") from None
    # Now that the CA is trusted, ask again over verified TLS (as kubeadm does).
    secure = Client.from_kubeconfig(kubeconfig.Kubeconfig(f"https://{endpoint}", found_config.ca_pem), timeout=5)
    again = secure.get(path).get("data")
    if not isinstance(again, dict) or again.get("kubeconfig") != content:
        raise _discovery_error("the second cluster-info fetch did not match the first one")
    return found_config


def run_join(options: JoinOptions) -> int:
    """The whole join workflow."""
    config = options.join
    if options.config is not None:
        if options.flags_given:
            raise KubeadmError(f"can not mix '--config' with arguments {sorted(options.flags_given)}", EXIT_VALIDATION)
        try:
            parse_join(options.config.read_text(), config)
        except OSError as error:
            raise KubeadmError(f"unable to read config from {str(options.config)!r} : {error}") from None
    config.api_server_endpoint = options.endpoint or config.api_server_endpoint
    config.node.name = (config.node.name or socket.gethostname()).lower()
    if not config.token:
        raise KubeadmError("discovery: Invalid value: \"\": bootstrapToken or file must be set", EXIT_VALIDATION)
    try:
        token = tokens.parse_token(config.token)
    except tokens.TokenError as error:
        raise KubeadmError(f"discovery.bootstrapToken.token: Invalid value: \"{config.token}\": {error}",
                           EXIT_VALIDATION) from None
    pins = pubkeypin.PinSet()
    try:
        pins.allow(*config.ca_cert_hashes)
    except pubkeypin.PinError as error:
        raise KubeadmError(f"discovery.bootstrapToken.caCertHashes: Invalid value: {config.ca_cert_hashes!r}: "
                           f"{error}", EXIT_VALIDATION) from None
    if pins.empty() and not config.unsafe_skip_ca_verification:
        raise KubeadmError(UNSAFE_HASHLESS, EXIT_VALIDATION)
    if not config.api_server_endpoint:
        raise KubeadmError('discovery.bootstrapToken.apiServerEndpoint: Invalid value: "": '
                           "the apiServerEndpoint must be set", EXIT_VALIDATION)
    say("[preflight] Running pre-flight checks")
    files = [str(paths.KUBELET_CONF), str(paths.BOOTSTRAP_KUBELET_CONF), str(paths.PKI_DIR / "ca.crt")]
    dirs = [str(paths.MANIFESTS_DIR)]
    facts = preflight.gather(JOIN_PORTS, files, dirs, config.node.cri_socket)
    results = preflight.judge(facts, init=False, ports=JOIN_PORTS, files=files, dirs=dirs)
    out, err, failure = preflight.report(results, options.ignore_preflight_errors + config.node.ignore_preflight_errors,
                                       facts)
    print(out, end="", flush=True)
    print(err, end="", file=sys.stderr, flush=True)
    if failure:
        raise failure
    cluster = discover(config, token, pins)
    tls_token = config.tls_bootstrap_token or config.token
    bootstrap = kubeconfig.Kubeconfig(cluster.server, cluster.ca_pem, "kubernetes", "tls-bootstrap-token-user",
                                      token=tls_token)
    client = Client.from_kubeconfig(bootstrap, timeout=5)
    say('[preflight] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...',
        "[preflight] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it.")
    try:
        kubelet_cm = client.get("/api/v1/namespaces/kube-system/configmaps/kubelet-config")
        client.get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
    except ApiStatusError as error:
        raise KubeadmError(f"unable to fetch the kubeadm-config ConfigMap: {error}", phase="preflight") from None
    try:
        existing = client.get(f"/api/v1/nodes/{config.node.name}")
        conditions = (existing.get("status") or {}).get("conditions") or []  # type: ignore[union-attr]
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            raise KubeadmError(f'a Node with name "{config.node.name}" and status "Ready" already exists in the '
                               "cluster. You must delete the existing Node or change the name of this new joining "
                               "Node", phase="kubelet-start")
    except ApiStatusError as error:
        if error.code != 404:
            raise KubeadmError(f"cannot get Node {config.node.name!r}: {error}", phase="kubelet-start") from None
    kubelet_text = str((kubelet_cm.get("data") or {}).get("kubelet", ""))  # type: ignore[union-attr]
    document = yaml.safe_load(kubelet_text) if kubelet_text else {}
    phases.write(paths.BOOTSTRAP_KUBELET_CONF, kubeconfig.render(bootstrap))
    phases.write(paths.PKI_DIR / "ca.crt", cluster.ca_pem, 0o644)
    phases.write(paths.KUBELET_CONFIG, yaml.safe_dump(document or {}, sort_keys=True), 0o644)
    say(f'[kubelet-start] Writing kubelet configuration to file "{paths.KUBELET_CONFIG}"')
    env = phases.flags_env(config.node.cri_socket, config.node.name, config.node.kubelet_extra_args,
                           socket.gethostname().lower())
    phases.write(paths.KUBELET_FLAGS_ENV, env, 0o644)
    say(f'[kubelet-start] Writing kubelet environment file with flags to file "{paths.KUBELET_FLAGS_ENV}"',
        "[kubelet-start] Starting the kubelet")
    problem = kubelet_service("restart")
    if problem:
        say(problem)
    say(f"[kubelet-check] Waiting for a healthy kubelet at {paths.KUBELET_HEALTHZ}. This can take up to 4m0s")
    took = poll(kubelet_healthy, options.timeout)
    if took is None:
        raise KubeadmError("The HTTP call equal to 'curl -sSL http://127.0.0.1:10248/healthz' returned error: "
                           "Get \"http://127.0.0.1:10248/healthz\": dial tcp 127.0.0.1:10248: connect: connection "
                           "refused", phase="kubelet-start")
    say(f"[kubelet-check] The kubelet is healthy after {human_seconds(took)}",
        "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap")
    if poll(lambda: paths.KUBELET_CONF.exists(), options.timeout) is None:
        raise KubeadmError("failed while waiting for the kubelet to start the TLS Bootstrap: timed out waiting "
                           "for the condition", phase="kubelet-start")
    paths.BOOTSTRAP_KUBELET_CONF.unlink(missing_ok=True)
    print(SUCCESS, end="", flush=True)
    return 0


def note_deprecations(warnings: list[str]) -> None:
    """Print collected deprecation warnings."""
    for warning in warnings:
        warn(warning)
