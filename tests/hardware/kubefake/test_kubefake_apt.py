"""The lab's package repositories with the real apt: pkgs.k8s.io's install steps, signed-by, hold.

A server namespace runs Python's http.server over the built tree; a board
namespace gets an overlay of the lab's cached Debian root (the boards' own
root) and runs the install steps of reference/kubeadm.md §6 in a chroot.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.lab import rootfs
from hardware.lab.kubefake.repo.build import build_repository, cached_tree
from tests.hardware.kubefake.boards import sh

pytestmark = [pytest.mark.root, pytest.mark.slow]
SERVER, CLIENT = "kfa-srv", "kfa-pi"
STEPS = """set -e
apt-get install -y -q apt-transport-https ca-certificates curl gpg >/dev/null 2>&1 || true
mkdir -p -m 755 /etc/apt/keyrings
curl -fsSL http://pkgs.k8s.example.net/core:/stable:/v{minor}/deb/Release.key | gpg --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
echo 'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] http://pkgs.k8s.example.net/core:/stable:/v{minor}/deb/ /' > /etc/apt/sources.list.d/kubernetes.list
apt-get update -q
"""


def _namespaces_down() -> None:
    for name in (SERVER, CLIENT):
        for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
            subprocess.run(["kill", "-9", pid], check=False)
        sh("ip", "netns", "delete", name, check=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The repository built and served at 10.9.0.1:80; a board root (overlay of the lab root) at 10.9.0.2."""
    root = rootfs.root_path()
    assert rootfs.is_built(root), "the lab root is not built: run `appliance lab rootfs` (scripts/install does)"
    tree = build_repository(cached_tree()).root  # cached by content: rebuilt only when the fake changed
    _namespaces_down()
    sh("ip", "netns", "add", SERVER)
    sh("ip", "netns", "add", CLIENT)
    sh("ip", "link", "add", "eth0", "netns", SERVER, "type", "veth", "peer", "name", "eth0", "netns", CLIENT)
    for name, address in ((SERVER, "10.9.0.1"), (CLIENT, "10.9.0.2")):
        sh("ip", "-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
        sh("ip", "-n", name, "link", "set", "eth0", "up")
        sh("ip", "-n", name, "link", "set", "lo", "up")
    server = subprocess.Popen(["ip", "netns", "exec", SERVER, sys.executable, "-m", "http.server", "80",
                               "--bind", "10.9.0.1", "--directory", str(tree)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = tmp_path_factory.mktemp("board")
    try:
        # Give the server a moment to bind: poll the key over HTTP, as apt will fetch it.
        deadline = time.monotonic() + 30  # generous: CI runs other tests beside this one
        while subprocess.run(["ip", "netns", "exec", CLIENT, "curl", "-fs", "http://10.9.0.1/Release.key"],
                             capture_output=True, check=False).returncode != 0:
            assert time.monotonic() < deadline, "the repository server did not answer"
            time.sleep(0.1)
        yield work
    finally:
        server.kill()
        server.wait()
        _namespaces_down()


def in_board(work: Path, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `script` as root in a chroot of a fresh overlay of the lab root, inside the client namespace."""
    lower = rootfs.root_path()
    setup = f"""set -e
mount --make-rprivate /
mount -t tmpfs tmpfs {work}
mkdir -p {work}/upper {work}/work {work}/root
mount -t overlay overlay -o lowerdir={lower},upperdir={work}/upper,workdir={work}/work {work}/root
mount -t proc proc {work}/root/proc
mount --rbind /dev {work}/root/dev
echo '10.9.0.1 pkgs.k8s.example.net deb.example.net' >> {work}/root/etc/hosts
rm -f {work}/root/etc/apt/sources.list.d/debian.sources {work}/root/etc/apt/sources.list
exec chroot {work}/root /bin/sh -c {shlex.quote(script)}
"""
    return subprocess.run(["ip", "netns", "exec", CLIENT, "unshare", "--mount", "sh", "-c", setup],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
                               "LANG": "C.UTF-8"})


def test_install_steps_of_pkgs_k8s_io_work_with_real_apt(served: Path) -> None:
    script = STEPS.format(minor="1.34") + """
echo 'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] http://deb.example.net/debian/ /' > /etc/apt/sources.list.d/lab-debian.list
apt-get update -q
apt-get install -y -q kubelet kubeadm kubectl containerd
apt-mark hold kubelet kubeadm kubectl
echo VERSION $(kubeadm version -o short)
kubectl version --client
dpkg -s kubeadm | grep -E '^(Version|Depends):'
cat /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf | grep ExecStart=/usr/bin/kubelet
test -x /usr/bin/containerd && echo CONTAINERD
apt-mark showhold
"""
    result = in_board(served, script)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "VERSION v1.34.2" in out
    assert "Client Version: v1.37" in out
    assert "Version: 1.34.2-1.1" in out and "Depends: kubelet (>= 1.33.0), kubectl (>= 1.33.0)" in out
    assert "CONTAINERD" in out
    assert "kubeadm\nkubectl\nkubelet\n" in out


def test_a_minor_version_that_is_not_served_fails_clearly(served: Path) -> None:
    result = in_board(served, STEPS.format(minor="1.35"))
    assert result.returncode != 0
    assert "404" in result.stdout + result.stderr


def test_second_minor_installs_and_a_foreign_key_is_refused(served: Path) -> None:
    script = STEPS.format(minor="1.33") + "apt-get install -y -q kubeadm && kubeadm version -o short"
    result = in_board(served, script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "v1.33.6" in result.stdout
    unsigned = """set -e
mkdir -p /etc/apt/keyrings
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://pkgs.k8s.example.net/core:/stable:/v1.34/deb/ /' > /etc/apt/sources.list.d/kubernetes.list
apt-get update -q
"""
    refused = in_board(served, unsigned)
    assert refused.returncode != 0
    # apt's words for it: gpgv's NO_PUBKEY (bookworm), Sequoia's sqv "Missing key" (trixie's apt 3).
    said = refused.stdout + refused.stderr
    assert "NO_PUBKEY" in said or "Missing key" in said, said
