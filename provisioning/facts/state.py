"""What provisioning wrote before: managed files, the payloads, the agent's credential, Kubernetes' files.

The agent's credential is a secret and never leaves the node: the node hashes
the secret itself (sha256, as the registry stores it) and only the hash comes
back, so facts, logs and job output never hold it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from provisioning import paths
from provisioning.facts import script as s

# The credential file is `{"node": "...", "credential": "<token_urlsafe>"}` (AgentCredential.file_text).
_CREDENTIAL_HASH = (
    f"if [ -f {paths.AGENT_CREDENTIAL} ]; then "
    f"stat -c %a {paths.AGENT_CREDENTIAL}; "
    f"sed -n 's/.*\"node\": \"\\([A-Za-z0-9-]*\\)\".*/\\1/p' {paths.AGENT_CREDENTIAL}; "
    f"sed -n 's/.*\"credential\": \"\\([A-Za-z0-9_-]*\\)\".*/\\1/p' {paths.AGENT_CREDENTIAL} "
    "| tr -d '\\n' | sha256sum | cut -d' ' -f1; fi"
)

SECTIONS = (
    s.digest("containerd_config", paths.CONTAINERD_CONFIG),
    s.file("dhcpcd_conf", paths.DHCPCD_CONF),
    s.file("agent_payload", paths.AGENT_PAYLOAD_HASH),
    s.file("doctor_payload", paths.DOCTOR_PAYLOAD_HASH),
    s.digest("agent_unit", paths.AGENT_UNIT),
    s.command("agent_credential", _CREDENTIAL_HASH),
    s.digest("kubeadm_config", paths.KUBEADM_CONFIG),
    s.digest("admin_conf", paths.ADMIN_CONF),
    s.exists("kubelet_conf", paths.KUBELET_CONF),
    s.exists("bootstrap_kubelet_conf", paths.BOOTSTRAP_KUBELET_CONF),
    s.exists("ca_crt", paths.CA_CRT),
    s.command("manifests", f"ls -1 {paths.MANIFESTS_DIR}"),
    s.command("cni_confs", f"ls -1 {paths.CNI_CONF_DIR}"),
    s.exists("cni_state", paths.CNI_STATE_DIR),
    s.exists("cni0", "/sys/class/net/cni0"),
    s.command("kube_rules", "for t in iptables-save ip6tables-save; do $t 2>/dev/null; done "
                            "| grep -c -E '(KUBE-|CNI-)'"),
    s.exists("reboot_marker", paths.REBOOT_MARKER),
    *(s.command(f"cni_plugin:{name}", f"test -x {paths.CNI_BIN_DIR}/{name} && echo Y")
      for name in ("bridge", "host-local", "portmap", "loopback")),
)

_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Credential:
    """The agent credential file on the node, as far as it may be known off the node."""

    mode: str
    """Its permission bits in octal, e.g. 600."""
    node: str
    """The node name written in it."""
    secret_sha256: str
    """sha256 hex of the secret (what the registry stores)."""


@dataclass(frozen=True)
class StateFacts:
    """Files and states earlier runs (or kubeadm) left on the node."""

    containerd_config_sha256: str | None
    """sha256 of containerd's config, None when missing."""
    dhcpcd_conf: str | None
    """dhcpcd.conf's text, None when the node has none."""
    agent_payload_sha256: str | None
    """Hash of the agent payload unpacked on the node (its hash file), None when absent."""
    doctor_payload_sha256: str | None
    """Hash of the doctor payload unpacked on the node, None when absent."""
    agent_unit_sha256: str | None
    """sha256 of the agent's unit file, None when missing."""
    credential: Credential | None
    """The agent credential file, None when missing or unreadable."""
    kubeadm_config_sha256: str | None
    """sha256 of the master's kubeadm config, None when missing."""
    admin_conf_sha256: str | None
    """sha256 of /etc/kubernetes/admin.conf, None when missing (not a master, or not initialised)."""
    kubelet_conf: bool
    """True when the kubelet has its kubeconfig (joined or initialised)."""
    bootstrap_kubelet_conf: bool
    """True when a join's bootstrap kubeconfig is left."""
    ca_crt: bool
    """True when the cluster CA is on the node."""
    manifests: tuple[str, ...]
    """Static pod manifests present."""
    cni_confs: tuple[str, ...]
    """Files in /etc/cni/net.d."""
    cni_state: bool
    """True when /var/lib/cni exists."""
    cni_bridge: bool
    """True when the cni0 bridge exists."""
    kube_rules: int
    """How many iptables lines mention KUBE- or CNI- chains."""
    reboot_pending: bool
    """True when the reboot marker is still there (the node has not rebooted since it was written)."""
    cni_plugins: frozenset[str]
    """The CNI plugins found executable in CNI_BIN_DIR."""

    @property
    def kube_leftovers(self) -> bool:
        """Anything kubeadm reset would clean."""
        return self.kubelet_conf or self.bootstrap_kubelet_conf or self.ca_crt or bool(self.manifests)


def _payload_hash(raw: str | None) -> str | None:
    text = s.file_text(raw)
    value = (text or "").strip()
    return value if _HEX.match(value) else None


def parse_credential(text: str) -> Credential | None:
    """The three lines of the credential probe (mode, node, secret hash); None when malformed."""
    lines = text.splitlines()
    if len(lines) != 3:
        return None
    mode, node, digest = (line.strip() for line in lines)
    if not re.fullmatch(r"[0-7]{3,4}", mode) or not re.fullmatch(r"[A-Za-z0-9-]{1,63}", node):
        return None
    return Credential(mode, node, digest) if _HEX.match(digest) else None


def _names(text: str) -> tuple[str, ...]:
    return tuple(sorted(line.strip()[:255] for line in text.splitlines()[:1000] if line.strip()))


def parse(raw: dict[str, str]) -> StateFacts:
    """StateFacts from the gathered sections."""
    rules = raw.get("kube_rules", "").strip()
    return StateFacts(
        containerd_config_sha256=s.sha256_of(raw.get("containerd_config")),
        dhcpcd_conf=s.file_text(raw.get("dhcpcd_conf")),
        agent_payload_sha256=_payload_hash(raw.get("agent_payload")),
        doctor_payload_sha256=_payload_hash(raw.get("doctor_payload")),
        agent_unit_sha256=s.sha256_of(raw.get("agent_unit")),
        credential=parse_credential(raw.get("agent_credential", "")),
        kubeadm_config_sha256=s.sha256_of(raw.get("kubeadm_config")),
        admin_conf_sha256=s.sha256_of(raw.get("admin_conf")),
        kubelet_conf=s.flag(raw.get("kubelet_conf")),
        bootstrap_kubelet_conf=s.flag(raw.get("bootstrap_kubelet_conf")),
        ca_crt=s.flag(raw.get("ca_crt")),
        manifests=_names(raw.get("manifests", "")),
        cni_confs=_names(raw.get("cni_confs", "")),
        cni_state=s.flag(raw.get("cni_state")),
        cni_bridge=s.flag(raw.get("cni0")),
        kube_rules=int(rules) if rules.isdigit() and len(rules) < 9 else 0,
        reboot_pending=s.flag(raw.get("reboot_marker")),
        cni_plugins=frozenset(name for name in ("bridge", "host-local", "portmap", "loopback")
                              if raw.get(f"cni_plugin:{name}", "").strip() == "Y"),
    )
