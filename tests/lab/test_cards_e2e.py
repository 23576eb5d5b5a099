"""Issue 14 end to end: cards made by the product boot the lab into a joined cluster, keys pinned, no password.

As a user would: a Pi-OS-shaped trixie base (.img.xz, its root the lab's Debian root with the
lab's apt mirror, as Pi OS carries its distribution's); `appliance image build` with a
cluster.yaml holding a password hash, the user's SSH key, `provisioning.approve: all` and
`provisioning.host_keys: cards`; `appliance flash` onto five sparse card files through loop
devices (four workers, then the master, which carries the four workers' keys and its own);
`lab up --cards`. The lab's master daemon takes the card keys, the provisioning key and
cluster.yaml from the master card (hardware.lab.master_card); every board gets its login key
from its card alone. Then the master's DHCP, DNS, provisioning and (simulated) join work with
every host key pinned from a card, and nobody types a password.

All four workers boot, as four Pis would. A re-imaged card (pi-2's card flashed again) is then
refused with the one-line fix.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from appliance.cli.daemon_client import DaemonClient
from appliance.cli.master_client import NodeView
from foundation import registry
from hardware.lab import lifecycle
from hardware.lab import topology as t
from hardware.lab.imaging import mirror_root_files
from hardware.lab.kubefake.repo.build import HOST as KUBE_REPOSITORY_HOST
from tests.images.base_image import lab_root, make_base_image, xz_compress
from tests.support.lab import LabHandle, LabManager

pytestmark = [pytest.mark.lab, pytest.mark.root, pytest.mark.slow]

CARDS = ("pi-1", "pi-2", "pi-3", "pi-4")
BOOTED = CARDS
PASSWORD = "typed-by-nobody"
USER = "alice"
"""The login user. Not `pi`: the lab's root (this base image's root) has a pi account made for the
lab's own boards, and cloud-init leaves an existing account's password alone; Pi OS has none."""
CARD_BYTES = 8 << 30
"""Each card file is an 8 GiB "card" (the doctor warns under 5 GiB free): the image is smaller, and
the root grows to the card at first boot as on Pi OS (sparse: only what is written takes room)."""


@dataclass(frozen=True)
class Built:
    """The product's output: images, the provisioning key, cards.pub, and the flashed card files."""

    out: Path
    """The `image build --out` folder (master.img, worker.img, provisioning-key, cards.pub)."""
    cards: Path
    """The card files (pi-1.img … pi-4.img, master.img)."""
    user_key: Path
    """The user's own SSH key (authorised on every card)."""
    password_hash: str
    """The crypt(3) hash cluster.yaml gave the user (the password itself is typed by nobody)."""


def _appliance(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "appliance.cli.main", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)
    assert done.returncode == 0, f"appliance {' '.join(args)}: {done.stderr.strip()}"
    return done


def _cluster_yaml(folder: Path) -> tuple[Path, Path, str]:
    """The user's cluster.yaml for the lab's world (its resolver, its Kubernetes mirror) and their key."""
    key = folder / "user_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "you@laptop", "-f", str(key)], check=True)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=PASSWORD, capture_output=True, text=True,
                            check=True).stdout.strip()
    config = {
        "cluster": {"name": "cardlab", "domain": "cluster.home"},
        "network": {"lan_interface": "eth0", "uplink_interface": "wlan0", "subnet": str(t.DEFAULT_SUBNET),
                    "master_address": str(t.DEFAULT_MASTER), "upstream_dns": [str(t.INTERNET_DNS)]},
        "kubernetes": {"apt_repository": f"http://{KUBE_REPOSITORY_HOST}/core:/stable:/v{{version}}/deb/"},
        "access": {"user": USER, "password_hash": hashed,
                   "ssh_authorized_keys": [key.with_suffix(".pub").read_text().strip()]},
        "provisioning": {"approve": "all", "host_keys": "cards", "ssh_user": USER},
    }
    path = folder / "cluster.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, key, hashed


def _loop(path: Path) -> str:
    return subprocess.run(["losetup", "-f", "--show", str(path)], capture_output=True, text=True,
                          check=True).stdout.strip()


