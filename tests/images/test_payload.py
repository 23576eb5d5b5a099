"""The card's payload installs offline with the card's own python3, for the lab's arch and for aarch64.

The aarch64 wheelhouse (our wheel with the C extension cross-built) is installed by the real
install.sh in an arm64 Debian root under qemu-user (binfmt_misc), and `appliance --version` and
the C extension run there.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from images.payload import installer_script, unit_file
from images.rootfs import python_version
from images.wheels import ensure_wheelhouse, host_arch, retag_wheel
from tests.native import arm64_root  # the native tests' arm64 root builder, shared

pytestmark = pytest.mark.root
PAYLOAD = "boot/firmware/appliance"


def _install_in(merged: Path, wheelhouse: Path, role: str = "worker") -> None:
    """Lay the payload where a card has it and run install.sh in the root, as first boot does."""
    from foundation.config.model import Config

    payload = merged / PAYLOAD
    shutil.copytree(wheelhouse, payload / "wheels", ignore=shutil.ignore_patterns(".complete"))
    (payload / "install.sh").write_text(installer_script())
    (payload / "appliance.service").write_text(unit_file(Config(), role))
    (payload / "cluster.yaml").write_text("cluster:\n  name: picluster\n")


def _chroot(merged: Path, *command: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(merged), "/usr/bin/env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin",
                           "HOME=/root", *command], capture_output=True, text=True, timeout=timeout)


def _root_python(root: Path) -> str:
    version = python_version(tuple(p.name for p in (root / "usr/lib").iterdir()))
    assert version is not None
    return version


def test_payload_installs_in_the_lab_root_and_twice_is_a_no_op_and_a_master_gets_its_key() -> None:
    from foundation.config.model import Config
    from hardware.lab.rootfs import ensure_root

    root = ensure_root().path
    house = ensure_wheelhouse(host_arch(), _root_python(root))
    with arm64_root.overlay(root) as merged:
        _install_in(merged, house)
        first = _chroot(merged, "sh", f"/{PAYLOAD}/install.sh", "worker", f"/{PAYLOAD}", "--no-start")
        assert first.returncode == 0, first.stderr + first.stdout
        assert "appliance installed (worker): appliance, version" in first.stdout
        version = _chroot(merged, "appliance", "--version")
        assert version.returncode == 0 and "version" in version.stdout, version.stderr
        # A worker's agent has the name of provisioning's agent unit, which replaces it: one agent per node.
        assert (merged / "etc/systemd/system/multi-user.target.wants/appliance-agent.service").is_symlink()
        assert not (merged / "etc/systemd/system/appliance.service").exists()
        unit = (merged / "etc/systemd/system/appliance-agent.service").read_text()
        assert "agent run --master http://10.0.0.1:8081" in unit
        venv_python = (merged / "opt/appliance/venv/bin/python").stat().st_mtime
        again = _chroot(merged, "sh", f"/{PAYLOAD}/install.sh", "worker", f"/{PAYLOAD}", "--no-start")
        assert again.returncode == 0, again.stderr
        assert (merged / "opt/appliance/venv/bin/python").stat().st_mtime == venv_python  # not rebuilt

        # As a master card: the provisioning key goes to the daemon's state dir, owner only, and off
        # the boot partition; the card keys and cluster.yaml go where the daemon reads them.
        (merged / PAYLOAD / "appliance.service").write_text(unit_file(Config(), "master"))
        (merged / PAYLOAD / "ssh").mkdir()
        (merged / PAYLOAD / "ssh/id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n")
        (merged / PAYLOAD / "ssh/id_ed25519.pub").write_text("ssh-ed25519 AAAAstand-in appliance-provisioning\n")
        (merged / PAYLOAD / "cards.pub").write_text("ssh-ed25519 AAAAcard card=pi-1 flashed=2026-01-01T00:00:00+00:00\n")
        master = _chroot(merged, "sh", f"/{PAYLOAD}/install.sh", "master", f"/{PAYLOAD}", "--no-start")
        assert master.returncode == 0, master.stderr + master.stdout
        state = merged / "var/lib/appliance"
        assert (state / "ssh/id_ed25519").read_text().endswith("stand-in\n")
        assert (state / "ssh/id_ed25519").stat().st_mode & 0o777 == 0o600
        assert (state / "ssh").stat().st_mode & 0o777 == 0o700
        assert (state / "ssh/id_ed25519.pub").read_text().startswith("ssh-ed25519 AAAAstand-in")
        assert not (merged / PAYLOAD / "ssh").exists()
        assert (state / "cards.pub").read_text().startswith("ssh-ed25519 AAAAcard card=pi-1")
        assert (merged / "etc/appliance/cluster.yaml").read_text() == "cluster:\n  name: picluster\n"
        assert (merged / "etc/systemd/system/multi-user.target.wants/appliance.service").is_symlink()
        assert "appliance master run" in (merged / "etc/systemd/system/appliance.service").read_text()


def test_aarch64_payload_runs_in_an_arm64_root_under_qemu(monkeypatch: pytest.MonkeyPatch) -> None:
    root = arm64_root.ensure_root()
    arm64_root.ensure_binfmt()
    monkeypatch.setenv("APPLIANCE_ARM64_ROOT", str(root))  # its Python headers, for the cross build
    house = ensure_wheelhouse("aarch64", _root_python(root))
    ours = next(house.glob("pi_cluster_appliance-*.whl"))
    assert ours.name.endswith("-cp311-abi3-linux_aarch64.whl")
    with arm64_root.overlay(root) as merged:
        _install_in(merged, house)
        done = _chroot(merged, "sh", f"/{PAYLOAD}/install.sh", "worker", f"/{PAYLOAD}", "--no-start")
        assert done.returncode == 0, done.stderr + done.stdout
        assert _chroot(merged, "uname", "-m").stdout.strip() == "aarch64"  # really emulated
        version = _chroot(merged, "appliance", "--version")
        assert version.returncode == 0 and "appliance, version" in version.stdout, version.stderr
        checksum = _chroot(merged, "/opt/appliance/venv/bin/python", "-c",
                           "from native.checksum import inet_checksum; print(inet_checksum(b'\\x45\\x00\\x00\\x1c'))")
        assert checksum.returncode == 0, checksum.stderr
        assert int(checksum.stdout) == 0xBAE3  # the aarch64 C extension computed it


def test_retag_wheel_keeps_a_valid_record(tmp_path: Path) -> None:
    import base64
    import csv
    import hashlib
    import io
    import zipfile

    source = io.BytesIO()
    with zipfile.ZipFile(source, "w") as wheel:
        wheel.writestr("native/_native.abi3.so", b"x86")
        wheel.writestr("pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\n")
        wheel.writestr("pkg-1.0.dist-info/RECORD", "")
    name, data = retag_wheel(source.getvalue(), "linux_aarch64", {"native/_native.abi3.so": b"arm"})
    assert name == "pkg-1.0-cp311-abi3-linux_aarch64.whl"
    result = zipfile.ZipFile(io.BytesIO(data))
    assert result.read("native/_native.abi3.so") == b"arm"
    assert "Tag: cp311-abi3-linux_aarch64" in result.read("pkg-1.0.dist-info/WHEEL").decode()
    rows = {row[0]: row for row in csv.reader(io.StringIO(result.read("pkg-1.0.dist-info/RECORD").decode()))}
    digest = base64.urlsafe_b64encode(hashlib.sha256(b"arm").digest()).rstrip(b"=").decode()
    assert rows["native/_native.abi3.so"] == ["native/_native.abi3.so", f"sha256={digest}", "3"]
