"""What `kubeadm init` writes to disk: certificates, kubeconfigs, static pod manifests, kubelet files.

Each function writes its files and returns the lines kubeadm prints for
them, so init.py stays a readable list of phases.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from .. import pki
from ..kubeconfig import Kubeconfig, render
from . import paths
from .config import InitConfig


def write(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Write a file with kubeadm's permissions, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as out:
        out.write(raw)
    os.chmod(path, mode)


def _save(directory: Path, name: str, pair: pki.KeyPair) -> None:
    write(directory / f"{name}.crt", pair.cert_pem(), 0o644)
    write(directory / f"{name}.key", pair.key_pem())


def service_ip(subnet: str) -> str:
    """The first address of the service subnet (the `kubernetes` service, 10.96.0.1)."""
    return str(next(ipaddress.ip_network(subnet).hosts()))


def dns_ip(subnet: str) -> str:
    """The tenth address of the service subnet (kube-dns, 10.96.0.10)."""
    return str(ipaddress.ip_network(subnet).network_address + 10)


def apiserver_sans(config: InitConfig) -> tuple[list[str], list[str]]:
    """(DNS names sorted, IPs in kubeadm's order) of the API server's serving certificate."""
    dns = {config.node.name, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           f"kubernetes.default.svc.{config.dns_domain}"}
    ips = [service_ip(config.service_subnet), config.advertise_address]
    endpoint_host = config.control_plane_endpoint.rsplit(":", 1)[0] if config.control_plane_endpoint else ""
    for san in [*config.cert_sans, *([endpoint_host] if endpoint_host else [])]:
        try:
            address = str(ipaddress.ip_address(san))
            if address not in ips:
                ips.append(address)
        except ValueError:
            dns.add(san)
    return sorted(dns), ips


def certificates(config: InitConfig, now: datetime) -> tuple[list[str], pki.KeyPair]:
    """The whole /etc/kubernetes/pki tree; returns kubeadm's lines and the CA."""
    directory = Path(config.certificates_dir)
    lines = [f'[certs] Using certificateDir folder "{directory}"']
    ca = pki.new_ca("kubernetes", now)
    _save(directory, "ca", ca)
    lines.append('[certs] Generating "ca" certificate and key')
    dns, ips = apiserver_sans(config)
    _save(directory, "apiserver", pki.new_leaf(ca, pki.CertSpec("kube-apiserver", [], dns, ips, server=True), now))
    lines.append('[certs] Generating "apiserver" certificate and key')
    lines.append(f"[certs] apiserver serving cert is signed for DNS names [{' '.join(dns)}] and IPs [{' '.join(ips)}]")
    _save(directory, "apiserver-kubelet-client", pki.new_leaf(
        ca, pki.CertSpec("kube-apiserver-kubelet-client", ["kubeadm:cluster-admins"], client=True), now))
    lines.append('[certs] Generating "apiserver-kubelet-client" certificate and key')
    front = pki.new_ca("front-proxy-ca", now)
    _save(directory, "front-proxy-ca", front)
    lines.append('[certs] Generating "front-proxy-ca" certificate and key')
    _save(directory, "front-proxy-client", pki.new_leaf(front, pki.CertSpec("front-proxy-client", client=True), now))
    lines.append('[certs] Generating "front-proxy-client" certificate and key')
    etcd = pki.new_ca("etcd-ca", now)
    _save(directory / "etcd", "ca", etcd)
    lines.append('[certs] Generating "etcd/ca" certificate and key')
    etcd_dns = sorted({"localhost", config.node.name})
    etcd_ips = [config.advertise_address, "127.0.0.1", "::1"]
    for name in ("server", "peer"):
        spec = pki.CertSpec(config.node.name, [], etcd_dns, etcd_ips, server=True, client=True)
        _save(directory / "etcd", name, pki.new_leaf(etcd, spec, now))
        lines.append(f'[certs] Generating "etcd/{name}" certificate and key')
        lines.append(f"[certs] etcd/{name} serving cert is signed for DNS names [{' '.join(etcd_dns)}] "
                     f"and IPs [{' '.join(etcd_ips)}]")
    _save(directory / "etcd", "healthcheck-client",
          pki.new_leaf(etcd, pki.CertSpec("kube-etcd-healthcheck-client", client=True), now))
    lines.append('[certs] Generating "etcd/healthcheck-client" certificate and key')
    _save(directory, "apiserver-etcd-client",
          pki.new_leaf(etcd, pki.CertSpec("kube-apiserver-etcd-client", client=True), now))
    lines.append('[certs] Generating "apiserver-etcd-client" certificate and key')
    service_account = pki.new_key()
    write(directory / "sa.key", pki.key_pem(service_account))
    write(directory / "sa.pub", pki.public_key_pem(service_account), 0o644)
    lines.append('[certs] Generating "sa" key and public key')
    return lines, ca


def server_url(config: InitConfig) -> str:
    """The API server URL in kubeconfigs (controlPlaneEndpoint if set, else the advertise address)."""
    if config.control_plane_endpoint:
        host = config.control_plane_endpoint
        return f"https://{host}" if ":" in host else f"https://{host}:{config.bind_port}"
    return f"https://{config.advertise_address}:{config.bind_port}"


def kubeconfig_for(ca: pki.KeyPair, server: str, cluster: str, user: str, groups: list[str],
                   now: datetime) -> str:
    """A kubeconfig with an embedded client certificate for `user`."""
    pair = pki.new_leaf(ca, pki.CertSpec(user, groups, client=True), now)
    return render(Kubeconfig(server, ca.cert_pem(), cluster, user, pair.cert_pem(), pair.key_pem()))


def kubeconfigs(config: InitConfig, ca: pki.KeyPair, now: datetime) -> list[str]:
    """admin, super-admin, kubelet, controller-manager and scheduler kubeconfigs."""
    server = server_url(config)
    lines = [f'[kubeconfig] Using kubeconfig folder "{paths.KUBERNETES_DIR}"']
    users = [
        (paths.ADMIN_CONF, "kubernetes-admin", ["kubeadm:cluster-admins"]),
        (paths.SUPER_ADMIN_CONF, "kubernetes-super-admin", ["system:masters"]),
        (paths.KUBELET_CONF, f"system:node:{config.node.name}", ["system:nodes"]),
        (paths.CONTROLLER_MANAGER_CONF, "system:kube-controller-manager", []),
        (paths.SCHEDULER_CONF, "system:kube-scheduler", []),
    ]
    for path, user, groups in users:
        write(path, kubeconfig_for(ca, server, config.cluster_name, user, groups, now))
        lines.append(f'[kubeconfig] Writing "{path.name}" kubeconfig file')
    return lines


def _pod(name: str, image: str, command: list[str], port: int, scheme: str, probe: str,
         host: str = "127.0.0.1") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"creationTimestamp": None, "labels": {"component": name, "tier": "control-plane"},
                     "name": name, "namespace": "kube-system"},
        "spec": {
            "containers": [{
                "command": command, "image": image, "imagePullPolicy": "IfNotPresent", "name": name,
                "livenessProbe": {"failureThreshold": 8, "httpGet": {"host": host, "path": probe, "port": port,
                                                                     "scheme": scheme}},
                "resources": {"requests": {"cpu": "250m" if name == "kube-apiserver" else "200m"}},
            }],
            "hostNetwork": True, "priority": 2000001000, "priorityClassName": "system-node-critical",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        },
        "status": {},
    }