def flash(image: Path, cards: list[Path], names: list[str] | None = None) -> str:
    """`appliance flash IMAGE LOOP…` onto sparse card files of CARD_BYTES, loops detached after."""
    loops: list[str] = []
    try:
        for card in cards:
            card.unlink(missing_ok=True)
            with open(card, "wb") as handle:
                handle.truncate(CARD_BYTES)
            loops.append(_loop(card))
        labels = [arg for name in names or [] for arg in ("--name", name)]
        return _appliance("flash", str(image), *loops, *labels, "--yes", "--allow-non-removable").stdout
    finally:
        for loop in loops:
            subprocess.run(["losetup", "--detach", loop], check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Images, key and five flashed cards; removed afterwards (about 7 GB: pytest keeps its last
    three runs' folders, and a disk filled by old cards fails every test after it)."""
    work = tmp_path_factory.mktemp("cards-e2e")
    try:
        yield _build_and_flash(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_and_flash(work: Path) -> Built:
    base = make_base_image(work / "trixie.img", "trixie", lab_root(), size_mib=1280, boot_mib=256,
                           root_files=mirror_root_files())
    base_xz = xz_compress(base.path)
    base.path.unlink()
    config, user_key, hashed = _cluster_yaml(work)
    out = work / "out"
    _appliance("image", "build", "--config", str(config), "--base", str(base_xz), "--out", str(out))
    cards = work / "cards"
    cards.mkdir()
    shown = flash(out / "worker.img", [cards / f"{name}.img" for name in CARDS])
    assert all(f"card {name} written and verified" in shown for name in CARDS), shown
    shown = flash(out / "master.img", [cards / "master.img"])
    assert "the master card carries 5 card key(s)" in shown, shown
    return Built(out, cards, user_key, hashed)


@pytest.fixture(scope="module")
def cluster(lab_manager: LabManager, built: Built) -> Iterator[LabHandle]:
    """The lab booted from the cards, brought to joined and Ready by the master with no manual step."""
    lab_manager.suspend()
    dirs = lab_manager.dirs
    started = time.monotonic()
    try:
        lifecycle.up(dirs, nodes=len(BOOTED), cards=built.cards, fresh=True, wait=240, say=lambda line: None)
        lab = LabHandle(dirs)
        client = DaemonClient(dirs.master_state)

        def all_nodes(done: str) -> bool:
            views = client.nodes()
            return len(views) == 1 + len(BOOTED) and all(
                view.state == "joined" and (done == "joined" or view.ready) for view in views)

        lab.wait_for(lambda: all_nodes("ready"), timeout=1200, interval=2, what="the master and four Pis Ready")
        lab.wait_for(lambda: all_nodes("joined"), timeout=300, interval=1, what="their jobs done: joined")
        print(f"\nlab up --cards to joined and Ready: {time.monotonic() - started:.0f} s")
        yield lab
    finally:
        lifecycle.down(dirs)
        lab_manager.suspend()


def card_keys(out: Path) -> dict[str, str]:
    """cards.pub by card label: the last key flashed onto that card (`type base64`)."""
    keys = {}
    for line in (out / "cards.pub").read_text().splitlines():
        kind, blob, label, _ = line.split()
        keys[label.removeprefix("card=")] = f"{kind} {blob}"
    return keys


def views_by_board(lab: LabHandle) -> dict[str, NodeView]:
    """The daemon's node views by lab board name (master-board, pi-N), matched by MAC."""
    boards = {node.mac: node.name for node in lab.plan.nodes}
    found: dict[str, NodeView] = {}
    for view in DaemonClient(lab.dirs.master_state).nodes():
        found[t.MASTER_BOARD if view.role == "master" else boards[str(view.mac)]] = view
    return found


def test_leases_names_and_host_keys_pinned_from_the_cards(cluster: LabHandle, built: Built) -> None:
    lab = cluster
    master = str(lab.plan.master_address.ip)
    views = views_by_board(lab)
    assert sorted(views) == sorted([t.MASTER_BOARD, *BOOTED])
    keys = card_keys(built.out)
    assert sorted(keys) == sorted([*CARDS, "master"])
    conn = registry.open_registry(lab.dirs.master_state)
    try:
        for board, view in views.items():
            name = view.name
            if board != t.MASTER_BOARD:
                # Its address came from our DHCP server (NetworkManager's client says whose) …
                options = lab.run(board, "nmcli -g DHCP4.OPTION device show eth0").stdout
                assert f"dhcp_server_identifier = {master}" in options
                assert lab.address(board) == view.address
                # … and its name from our DNS.
                answer = lab.run("master", ["dig", "+short", f"@{master}", f"{name}.cluster.home"]).stdout.split()
                assert answer == [view.address], name
            pinned = registry.pinned_host_key(conn, name)
            label = "master" if board == t.MASTER_BOARD else board
            assert pinned is not None and pinned.source.value == "card" and pinned.card == label, (name, pinned)
            assert pinned.key == keys[label]  # the key that card's flash made, and the board presents it
            presented = lab.read_file(board, "/etc/ssh/ssh_host_ed25519_key.pub").split()
            assert f"{presented[0]} {presented[1]}" == keys[label]
    finally:
        conn.close()


def test_every_node_joined_and_the_simulated_kubernetes_lists_it_ready(cluster: LabHandle) -> None:
    views = views_by_board(cluster)
    assert {board: (view.state, view.ready) for board, view in views.items()} == {
        board: ("joined", True) for board in (t.MASTER_BOARD, *BOOTED)}
    kubectl = cluster.run(t.MASTER_BOARD, ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "get", "nodes",
                                           "-o", "json"])
    items = json.loads(kubectl.stdout)["items"]
    ready = {item["metadata"]["name"]: next(c["status"] for c in item["status"]["conditions"] if c["type"] == "Ready")
             for item in items}
    assert sorted(ready) == sorted(view.name for view in views.values())
    assert set(ready.values()) == {"True"}


def test_no_password_was_ever_used(cluster: LabHandle, built: Built) -> None:
    lab = cluster
    for board in (t.MASTER_BOARD, *BOOTED):
        # The user has the password cluster.yaml gave (a hash: no default password) …
        assert lab.run(board, ["getent", "shadow", USER]).stdout.split(":")[1] == built.password_hash
        # … the seed turned password logins off, and sshd runs so …
        seed = yaml.safe_load(lab.read_file(board, "/boot/firmware/user-data"))
        assert seed["ssh_pwauth"] is False and "ssh_keys" not in seed  # the card's private host key is gone
        config = lab.run(board, ["sshd", "-T"]).stdout.splitlines()
        assert "passwordauthentication no" in config and "kbdinteractiveauthentication no" in config
        # … and every login there was the provisioning key's.
        log = lab.run(board, ["journalctl", "--no-pager", "-o", "cat", "_COMM=sshd-session", "+", "_COMM=sshd"]).stdout
        accepted = re.findall(r"Accepted (\S+) for (\S+)", log)
        assert accepted and set(accepted) == {("publickey", USER)}, (board, log[-2000:])
        assert "Failed password" not in log and "Accepted password" not in log
    provisioning = (built.out / "provisioning-key.pub").read_text().split()[1]
    for board in BOOTED:
        keys = lab.read_file(board, f"/home/{USER}/.ssh/authorized_keys")
        assert provisioning in keys and built.user_key.with_suffix(".pub").read_text().split()[1] in keys


def test_the_master_card_installed_the_payload_offline_and_its_doctor_runs(cluster: LabHandle, built: Built) -> None:
    lab = cluster
    board = t.MASTER_BOARD
    output = lab.read_file(board, "/var/log/cloud-init-output.log")
    installed = re.search(r"appliance installed \(master\): appliance, version (\S+)", output)
    assert installed, output[-2000:]
    # Offline: pip was given no index, and nobody asked the lab's internet for PyPI.
    assert "--no-index" in lab.read_file(board, "/boot/firmware/appliance/install.sh")
    queries = (lab.dirs.run / "internet" / "dnsmasq.log").read_text()
    assert "pypi" not in queries and "pythonhosted" not in queries
    version = lab.run(board, ["appliance", "--version"]).stdout
    assert version.split()[-1] == installed.group(1)
    doctor = lab.run(board, ["appliance", "doctor", "--role", "master", "-o", "json"], check=False, timeout=120)
    checks = {check["name"]: check for check in json.loads(doctor.stdout)["checks"]}
    assert checks and all(check["status"] in ("ok", "warn", "fail") for check in checks.values())
    # The card's cmdline.txt turned the memory cgroup on and its seed turned swap off; the root grew
    # to the card (the doctor wants 2 GiB free). The one thing a lab board cannot have is an NTP-synchronised
    # clock (it is the host's; the lab masks timesyncd): provisioning waives that check when it measures the
    # board's clock within seconds of the master's, as it did for this master's init.
    for name in ("arch", "memory-cgroup", "swap", "disk", "container-runtime", "iptables"):
        assert checks[name]["status"] == "ok", checks[name]
    failed = {name: check["detail"] for name, check in checks.items() if check["status"] == "fail"}
    assert set(failed) <= {"clock"}, failed
    # The provisioning key went from the card to the master's state, owner only, and off the boot partition.
    key = built.out / "provisioning-key"
    assert lab.read_file(board, "/var/lib/appliance/ssh/id_ed25519") == key.read_text()
    assert lab.run(board, ["stat", "-c", "%a", "/var/lib/appliance/ssh/id_ed25519"]).stdout.strip() == "600"
    assert lab.run(board, ["ls", "/boot/firmware/appliance"]).stdout.split().count("ssh") == 0
    # The card's daemon is installed and enabled, but the lab's runs (from the host's install, with the
    # same key and card keys, which the lab took from the card).
    assert lab.run(board, ["systemctl", "is-enabled", "appliance.service"], check=False).stdout.strip() == "enabled"
    assert lab.run(board, ["systemctl", "is-active", "appliance.service"], check=False).stdout.strip() == "inactive"
    assert (lab.dirs.master_state / "ssh" / "id_ed25519").read_text() == key.read_text()
    assert (lab.dirs.master_state / "cards.pub").read_text() == lab.read_file(board, "/var/lib/appliance/cards.pub")


def test_a_reimaged_card_is_refused_with_the_one_line_fix(cluster: LabHandle, built: Built) -> None:
    lab = cluster
    name = views_by_board(lab)["pi-2"].name
    old = card_keys(built.out)["pi-2"]
    lab.power("pi-2", "off")
    flash(built.out / "worker.img", [built.cards / "pi-2.img"], names=["pi-2"])
    new = card_keys(built.out)["pi-2"]
    assert new != old  # a fresh personalisation: a key the master was never given
    lab.power("pi-2", "on")
    lab.wait_for(lambda: lab.run("pi-2", "cloud-init status", check=False).stdout.count("status: done"),
                 timeout=300, interval=2, what="pi-2's first boot from its new card")
    done = lab.run("master", ["appliance", "provision", name], check=False, timeout=300)
    assert done.returncode != 0
    # The node's outcome line (`NAME: failed (job N): why; fix: …`) is the one line about it.
    lines = [line for line in done.stdout.splitlines() if line.startswith(f"{name}:")]
    assert len(lines) == 1 and f"appliance nodes accept-key {name}" in lines[0], done.stdout + done.stderr
    assert "SSH host key changed" in lines[0]
    conn = registry.open_registry(lab.dirs.master_state)
    try:
        pinned = registry.pinned_host_key(conn, name)
        assert pinned is not None and pinned.key == old  # nothing was pinned behind the user's back
    finally:
        conn.close()
    # The user checks the fingerprint on the new card and accepts it: now that key is the pin.
    fingerprint = subprocess.run(["ssh-keygen", "-lf", "-"], input=new, capture_output=True, text=True,
                                 check=True).stdout.split()[1]
    accepted = lab.run("master", ["appliance", "nodes", "accept-key", name, "--fingerprint", fingerprint])
    assert fingerprint in accepted.stdout
    conn = registry.open_registry(lab.dirs.master_state)
    try:
        pinned = registry.pinned_host_key(conn, name)
        assert pinned is not None and pinned.key == new and pinned.source.value == "manual"
    finally:
        conn.close()
