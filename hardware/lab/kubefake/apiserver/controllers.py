"""The controllers of a kubeadm control plane that the appliance depends on, condensed.

The simulated API server runs these itself after every write and on a timer
(the real ones live in kube-controller-manager; the simulation has no
separate process for them, see `hardware/lab/kubefake/__init__.py`):

- bootstrap signer: keeps a `jws-kubeconfig-<id>` signature in
  kube-public/cluster-info for every unexpired token with the signing usage;
- token cleaner: deletes expired bootstrap-token Secrets;
- CSR approver and signer: approves and signs kubelet client CSRs
  (kubernetes.io/kube-apiserver-client-kubelet) from bootstrap tokens and nodes;
- node lifecycle: a node whose kubelet stopped posting status for the grace
  period turns Ready=Unknown and gets the unreachable taint;
- DaemonSet: one pod per node for each DaemonSet (kube-proxy), and pod GC:
  pods bound to a node that no longer exists are deleted.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from .. import jws, pki, tokens
from ..textfmt import parse_rfc3339, rfc3339
from .resources import find
from .store import Object, Store, meta

NODE_MONITOR_GRACE = timedelta(seconds=40)
"""kube-controller-manager's --node-monitor-grace-period default."""
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
"""Signer of kubelet client certificates."""
UNREACHABLE_TAINT = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}
"""Taint the node lifecycle controller puts on an unresponsive node."""


def _resource(group: str, name: str):  # noqa: ANN202 - resources are fixed; None would be a bug
    resource = find(group, "v1", name)
    assert resource is not None, name
    return resource


SECRETS, CONFIGMAPS, CSRS = _resource("", "secrets"), _resource("", "configmaps"), \
    _resource("certificates.k8s.io", "certificatesigningrequests")
NODES, PODS, DAEMONSETS = _resource("", "nodes"), _resource("", "pods"), _resource("apps", "daemonsets")


