"""The simulated kubelet: static pods, TLS bootstrap, node registration and heartbeats.

Run by systemd from the kubelet package exactly as the real one
(`kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS
$KUBELET_EXTRA_ARGS`). Without /var/lib/kubelet/config.yaml it exits 1 with
the real error, so systemd restarts it every 10 s until kubeadm has written
it. Then it serves /healthz on 127.0.0.1:10248, holds port 10250, runs the
static pods, gets its client certificate (from kubelet.conf, or through the
bootstrap kubeconfig with a real CSR the API server signs), registers the
Node, posts its status every 10 s and marks the pods bound to it Running.
It runs no containers: there is no CRI call anywhere in the simulation.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import platform
import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .. import kubeconfig, pki
from ..client import ApiStatusError, Client
from ..release import current, platform_name
from . import node as nodes
from .staticpods import StaticPods

log = logging.getLogger("kubelet")
PKI_DIR = Path("/var/lib/kubelet/pki")
"""Where the kubelet keeps its certificates."""
STATUS_PERIOD = 10.0
"""nodeStatusUpdateFrequency."""
CNI_DIR = Path("/etc/cni/net.d")
"""Where the runtime looks for CNI configuration."""


def now() -> datetime:
    """The wall clock."""
    return datetime.now(UTC)


def parse_flags(argv: list[str]) -> argparse.Namespace:
    """The kubelet flags kubeadm's drop-in and flags file pass; others are accepted and ignored."""
    parser = argparse.ArgumentParser(prog="kubelet", allow_abbrev=False)
    parser.add_argument("--bootstrap-kubeconfig", type=Path)
    parser.add_argument("--kubeconfig", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--container-runtime-endpoint", default="unix:///var/run/containerd/containerd.sock")
    parser.add_argument("--hostname-override", default="")
    parser.add_argument("--node-ip", default="")
    parser.add_argument("--node-labels", default="")
    parser.add_argument("--version", action="store_true")
    flags, _unknown = parser.parse_known_args(argv)
    return flags


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"ok"
        self.send_response(200 if self.path.startswith("/healthz") else 404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


def _serve(address: tuple[str, int]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(address, _Health)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def machine_facts(name: str, address: str, network_ready: bool) -> nodes.MachineFacts:
    """Read the machine: os-release, memory, CPUs, machine-id, containerd."""
    pretty = "Linux"
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.split("=", 1)[1].strip().strip('"')
    memory = 0
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1])
    runtime = "containerd://unknown (simulated: no CRI calls)"
    return nodes.MachineFacts(
        name=name, hostname=socket.gethostname().lower(), address=address, arch=platform_name().split("/")[1],
        kernel=platform.release(), os_image=pretty, cpus=os.cpu_count() or 1, memory_kib=memory,
        machine_id=_read("/etc/machine-id").strip(), kubelet_version=current().version, runtime_version=runtime,
        network_ready=network_ready)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def source_address(server: str) -> str:
    """The local address used to reach the API server (the kubelet's default node IP). No packet is sent."""
    host = urlsplit(server).hostname or "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((host, 6443))
            return str(sock.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def cni_configured(directory: Path = CNI_DIR) -> bool:
    """A CNI network configuration exists (what the runtime's NetworkReady means)."""
    return directory.is_dir() and any(p.suffix in (".conf", ".conflist", ".json") for p in directory.iterdir())


class Kubelet:
    """One kubelet's state and loop."""

    def __init__(self, flags: argparse.Namespace, config: dict[str, Any]) -> None:
        self.flags = flags
        self.config = config
        self.name = (flags.hostname_override or socket.gethostname()).lower()
        self.static = StaticPods(Path(str(config.get("staticPodPath") or "/etc/kubernetes/manifests")))
        self.client: Client | None = None
        self.started = now()
        self.last_status = 0.0
        self.node_uid = ""
        self.stopping = threading.Event()

    def credentials(self) -> Client | None:
        """A client from kubelet.conf, after the TLS bootstrap if needed; None while not possible yet."""
        conf = self.flags.kubeconfig
        if conf is not None and conf.exists():
            config = kubeconfig.load(conf)
            if config.client_cert_pem and config.client_key_pem:
                current_pem = PKI_DIR / "kubelet-client-current.pem"
                if not current_pem.exists():
                    PKI_DIR.mkdir(parents=True, exist_ok=True)
                    current_pem.write_bytes(config.client_cert_pem + config.client_key_pem)
                    current_pem.chmod(0o600)
            return Client.from_kubeconfig(config, timeout=5)
        bootstrap = self.flags.bootstrap_kubeconfig
        if bootstrap is None or not bootstrap.exists() or conf is None:
            return None
        self.tls_bootstrap(kubeconfig.load(bootstrap), conf)
        return Client.from_kubeconfig(kubeconfig.load(conf), timeout=5)

    def tls_bootstrap(self, bootstrap: kubeconfig.Kubeconfig, conf: Path) -> None:
        """Request a client certificate with a CSR, wait for it, write kubelet.conf."""
        client = Client.from_kubeconfig(bootstrap, timeout=5)
        key = pki.new_key()
        request = pki.csr_for(key, f"system:node:{self.name}", ["system:nodes"])
        csr = client.create("/apis/certificates.k8s.io/v1/certificatesigningrequests", {
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"generateName": "csr-"},
            "spec": {"request": base64.b64encode(request).decode(),
                     "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                     "usages": ["digital signature", "key encipherment", "client auth"]}})
        name = str(csr["metadata"]["name"])  # type: ignore[index]
        log.info("certificate signing request %s is submitted", name)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not self.stopping.is_set():
            status = client.get(f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}").get("status")
            if isinstance(status, dict) and status.get("certificate"):
                certificate = base64.b64decode(str(status["certificate"]))
                PKI_DIR.mkdir(parents=True, exist_ok=True)
                stamp = now().strftime("%Y-%m-%d-%H-%M-%S")
                target = PKI_DIR / f"kubelet-client-{stamp}.pem"
                target.write_bytes(certificate + pki.key_pem(key))
                target.chmod(0o600)
                current_pem = PKI_DIR / "kubelet-client-current.pem"
                current_pem.unlink(missing_ok=True)
                current_pem.symlink_to(target)
                config = kubeconfig.Kubeconfig(bootstrap.server, bootstrap.ca_pem, "default-cluster", "default-auth")
                text = kubeconfig.render(config, cert_files=(str(current_pem), str(current_pem)))
                conf.parent.mkdir(parents=True, exist_ok=True)
                conf.write_text(text)
                conf.chmod(0o600)
                return
            time.sleep(0.5)
        raise TimeoutError(f"CSR {name} was not signed")

    def post_status(self) -> None:
        """Register the node (first time) and post its status."""
        assert self.client is not None
        address = self.flags.node_ip or source_address(self.client.server)
        facts = machine_facts(self.name, address, cni_configured())
        stamp = now()
        labels = dict(pair.split("=", 1) for pair in self.flags.node_labels.split(",") if "=" in pair)
        try:
            current_node = self.client.get(f"/api/v1/nodes/{self.name}")
        except ApiStatusError as error:
            if error.code != 404:
                raise
            created = self.client.create("/api/v1/nodes", nodes.node_object(facts, stamp, self.started, labels))
            self.node_uid = str(created["metadata"]["uid"])  # type: ignore[index]
            log.info("successfully registered node %s", self.name)
            return
        self.node_uid = str(current_node["metadata"]["uid"])  # type: ignore[index]
        status = nodes.status(facts, stamp, self.started)
        old = current_node.get("status") if isinstance(current_node.get("status"), dict) else {}
        for condition in status["conditions"]:  # type: ignore[attr-defined]
            previous = next((c for c in old.get("conditions") or [] if c.get("type") == condition["type"]), None)  # type: ignore[union-attr]
            if previous and previous.get("status") == condition["status"]:
                condition["lastTransitionTime"] = previous.get("lastTransitionTime", condition["lastTransitionTime"])
            else:
                condition["lastTransitionTime"] = condition["lastHeartbeatTime"]
        self.client.patch(f"/api/v1/nodes/{self.name}/status", {"status": status}, "strategic")

    def sync_pods(self, static: dict[str, dict[str, Any]]) -> None:
        """Mirror pods for the static pods; pods bound here marked Running."""
        assert self.client is not None
        address = self.flags.node_ip or source_address(self.client.server)
        stamp = now()
        for name, manifest in static.items():
            mirror = nodes.mirror_pod(name, self.name, manifest, self.node_uid, address, stamp)
            try:
                self.client.get(f"/api/v1/namespaces/kube-system/pods/{name}-{self.name}")
            except ApiStatusError as error:
                if error.code == 404:
                    self.client.create("/api/v1/namespaces/kube-system/pods", mirror)
        bound = self.client.get(f"/api/v1/pods?fieldSelector=spec.nodeName%3D{self.name}")
        for pod in bound.get("items") or []:  # type: ignore[union-attr]
            if not isinstance(pod, dict) or (pod.get("status") or {}).get("phase") == "Running":
                continue
            meta = pod.get("metadata") or {}
            spec = pod.get("spec") or {}
            pod_ip = address if spec.get("hostNetwork") else ""
            if not pod_ip:
                continue  # a pod network address needs the CNI plugins, which the simulation does not call
            containers = spec.get("containers") or []
            status = {"phase": "Running", "hostIP": address, "podIP": pod_ip, "startTime": stamp.isoformat(),
                      "conditions": [{"type": "Ready", "status": "True"}],
                      "containerStatuses": [{"name": c.get("name"), "ready": True, "restartCount": 0,
                                             "image": c.get("image"), "started": True,
                                             "state": {"running": {}}} for c in containers]}
            self.client.patch(f"/api/v1/namespaces/{meta.get('namespace')}/pods/{meta.get('name')}/status",
                              {"status": status})

    def loop(self) -> None:
        """Run until SIGTERM."""
        while not self.stopping.is_set():
            static = self.static.sync()
            try:
                if self.client is None:
                    self.client = self.credentials()
                if self.client is not None and time.monotonic() - self.last_status >= STATUS_PERIOD:
                    self.post_status()
                    self.last_status = time.monotonic()
                if self.client is not None and self.node_uid:
                    self.sync_pods(static)
            except (OSError, ApiStatusError, TimeoutError, kubeconfig.KubeconfigError, ValueError) as error:
                log.warning("%s", error)
                self.last_status = 0.0 if self.node_uid == "" else self.last_status
            self.stopping.wait(1.0)


def load_config(path: Path) -> dict[str, Any]:
    """The KubeletConfiguration file; SystemExit(1) with the real error if it cannot be read."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        reason = "no such file or directory" if isinstance(error, FileNotFoundError) else str(error.strerror).lower()
        print(f'E0000 00:00:00.000000 {os.getpid()} run.go:72] "command failed" err="failed to load kubelet '
              f'config file, path: {path}, error: failed to load Kubelet config file {path}, error failed to '
              f'read kubelet config file \\"{path}\\", error: open {path}: {reason}"', file=sys.stderr)
        raise SystemExit(1) from None
    except yaml.YAMLError as error:
        print(f'E run.go:72] "command failed" err="failed to load kubelet config file, path: {path}, '
              f'error: {error}"', file=sys.stderr)
        raise SystemExit(1) from None
    return document if isinstance(document, dict) else {}


def main(argv: list[str] | None = None) -> int:
    """The kubelet process."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s kubelet %(levelname)s %(message)s")
    flags = parse_flags(sys.argv[1:] if argv is None else argv)
    if flags.version:
        print(f"Kubernetes {current().version} ({'simulated by the appliance lab'})")
        return 0
    config = load_config(flags.config or Path("/var/lib/kubelet/config.yaml"))
    kubelet = Kubelet(flags, config)
    health = _serve((str(config.get("healthzBindAddress") or "127.0.0.1"), int(config.get("healthzPort") or 10248)))
    api_port = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    api_port.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    api_port.bind(("0.0.0.0", 10250))  # the kubelet API's port: held, so preflight sees it in use
    api_port.listen(16)
    signal.signal(signal.SIGTERM, lambda *_: kubelet.stopping.set())
    log.info("kubelet %s started for node %s (simulated by the appliance lab)", current().version, kubelet.name)
    try:
        kubelet.loop()
    except KeyboardInterrupt:
        pass
    finally:
        health.shutdown()
        api_port.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
