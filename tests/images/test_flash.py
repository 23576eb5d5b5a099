"""`appliance flash` to loop devices: written, verified, each card its own, keys recorded for the master."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from images.build import build_images
from images.errors import FlashFailed
from images.flash import verify_card, write_card
from tests.images.base_image import BaseImage
from tests.images.cluster_file import ClusterFile
from tests.images.fat_tools import fsck, mtools_read
from tests.images.image_read import cloud_init_schema, extract_boot, region_sha256

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, trixie_base: BaseImage, cluster: ClusterFile,
           wheelhouse: Path) -> Path:
    out = tmp_path_factory.mktemp("cards")
    build_images(cluster.config, cluster.text, trixie_base.path, out, wheelhouse=wheelhouse)
    return out


class Loops:
    """Loop devices over sparse files, detached at the end whatever happens."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.devices = folder, []  # type: ignore[var-annotated]

    def make(self, name: str, size: int) -> tuple[str, Path]:
        backing = self.folder / name
        with open(backing, "wb") as handle:
            handle.truncate(size)
        device = subprocess.run(["losetup", "-f", "--show", str(backing)], check=True, capture_output=True,
                                text=True).stdout.strip()
        self.devices.append(device)
        return device, backing

    def close(self) -> None:
        for device in self.devices:
            subprocess.run(["losetup", "-d", device], check=False)


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[Loops]:
    made = Loops(tmp_path)
    try:
        yield made
    finally:
        made.close()


def appliance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance.cli.main", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)


def _card_user_data(backing: Path, tmp_path: Path, label: str) -> tuple[dict, Path]:  # type: ignore[type-arg]
    boot = extract_boot(backing, tmp_path / f"{label}-boot.img")
    return yaml.safe_load(mtools_read(boot, "user-data")), boot


def test_two_workers_then_the_master(images: Path, loops: Loops, tmp_path: Path, trixie_base: BaseImage) -> None:
    size = (images / "worker.img").stat().st_size
    (one, one_file), (two, two_file) = loops.make("pi1.img", size + 2**20), loops.make("pi2.img", size + 2**20)
    done = appliance("flash", str(images / "worker.img"), one, two, "--yes", "--allow-non-removable")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("written and verified") == 2
    lines = (images / "cards.pub").read_text().splitlines()
    assert [line.split()[2] for line in lines] == ["card=pi-1", "card=pi-2"]
    seen_ids, seen_keys = set(), set()
    for label, backing, line in (("pi-1", one_file, lines[0]), ("pi-2", two_file, lines[1])):
        user_data, boot = _card_user_data(backing, tmp_path, label)
        fsck(boot)
        seed_file = tmp_path / f"{label}-user-data"
        seed_file.write_bytes(mtools_read(boot, "user-data"))
        cloud_init_schema(seed_file)  # still valid with the card's host keys in it
        keys = user_data["ssh_keys"]
        assert keys["ed25519_public"].split()[:2] == line.split()[:2]
        private = tmp_path / f"{label}.key"
        private.write_text(keys["ed25519_private"])
        private.chmod(0o600)
        derived = subprocess.run(["ssh-keygen", "-y", "-f", str(private)], check=True, capture_output=True, text=True)
        assert derived.stdout.split()[:2] == line.split()[:2]  # the private key is that public key's
        meta = yaml.safe_load(mtools_read(boot, "meta-data"))
        seen_ids.add(meta["instance-id"])
        seen_keys.add(line.split()[1])
        # Everything outside the boot partition is the image's, byte for byte.
        assert region_sha256(backing, 0, trixie_base.boot_start) == region_sha256(images / "worker.img", 0, trixie_base.boot_start)
        assert region_sha256(backing, trixie_base.root_start, size - trixie_base.root_start) == region_sha256(
            images / "worker.img", trixie_base.root_start, size - trixie_base.root_start)
        assert mtools_read(boot, "kernel8.img") == trixie_base.boot_files["kernel8.img"]
    assert len(seen_ids) == 2 and len(seen_keys) == 2
    assert (images / "worker.img").stat().st_blocks * 512 < size  # the image itself was not changed
    master, master_file = loops.make("master.img", size)
    done = appliance("flash", str(images / "master.img"), master, "--yes", "--allow-non-removable")
    assert done.returncode == 0, done.stderr
    assert "carries 3 card key(s)" in done.stdout
    boot = extract_boot(master_file, tmp_path / "master-boot.img")
    carried = mtools_read(boot, "appliance/cards.pub").decode().splitlines()
    assert [line.split()[2] for line in carried] == ["card=pi-1", "card=pi-2", "card=master"]
    assert (images / "cards.pub").read_text().splitlines() == carried


def test_refusals_write_nothing(images: Path, loops: Loops) -> None:
    size = (images / "worker.img").stat().st_size
    small, small_file = loops.make("small.img", size // 2)
    fine, fine_file = loops.make("fine.img", size)
    refused = appliance("flash", str(images / "worker.img"), fine, small, "--yes", "--allow-non-removable")
    assert refused.returncode == 2 and "smaller than" in refused.stderr
    assert refused.stderr.count("\n") == 1  # one line, no traceback
    refused = appliance("flash", str(images / "worker.img"), fine, "--yes")
    assert refused.returncode == 2 and "--allow-non-removable" in refused.stderr
    refused = appliance("flash", str(images / "worker.img"), fine, "--allow-non-removable")
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    for backing in (small_file, fine_file):
        assert backing.stat().st_blocks == 0  # not a byte written
    listed = appliance("flash", str(images / "worker.img"))
    assert listed.returncode == 0, listed.stderr


def test_a_full_card_is_one_clear_line(images: Path) -> None:
    # /dev/full takes nothing (ENOSPC on every write): what a card that fills up early looks like.
    fd = os.open(images / "worker.img", os.O_RDONLY)
    try:
        with pytest.raises(Exception) as caught:
            write_card(fd, 64 * 2**20, "/dev/full")
    finally:
        os.close(fd)
    message = str(caught.value)
    assert type(caught.value).__name__ == "FlashFailed" and "\n" not in message
    assert "/dev/full" in message and "at byte 0" in message and "try another card" in message


def test_read_back_comes_from_the_card_not_from_memory(images: Path, loops: Loops) -> None:
    size = (images / "worker.img").stat().st_size
    device, backing = loops.make("card.img", size)
    fd = os.open(images / "worker.img", os.O_RDONLY)
    try:
        result = write_card(fd, size, device)
    finally:
        os.close(fd)
    assert result.size == size
    assert region_sha256(backing, 0, size) == region_sha256(images / "worker.img", 0, size)
    # Change the card behind the device's page cache: a read-back from memory would not notice.
    with open(backing, "r+b") as handle:
        handle.seek(size // 2)
        handle.write(b"\xff" * 4096)
        handle.flush()
        os.fsync(handle.fileno())
    fd = os.open(images / "worker.img", os.O_RDONLY)
    try:
        with pytest.raises(FlashFailed, match=f"from byte {size // 2};"):
            verify_card(fd, size, device)
    finally:
        os.close(fd)