@dataclass
class Controllers:
    """The condensed controllers over one store."""

    store: Store
    """The objects."""
    ca: pki.KeyPair | None = None
    """The cluster CA (to sign kubelet certificates); None disables CSR signing."""
    grace: timedelta = NODE_MONITOR_GRACE
    """Node monitor grace period."""
    cluster_cidr: str = ""
    """--cluster-cidr with --allocate-node-cidrs=true: node IPAM hands out podCIDRs; empty: off."""
    node_mask: int = 24
    """--node-cidr-mask-size."""

    def run(self, now: datetime) -> None:
        """One pass of every controller."""
        self.clean_tokens(now)
        self.sign_cluster_info(now)
        self.sign_csrs(now)
        self.watch_nodes(now)
        self.run_daemonsets(now)
        self.collect_pods()
        self.allocate_cidrs()

    def allocate_cidrs(self) -> None:
        """Node IPAM (only with --allocate-node-cidrs=true): the lowest free subnet to each node without one."""
        if not self.cluster_cidr:
            return
        network = ipaddress.ip_network(self.cluster_cidr, strict=False)
        nodes = self.store.list(NODES)
        used = {str(n.get("spec", {}).get("podCIDR")) for n in nodes if n.get("spec", {}).get("podCIDR")}
        free = (str(s) for s in network.subnets(new_prefix=self.node_mask) if str(s) not in used)
        for node in nodes:
            spec = node.setdefault("spec", {})
            if not spec.get("podCIDR"):
                cidr = next(free, None)
                if cidr is None:
                    return
                spec["podCIDR"], spec["podCIDRs"] = cidr, [cidr]
                self.store.update(NODES, node)

    def valid_tokens(self, now: datetime) -> list[tokens.BootstrapToken]:
        """Unexpired, well-formed bootstrap tokens."""
        found = []
        for secret in self.store.list(SECRETS, "kube-system"):
            if secret.get("type") != tokens.SECRET_TYPE:
                continue
            try:
                token = tokens.from_secret(secret)
            except tokens.TokenError:
                continue
            if not token.expired(now):
                found.append(token)
        return found

    def clean_tokens(self, now: datetime) -> None:
        """Delete expired bootstrap-token Secrets."""
        for secret in self.store.list(SECRETS, "kube-system"):
            if secret.get("type") != tokens.SECRET_TYPE:
                continue
            expiration = tokens.secret_data(secret).get("expiration")
            try:
                expired = expiration is not None and parse_rfc3339(expiration) <= now
            except ValueError:
                expired = False
            if expired:
                self.store.delete(SECRETS, "kube-system", str(meta(secret)["name"]))

    def sign_cluster_info(self, now: datetime) -> None:
        """Keep one JWS per signing token in cluster-info, and no others."""
        info = self.store.find(CONFIGMAPS, "kube-public", "cluster-info")
        if info is None:
            return
        data = info.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("kubeconfig"), str):
            return
        content = data["kubeconfig"]
        wanted = {"kubeconfig": content}
        for token in self.valid_tokens(now):
            if "signing" in token.usages:
                key = f"jws-kubeconfig-{token.token.id}"
                old = data.get(key)
                if isinstance(old, str) and jws.detached_token_is_valid(old, content, token.token.id,
                                                                         token.token.secret):
                    wanted[key] = old
                else:
                    wanted[key] = jws.detached_signature(content, token.token.id, token.token.secret)
        if wanted != data:
            info["data"] = wanted
            self.store.update(CONFIGMAPS, info)

    def sign_csrs(self, now: datetime) -> None:
        """Approve and sign pending kubelet client CSRs (csrapproving + csrsigning)."""
        if self.ca is None:
            return
        for csr in self.store.list(CSRS):
            spec, status = csr.get("spec"), csr.get("status")
            if not isinstance(spec, dict) or (isinstance(status, dict) and status.get("certificate")):
                continue
            if spec.get("signerName") != KUBELET_SIGNER:
                continue
            username = str(spec.get("username", ""))
            if not (username.startswith("system:bootstrap:") or username.startswith("system:node:")):
                continue
            try:
                request = x509.load_pem_x509_csr(base64.b64decode(str(spec.get("request", ""))))
            except ValueError:
                continue
            common_name, orgs = pki.subject_identity(request)  # type: ignore[arg-type]
            if not common_name.startswith("system:node:") or orgs != ["system:nodes"]:
                continue
            if username.startswith("system:node:") and username != common_name:
                continue
            public_key = request.public_key()
            cert = pki.issue(self.ca, pki.CertSpec(common_name, orgs, client=True), public_key, now)  # type: ignore[arg-type]
            stamp = rfc3339(now)
            csr["status"] = {
                "conditions": [{"type": "Approved", "status": "True", "reason": "AutoApproved",
                                "message": "Auto approving kubelet client certificate after SubjectAccessReview.",
                                "lastUpdateTime": stamp, "lastTransitionTime": stamp}],
                "certificate": base64.b64encode(pki.cert_pem(cert)).decode(),
            }
            self.store.update(CSRS, csr)

    def watch_nodes(self, now: datetime) -> None:
        """Ready=Unknown plus the unreachable taint for nodes silent past the grace period."""
        for node in self.store.list(NODES):
            status = node.get("status")
            conditions = status.get("conditions") if isinstance(status, dict) else None
            ready = next((c for c in conditions or [] if isinstance(c, dict) and c.get("type") == "Ready"), None)
            spec = node.setdefault("spec", {})
            assert isinstance(spec, dict)
            taints = [t for t in spec.get("taints") or [] if isinstance(t, dict)]
            has_taint = any(t.get("key") == UNREACHABLE_TAINT["key"] for t in taints)
            if ready is None:
                continue
            try:
                beat = parse_rfc3339(str(ready.get("lastHeartbeatTime", "")))
            except ValueError:
                continue
            changed = False
            if now - beat > self.grace and ready.get("status") != "Unknown":
                ready.update({"status": "Unknown", "reason": "NodeStatusUnknown",
                              "message": "Kubelet stopped posting node status.",
                              "lastTransitionTime": rfc3339(now)})
                changed = True
            wants_taint = ready.get("status") == "Unknown"
            if wants_taint and not has_taint:
                taints.append({**UNREACHABLE_TAINT, "timeAdded": rfc3339(now)})
                changed = True
            elif not wants_taint and has_taint:
                taints = [t for t in taints if t.get("key") != UNREACHABLE_TAINT["key"]]
                changed = True
            if changed:
                spec["taints"] = taints
                if not taints:
                    spec.pop("taints")
                self.store.update(NODES, node)

    def run_daemonsets(self, now: datetime) -> None:
        """One pod per node for each DaemonSet; a pod per node that left is deleted."""
        nodes = [str(meta(n)["name"]) for n in self.store.list(NODES)]
        for ds in self.store.list(DAEMONSETS):
            ds_meta = meta(ds)
            namespace = str(ds_meta.get("namespace", ""))
            owned = {}
            for pod in self.store.list(PODS, namespace):
                owners = meta(pod).get("ownerReferences") or []
                if any(isinstance(o, dict) and o.get("uid") == ds_meta.get("uid") for o in owners):
                    owned[str(pod.get("spec", {}).get("nodeName", ""))] = pod  # type: ignore[union-attr]
            for node in nodes:
                if node not in owned:
                    self.store.create(PODS, self._daemon_pod(ds, node), now)
            for node, pod in owned.items():
                if node not in nodes:
                    self.store.delete(PODS, namespace, str(meta(pod)["name"]))
            desired = len(nodes)
            if ds.get("status", {}).get("desiredNumberScheduled") != desired:  # type: ignore[union-attr]
                ds["status"] = {"currentNumberScheduled": desired, "desiredNumberScheduled": desired,
                                "numberMisscheduled": 0, "numberReady": desired, "numberAvailable": desired,
                                "updatedNumberScheduled": desired, "observedGeneration": 1}
                self.store.update(DAEMONSETS, ds)

    def _daemon_pod(self, ds: Object, node: str) -> Object:
        ds_meta = meta(ds)
        template = ds.get("spec", {}).get("template", {})  # type: ignore[union-attr]
        suffix = hashlib.sha256(f"{ds_meta.get('uid')}/{node}".encode()).hexdigest()
        letters = "".join("bcdfghjklmnpqrstvwxz2456789"[int(c, 16) % 27] for c in suffix[:5])
        labels = dict(template.get("metadata", {}).get("labels", {}))
        spec = dict(template.get("spec", {}))
        spec["nodeName"] = node
        return {"metadata": {"name": f"{ds_meta.get('name')}-{letters}", "namespace": ds_meta.get("namespace"),
                             "labels": labels, "ownerReferences": [{
                                 "apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds_meta.get("name"),
                                 "uid": ds_meta.get("uid"), "controller": True, "blockOwnerDeletion": True}]},
                "spec": spec, "status": {"phase": "Pending"}}

    def collect_pods(self) -> None:
        """Pod GC: delete pods bound to nodes that do not exist."""
        nodes = {str(meta(n)["name"]) for n in self.store.list(NODES)}
        for pod in self.store.list(PODS):
            node = pod.get("spec", {}).get("nodeName")  # type: ignore[union-attr]
            if node and node not in nodes:
                self.store.delete(PODS, str(meta(pod).get("namespace", "")), str(meta(pod)["name"]))
