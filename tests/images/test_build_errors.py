"""Bad input to `build_images`: one clear error each, and no output (not even a partial) left behind."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from foundation.config import load_config
from foundation.errors import ApplianceError
from images.build import build_images
from images.errors import BuildFailed, ImageError
from images.seed import NoPasswordHash
from tests.images.base_image import BaseImage, make_base_image
from tests.images.cluster_file import ClusterFile, write_cluster

pytestmark = pytest.mark.root


def _build(cluster: ClusterFile, base: Path, out: Path, wheelhouse: Path, **kwargs: object) -> None:
    build_images(cluster.config, cluster.text, base, out, wheelhouse=wheelhouse, **kwargs)  # type: ignore[arg-type]


def _assert_nothing_left(out: Path) -> None:
    assert not out.exists() or list(out.iterdir()) == []


def _one_line(error: ApplianceError) -> str:
    text = str(error)
    assert "\n" not in text and len(text) < 400
    return text


def test_missing_psk_file(tmp_path: Path, trixie_base: BaseImage, wheelhouse: Path) -> None:
    cluster = write_cluster(tmp_path / "cfg")
    cluster.psk_file.unlink()
    with pytest.raises(ImageError) as caught:
        _build(cluster, trixie_base.path, tmp_path / "out", wheelhouse)
    assert "wifi.psk_file" in _one_line(caught.value) and "no such file" in str(caught.value)
    _assert_nothing_left(tmp_path / "out")


def test_no_password_hash_no_image(tmp_path: Path, trixie_base: BaseImage, wheelhouse: Path) -> None:
    cluster = write_cluster(tmp_path / "cfg", password=False)
    with pytest.raises(NoPasswordHash) as caught:
        _build(cluster, trixie_base.path, tmp_path / "out", wheelhouse)
    assert "default password" in _one_line(caught.value)
    _assert_nothing_left(tmp_path / "out")


def test_a_provisioning_user_the_cards_do_not_make(tmp_path: Path, trixie_base: BaseImage, wheelhouse: Path) -> None:
    cluster = write_cluster(tmp_path / "cfg")
    cluster.path.write_text(cluster.text + "provisioning:\n  ssh_user: admin\n")
    with pytest.raises(ImageError) as caught:
        build_images(load_config(cluster.path), cluster.path.read_text(), trixie_base.path, tmp_path / "out",
                     wheelhouse=wheelhouse)
    assert "provisioning.ssh_user" in _one_line(caught.value) and "set provisioning.ssh_user to access.user" in str(
        caught.value)
    _assert_nothing_left(tmp_path / "out")


def test_corrupt_xz(tmp_path: Path, trixie_xz: Path, cluster: ClusterFile, wheelhouse: Path) -> None:
    data = bytearray(trixie_xz.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    bad = tmp_path / "bad.img.xz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ImageError) as caught:
        _build(cluster, bad, tmp_path / "out", wheelhouse)
    assert "corrupt .xz" in _one_line(caught.value)
    _assert_nothing_left(tmp_path / "out")


def test_truncated_xz_and_truncated_img(tmp_path: Path, trixie_xz: Path, trixie_base: BaseImage,
                                        cluster: ClusterFile, wheelhouse: Path) -> None:
    cut = tmp_path / "cut.img.xz"
    cut.write_bytes(trixie_xz.read_bytes()[: trixie_xz.stat().st_size * 2 // 3])
    with pytest.raises(ImageError, match="ends early|corrupt") as caught:
        _build(cluster, cut, tmp_path / "out", wheelhouse)
    _one_line(caught.value)
    short = tmp_path / "short.img"
    with open(trixie_base.path, "rb") as source, open(short, "wb") as target:
        target.write(source.read(trixie_base.root_start + 1024 * 1024))
    with pytest.raises(ImageError, match="beyond the end") as caught:
        _build(cluster, short, tmp_path / "out", wheelhouse)
    _assert_nothing_left(tmp_path / "out")


def test_wrong_sha256(tmp_path: Path, trixie_xz: Path, cluster: ClusterFile, wheelhouse: Path) -> None:
    with pytest.raises(ImageError, match="SHA-256 is"):
        _build(cluster, trixie_xz, tmp_path / "out", wheelhouse, expected_sha256="0" * 64)
    _assert_nothing_left(tmp_path / "out")
    with pytest.raises(ImageError, match="64 hex digits"):
        _build(cluster, trixie_xz, tmp_path / "out", wheelhouse, expected_sha256="abc")


def _huge_dictionary_xz(tmp_path: Path) -> Path:
    """A valid little .xz whose block header asks for a 3 GiB LZMA2 dictionary (CRC fixed up)."""
    plain = tmp_path / "plain"
    plain.write_bytes(b"x" * 1000)
    subprocess.run(["xz", "-k", "-0", str(plain)], check=True)
    data = bytearray((tmp_path / "plain.xz").read_bytes())
    header_size = (data[12] + 1) * 4
    header = data[12:12 + header_size]
    filter_at = header.index(b"\x21\x01")  # LZMA2 filter id, one property byte
    header[filter_at + 2] = 39  # dictionary size code 39 = 3 GiB
    struct.pack_into("<I", header, header_size - 4, zlib.crc32(bytes(header[: header_size - 4])))
    data[12:12 + header_size] = header
    path = tmp_path / "huge.img.xz"
    path.write_bytes(bytes(data))
    return path


def test_huge_xz_dictionary_is_refused_at_once(tmp_path: Path, cluster: ClusterFile, wheelhouse: Path) -> None:
    huge = _huge_dictionary_xz(tmp_path)
    started = time.monotonic()
    with pytest.raises(ImageError, match="corrupt .xz.*[Mm]emory") as caught:
        _build(cluster, huge, tmp_path / "out", wheelhouse)
    assert time.monotonic() - started < 5
    _one_line(caught.value)
    _assert_nothing_left(tmp_path / "out")


def test_not_a_disk_image(tmp_path: Path, cluster: ClusterFile, wheelhouse: Path) -> None:
    junk = tmp_path / "junk.img"
    junk.write_bytes(os.urandom(3 * 1024 * 1024))
    with pytest.raises(ImageError, match="partition table"):
        _build(cluster, junk, tmp_path / "out", wheelhouse)
    _assert_nothing_left(tmp_path / "out")


def test_32_bit_system_is_refused(tmp_path: Path, root_slice: Path, cluster: ClusterFile, wheelhouse: Path) -> None:
    root = tmp_path / "root32"
    shutil.copytree(root_slice, root, symlinks=True)
    python = next((root / "usr/bin").glob("python3.*"))
    # An armhf (32-bit ARM, EM_ARM) ELF header where python3 is: what a 32-bit Pi OS root holds.
    python.write_bytes(b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HH", 2, 0x28) + bytes(200))
    base = make_base_image(tmp_path / "armhf.img", "trixie", root, size_mib=600)
    with pytest.raises(ImageError, match="32-bit") as caught:
        _build(cluster, base.path, tmp_path / "out", wheelhouse)
    assert "64-bit" in _one_line(caught.value)
    _assert_nothing_left(tmp_path / "out")


def test_no_space_for_the_output(tmp_path: Path, trixie_base: BaseImage, cluster: ClusterFile, wheelhouse: Path) -> None:
    out = tmp_path / "small"
    out.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(out)], check=True)
    try:
        with pytest.raises(BuildFailed) as caught:
            _build(cluster, trixie_base.path, out, wheelhouse)
        assert "no space" in _one_line(caught.value)
        assert list(out.iterdir()) == []
    finally:
        subprocess.run(["umount", str(out)], check=True)
