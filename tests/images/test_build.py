"""`build_images` end to end on generated Pi-OS-shaped images: what the cards get, and what they keep."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from images.build import BuiltImage, build_images
from images.seed import wpa_psk
from tests.images.base_image import BaseImage, lab_root_python
from tests.images.cluster_file import PASSPHRASE, ClusterFile
from tests.images.fat_tools import fsck, mtools_list, mtools_read
from tests.images.image_read import boot_file, cloud_init_schema, extract_boot, region_sha256

pytestmark = pytest.mark.root  # the base images are made from the lab's root


@pytest.fixture(scope="module")
def trixie_out(tmp_path_factory: pytest.TempPathFactory, trixie_xz: Path, cluster: ClusterFile,
               wheelhouse: Path) -> tuple[Path, list[BuiltImage]]:
    out = tmp_path_factory.mktemp("out")
    expected = hashlib.sha256(trixie_xz.read_bytes()).hexdigest()
    built = build_images(cluster.config, cluster.text, trixie_xz, out, expected_sha256=expected,
                         wheelhouse=wheelhouse)
    return out, built


def test_outputs_and_manifest(trixie_out: tuple[Path, list[BuiltImage]], trixie_base: BaseImage) -> None:
    out, built = trixie_out
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "master.img", "provisioning-key",
                                                     "provisioning-key.pub", "worker.img"]
    # The master's image and the key carry the provisioning key's private half: owner only.
    assert (out / "master.img").stat().st_mode & 0o777 == 0o600
    assert (out / "provisioning-key").stat().st_mode & 0o777 == 0o600
    assert (out / "worker.img").stat().st_mode & 0o777 == 0o644
    manifest = json.loads((out / "manifest.json").read_text())
    for image in manifest["images"]:
        path = out / image["path"]
        assert path.stat().st_size == trixie_base.path.stat().st_size
        assert region_sha256(path, 0, path.stat().st_size) == image["sha256"]
        assert path.stat().st_blocks * 512 < path.stat().st_size // 2  # sparse: holes stayed holes
    assert manifest["base"]["arch"] == "x86_64" and manifest["base"]["python"] == lab_root_python()
    assert {i.role for i in built} == {"master", "worker"}


def test_boot_partitions_pass_fsck_and_mtools_reads_every_file(trixie_out: tuple[Path, list[BuiltImage]],
                                                               trixie_base: BaseImage, tmp_path: Path) -> None:
    out, built = trixie_out
    for image in built:
        boot = extract_boot(out / image.path, tmp_path / f"{image.role}-boot.img")
        fsck(boot)
        # Firmware, kernel, device trees and overlays: byte-identical to the base.
        for name, data in trixie_base.boot_files.items():
            if name not in ("cmdline.txt", "config.txt", "user-data", "meta-data", "network-config"):
                assert mtools_read(boot, name) == data, name
        seeded_files = image.seeded["files"]
        assert isinstance(seeded_files, dict)
        for name, digest in seeded_files.items():
            assert hashlib.sha256(mtools_read(boot, name)).hexdigest() == digest, name
        wheels = mtools_list(boot, "appliance/wheels")
        assert any(w.startswith("pi_cluster_appliance-") for w in wheels) and any(w.startswith("pip-") for w in wheels)


def test_root_partition_and_table_untouched(trixie_out: tuple[Path, list[BuiltImage]], trixie_base: BaseImage) -> None:
    out, _ = trixie_out
    size = trixie_base.path.stat().st_size
    for name in ("master.img", "worker.img"):
        assert region_sha256(out / name, 0, trixie_base.boot_start) == region_sha256(trixie_base.path, 0, trixie_base.boot_start)
        assert region_sha256(out / name, trixie_base.root_start, size - trixie_base.root_start) == region_sha256(
            trixie_base.path, trixie_base.root_start, size - trixie_base.root_start)


def test_seed_is_valid_cloud_config_and_says_the_right_things(trixie_out: tuple[Path, list[BuiltImage]],
                                                                cluster: ClusterFile, tmp_path: Path) -> None:
    out, _ = trixie_out
    master_ud = boot_file(out / "master.img", "user-data")
    worker_ud = boot_file(out / "worker.img", "user-data")
    for role, text in (("master", master_ud), ("worker", worker_ud)):
        path = tmp_path / f"{role}-user-data"
        path.write_bytes(text)
        cloud_init_schema(path)
    master = yaml.safe_load(master_ud)
    worker = yaml.safe_load(worker_ud)
    assert master_ud.startswith(b"#cloud-config\n")
    assert master["hostname"] == "picluster-master" and "hostname" not in worker
    assert master["user"]["passwd"] == cluster.config.access.password_hash
    # The user's own keys, then the master's provisioning key (made by the build, kept in DIR).
    provisioning = (out / "provisioning-key.pub").read_text().strip()
    assert provisioning.startswith("ssh-ed25519 ") and provisioning.endswith(" appliance-provisioning")
    for document in (master, worker):
        assert document["user"]["ssh_authorized_keys"] == [*cluster.config.access.ssh_authorized_keys, provisioning]
    # Its private half is on the master card only (the installer moves it off the boot partition).
    assert boot_file(out / "master.img", "appliance/ssh/id_ed25519") == (out / "provisioning-key").read_bytes()
    assert boot_file(out / "master.img", "appliance/ssh/id_ed25519.pub").decode().strip() == provisioning
    assert "ssh" not in mtools_list(extract_boot(out / "worker.img", tmp_path / "w.img"), "appliance")
    assert '"appliance/ssh/id_ed25519"' not in (out / "manifest.json").read_text()  # no hash of the secret
    assert master["ssh_pwauth"] is False and ["systemctl", "enable", "--now", "ssh"] in master["runcmd"]
    assert "ssh_keys" not in master  # an image shared by many cards carries no host keys
    assert PASSPHRASE.encode() not in master_ud and wpa_psk("HomeNetwork", PASSPHRASE).encode() not in master_ud
    network = yaml.safe_load(boot_file(out / "master.img", "network-config"))["network"]
    assert network["ethernets"]["eth0"]["addresses"] == ["10.0.0.1/24"]
    assert network["wifis"]["wlan0"]["access-points"]["HomeNetwork"]["password"] == wpa_psk("HomeNetwork", PASSPHRASE)
    assert network["wifis"]["wlan0"]["regulatory-domain"] == "GB"
    worker_net = yaml.safe_load(boot_file(out / "worker.img", "network-config"))["network"]
    assert worker_net["ethernets"]["eth0"] == {"dhcp4": True, "optional": True} and "wifis" not in worker_net
    ids = {yaml.safe_load(boot_file(out / n, "meta-data"))["instance-id"] for n in ("master.img", "worker.img")}
    assert len(ids) == 2
    cmdline = boot_file(out / "master.img", "cmdline.txt").decode()
    assert cmdline.count("\n") == 1 and "cgroup_enable=memory" in cmdline and "ds=nocloud;s=file:///boot/firmware/" in cmdline
    assert "root=PARTUUID=6c3f2b21-02" in cmdline
    assert b"dtoverlay=disable-wifi" in boot_file(out / "worker.img", "config.txt")
    card_yaml = boot_file(out / "master.img", "appliance/cluster.yaml").decode()
    assert "psk_file: wifi.psk" not in card_yaml and PASSPHRASE not in card_yaml
    unit = boot_file(out / "worker.img", "appliance/appliance.service").decode()
    assert "agent run --master http://10.0.0.1:8081" in unit


def test_a_new_build_has_new_instance_ids(trixie_out: tuple[Path, list[BuiltImage]], trixie_base: BaseImage,
                                          cluster: ClusterFile, wheelhouse: Path, tmp_path: Path) -> None:
    out, first = trixie_out
    again = build_images(cluster.config, cluster.text, trixie_base.path, tmp_path, wheelhouse=wheelhouse)
    assert {b.seeded["instance_id"] for b in again}.isdisjoint({b.seeded["instance_id"] for b in first})
    # Another output folder, another provisioning key…
    assert again[0].seeded["provisioning_key"] != first[0].seeded["provisioning_key"]
    # …but a later build into the same folder reuses its key: cards flashed before still let the master in.
    again = build_images(cluster.config, cluster.text, trixie_base.path, tmp_path, wheelhouse=wheelhouse)
    assert again[0].seeded["provisioning_key"] == (tmp_path / "provisioning-key.pub").read_text().strip()
    assert boot_file(tmp_path / "master.img", "appliance/ssh/id_ed25519") == (tmp_path / "provisioning-key").read_bytes()


def test_bookworm_gets_firstrun(bookworm_base: BaseImage, cluster: ClusterFile, wheelhouse: Path, tmp_path: Path) -> None:
    built = build_images(cluster.config, cluster.text, bookworm_base.path, tmp_path, wheelhouse=wheelhouse)
    assert {b.seeded["mechanism"] for b in built} == {"firstrun"}
    script = boot_file(tmp_path / "master.img", "firstrun.sh")
    subprocess.run(["sh", "-n"], input=script, check=True)  # the shell parses it
    text = script.decode()
    assert "chpasswd -e" in text and cluster.config.access.password_hash in text  # type: ignore[operator]
    assert "psk=" + wpa_psk("HomeNetwork", PASSPHRASE) in text and PASSPHRASE not in text
    assert (tmp_path / "provisioning-key.pub").read_text().strip() in text  # authorised for the login user
    cmdline = boot_file(tmp_path / "master.img", "cmdline.txt").decode()
    assert "systemd.run=/boot/firstrun.sh" in cmdline and "cgroup_enable=memory" in cmdline
    assert "ds=nocloud" not in cmdline
    names = mtools_list(extract_boot(tmp_path / "worker.img", tmp_path / "boot.img"))
    assert "user-data" not in names and "firstrun.sh" in names
    fsck(tmp_path / "boot.img")
    assert os.path.getsize(tmp_path / "worker.img") == bookworm_base.path.stat().st_size


def test_build_needs_no_root(trixie_base: BaseImage, wheelhouse: Path) -> None:
    """The whole build as `nobody`: nothing is mounted, no loop device, no privilege."""
    import shutil
    import tempfile

    from tests.images.cluster_file import write_cluster

    work = Path(tempfile.mkdtemp(prefix="im-nobody-"))
    try:
        work.chmod(0o777)
        cluster = write_cluster(work / "cfg")
        house = work / "wheels"
        shutil.copytree(wheelhouse, house)
        base = work / "base.img"
        shutil.copy(trixie_base.path, base)
        for path in [work, *work.rglob("*")]:
            os.chown(path, 65534, 65534)
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                               "appliance.cli.main", "image", "build", "--config", str(cluster.path), "--base",
                               str(base), "--out", str(work / "out"), "--wheelhouse", str(house)],
                              capture_output=True, text=True, env={**os.environ, "HOME": str(work)}, timeout=600)
        assert done.returncode == 0, done.stderr
        assert (work / "out" / "master.img").stat().st_uid == 65534
        assert boot_file(work / "out" / "worker.img", "user-data").startswith(b"#cloud-config\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_remembered_facts_overlap_the_stream_and_a_wrong_memory_is_caught(
        trixie_xz: Path, cluster: ClusterFile, wheelhouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from images.facts_cache import known_facts
    from images.rootfs import RootInfo

    monkeypatch.setenv("APPLIANCE_CACHE_DIR", str(tmp_path / "cache"))
    lines: list[str] = []
    first = build_images(cluster.config, cluster.text, trixie_xz, tmp_path / "a", wheelhouse=wheelhouse,
                         progress=lines.append)
    assert not any("seeding while it streams" in line for line in lines)
    assert known_facts(trixie_xz) is not None  # remembered for next time
    lines.clear()
    second = build_images(cluster.config, cluster.text, trixie_xz, tmp_path / "b", wheelhouse=wheelhouse,
                          progress=lines.append)
    assert any("seeding while it streams" in line for line in lines)
    for a, b in zip(first, second, strict=True):  # same content but for the instance-ids: same size, fsck-clean
        assert region_sha256(tmp_path / "b" / b.path, 0, b.size) == b.sha256
        a_files, b_files = a.seeded["files"], b.seeded["files"]
        assert isinstance(a_files, dict) and isinstance(b_files, dict)
        assert a_files.keys() == b_files.keys()
    # A stale memory (the file replaced in place, same size and time) is found out and the build redone.
    from images import facts_cache

    facts_cache.remember_facts(trixie_xz, RootInfo("aarch64", "3.13", "Debian GNU/Linux 13 (trixie)", "trixie"))
    lines.clear()
    third = build_images(cluster.config, cluster.text, trixie_xz, tmp_path / "c", wheelhouse=wheelhouse,
                         progress=lines.append)
    assert any("were wrong" in line for line in lines)
    assert third[0].seeded["payload"]["arch"] == "x86_64"  # type: ignore[index]
    assert region_sha256(tmp_path / "c" / "master.img", 0, third[0].size) == third[0].sha256


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance.cli.main", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)


def test_inspect_json_keeps_the_contract(trixie_out: tuple[Path, list[BuiltImage]], trixie_base: BaseImage) -> None:
    out, _ = trixie_out
    shown = _cli("image", "inspect", str(out / "master.img"), "-o", "json")
    assert shown.returncode == 0, shown.stderr
    found = json.loads(shown.stdout)
    assert [(p["index"], p["type"], p["label"]) for p in found["partitions"]] == [(1, "0x0c", "bootfs"),
                                                                                 (2, "0x83", "rootfs")]
    assert all({"index", "type", "label", "start", "size"} <= p.keys() for p in found["partitions"])
    paths = {f["path"] for f in found["boot_files"]}
    assert {"kernel8.img", "user-data", "appliance/install.sh", "overlays/README"} <= paths
    assert found["seed"]["role"] == "master" and found["seed"]["mechanism"] == "cloud-init"
    base = json.loads(_cli("image", "inspect", str(trixie_base.path), "-o", "json").stdout)
    assert base["seed"] == {"appliance": False, "mechanism": "cloud-init",
                            "files": ["meta-data", "network-config", "user-data"]}


def test_cli_errors_are_one_line(tmp_path: Path, trixie_base: BaseImage) -> None:
    from tests.images.cluster_file import write_cluster

    cluster = write_cluster(tmp_path / "cfg")
    cluster.psk_file.unlink()
    failed = _cli("image", "build", "--config", str(cluster.path), "--base", str(trixie_base.path), "--out",
                  str(tmp_path / "out"))
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: ") and failed.stderr.count("\n") == 1, failed.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    missing = _cli("image", "inspect", str(tmp_path / "nope.img"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