def _flags(defaults: list[tuple[str, str]], extra: list[tuple[str, str]]) -> list[str]:
    merged = dict(defaults)
    merged.update(dict(extra))
    return [f"--{k}={v}" for k, v in sorted(merged.items())]


def manifests(config: InitConfig, version: str) -> list[str]:
    """Static pod manifests for etcd and the control plane."""
    pki_dir, domain = config.certificates_dir, config.dns_domain
    registry = "registry.k8s.io"
    apiserver = _flags([
        ("advertise-address", config.advertise_address), ("allow-privileged", "true"),
        ("authorization-mode", "Node,RBAC"), ("client-ca-file", f"{pki_dir}/ca.crt"),
        ("enable-admission-plugins", "NodeRestriction"), ("enable-bootstrap-token-auth", "true"),
        ("etcd-cafile", f"{pki_dir}/etcd/ca.crt"), ("etcd-certfile", f"{pki_dir}/apiserver-etcd-client.crt"),
        ("etcd-keyfile", f"{pki_dir}/apiserver-etcd-client.key"), ("etcd-servers", "https://127.0.0.1:2379"),
        ("kubelet-client-certificate", f"{pki_dir}/apiserver-kubelet-client.crt"),
        ("kubelet-client-key", f"{pki_dir}/apiserver-kubelet-client.key"),
        ("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname"),
        ("proxy-client-cert-file", f"{pki_dir}/front-proxy-client.crt"),
        ("proxy-client-key-file", f"{pki_dir}/front-proxy-client.key"),
        ("requestheader-allowed-names", "front-proxy-client"),
        ("requestheader-client-ca-file", f"{pki_dir}/front-proxy-ca.crt"),
        ("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
        ("requestheader-group-headers", "X-Remote-Group"), ("requestheader-username-headers", "X-Remote-User"),
        ("secure-port", str(config.bind_port)),
        ("service-account-issuer", f"https://kubernetes.default.svc.{domain}"),
        ("service-account-key-file", f"{pki_dir}/sa.pub"),
        ("service-account-signing-key-file", f"{pki_dir}/sa.key"),
        ("service-cluster-ip-range", config.service_subnet),
        ("tls-cert-file", f"{pki_dir}/apiserver.crt"), ("tls-private-key-file", f"{pki_dir}/apiserver.key"),
    ], config.apiserver_args)
    cm_defaults = [
        ("authentication-kubeconfig", str(paths.CONTROLLER_MANAGER_CONF)),
        ("authorization-kubeconfig", str(paths.CONTROLLER_MANAGER_CONF)), ("bind-address", "127.0.0.1"),
        ("client-ca-file", f"{pki_dir}/ca.crt"), ("cluster-name", config.cluster_name),
        ("cluster-signing-cert-file", f"{pki_dir}/ca.crt"), ("cluster-signing-key-file", f"{pki_dir}/ca.key"),
        ("controllers", "*,bootstrapsigner,tokencleaner"), ("kubeconfig", str(paths.CONTROLLER_MANAGER_CONF)),
        ("leader-elect", "true"), ("requestheader-client-ca-file", f"{pki_dir}/front-proxy-ca.crt"),
        ("root-ca-file", f"{pki_dir}/ca.crt"), ("service-account-private-key-file", f"{pki_dir}/sa.key"),
        ("service-cluster-ip-range", config.service_subnet), ("use-service-account-credentials", "true"),
    ]
    if config.pod_subnet:
        cm_defaults += [("allocate-node-cidrs", "true"), ("cluster-cidr", config.pod_subnet)]
    controller_manager = _flags(cm_defaults, config.controller_manager_args)
    scheduler = _flags([("authentication-kubeconfig", str(paths.SCHEDULER_CONF)),
                        ("authorization-kubeconfig", str(paths.SCHEDULER_CONF)), ("bind-address", "127.0.0.1"),
                        ("kubeconfig", str(paths.SCHEDULER_CONF)), ("leader-elect", "true")], config.scheduler_args)
    etcd = _flags([
        ("advertise-client-urls", f"https://{config.advertise_address}:2379"),
        ("cert-file", f"{pki_dir}/etcd/server.crt"), ("client-cert-auth", "true"),
        ("data-dir", str(paths.ETCD_DIR)), ("key-file", f"{pki_dir}/etcd/server.key"),
        ("listen-client-urls", f"https://127.0.0.1:2379,https://{config.advertise_address}:2379"),
        ("name", config.node.name), ("trusted-ca-file", f"{pki_dir}/etcd/ca.crt"),
    ], [])
    pods = {
        "etcd": _pod("etcd", f"{registry}/etcd:3.6.4-0", ["etcd", *etcd], 2381, "HTTP", "/livez"),
        "kube-apiserver": _pod("kube-apiserver", f"{registry}/kube-apiserver:{version}",
                               ["kube-apiserver", *apiserver], config.bind_port, "HTTPS", "/livez",
                               config.advertise_address),
        "kube-controller-manager": _pod("kube-controller-manager", f"{registry}/kube-controller-manager:{version}",
                                        ["kube-controller-manager", *controller_manager], 10257, "HTTPS", "/healthz"),
        "kube-scheduler": _pod("kube-scheduler", f"{registry}/kube-scheduler:{version}",
                               ["kube-scheduler", *scheduler], 10259, "HTTPS", "/livez"),
    }
    lines = []
    for name, pod in pods.items():
        if name == "etcd":
            lines.append(f'[etcd] Creating static Pod manifest for local etcd in "{paths.MANIFESTS_DIR}"')
        else:
            if name == "kube-apiserver":
                lines.append(f'[control-plane] Using manifest folder "{paths.MANIFESTS_DIR}"')
            lines.append(f'[control-plane] Creating static Pod manifest for "{name}"')
        write(paths.MANIFESTS_DIR / f"{name}.yaml", yaml.safe_dump(pod, sort_keys=True))
    return lines


KUBELET_DEFAULTS: dict[str, Any] = {
    "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
    "authentication": {"anonymous": {"enabled": False}, "webhook": {"cacheTTL": "0s", "enabled": True},
                       "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}},
    "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "0s", "cacheUnauthorizedTTL": "0s"}},
    "cgroupDriver": "systemd", "clusterDomain": "cluster.local", "containerRuntimeEndpoint": "",
    "cpuManagerReconcilePeriod": "0s", "evictionPressureTransitionPeriod": "0s",
    "fileCheckFrequency": "0s", "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
    "httpCheckFrequency": "0s", "imageMaximumGCAge": "0s", "imageMinimumGCAge": "0s",
    "logging": {"flushFrequency": 0, "options": {"json": {"infoBufferSize": "0"}, "text": {"infoBufferSize": "0"}},
                "verbosity": 0},
    "memorySwap": {}, "nodeStatusReportFrequency": "0s", "nodeStatusUpdateFrequency": "0s",
    "rotateCertificates": True, "runtimeRequestTimeout": "0s", "shutdownGracePeriod": "0s",
    "shutdownGracePeriodCriticalPods": "0s", "staticPodPath": str(paths.MANIFESTS_DIR),
    "streamingConnectionIdleTimeout": "0s", "syncFrequency": "0s", "volumeStatsAggPeriod": "0s",
}
"""The KubeletConfiguration kubeadm writes, before the user's own fields."""


def kubelet_config(config: InitConfig) -> dict[str, Any]:
    """KubeletConfiguration: kubeadm's defaults, the cluster's DNS, the user's document on top."""
    document = dict(KUBELET_DEFAULTS)
    document["clusterDNS"] = [dns_ip(config.service_subnet)]
    document["clusterDomain"] = config.dns_domain
    document.update({k: v for k, v in config.kubelet.items() if k not in ("apiVersion", "kind")})
    return document


def flags_env(cri_socket: str, node_name: str, extra: list[tuple[str, str]], hostname: str) -> str:
    """kubeadm-flags.env: KUBELET_KUBEADM_ARGS="..." (%s=%q)."""
    flags = [("container-runtime-endpoint", cri_socket)]
    if node_name != hostname:
        flags.append(("hostname-override", node_name))
    flags += extra
    args = " ".join(f"--{k}={v}" for k, v in flags)
    return f'KUBELET_KUBEADM_ARGS="{args}"\n'


def kubelet_files(config_document: dict[str, Any], env: str) -> list[str]:
    """Write kubeadm-flags.env and config.yaml, as the kubelet-start phase does."""
    write(paths.KUBELET_FLAGS_ENV, env, 0o644)
    write(paths.KUBELET_CONFIG, yaml.safe_dump(config_document, sort_keys=True), 0o644)
    return [f'[kubelet-start] Writing kubelet environment file with flags to file "{paths.KUBELET_FLAGS_ENV}"',
            f'[kubelet-start] Writing kubelet configuration to file "{paths.KUBELET_CONFIG}"']
