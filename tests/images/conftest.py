"""Fixtures of the image tests: base images made by the generator, a cluster.yaml, the wheelhouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.images.base_image import BaseImage, make_base_image, small_root, xz_compress
from tests.images.cluster_file import ClusterFile, write_cluster


@pytest.fixture(scope="session")
def root_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_root(tmp_path_factory.mktemp("root") / "root")


@pytest.fixture(scope="session")
def trixie_base(tmp_path_factory: pytest.TempPathFactory, root_slice: Path) -> BaseImage:
    return make_base_image(tmp_path_factory.mktemp("trixie") / "trixie.img", "trixie", root_slice, size_mib=640)


@pytest.fixture(scope="session")
def trixie_xz(trixie_base: BaseImage) -> Path:
    return xz_compress(trixie_base.path)


@pytest.fixture(scope="session")
def bookworm_base(tmp_path_factory: pytest.TempPathFactory, root_slice: Path) -> BaseImage:
    return make_base_image(tmp_path_factory.mktemp("bookworm") / "bookworm.img", "bookworm", root_slice,
                           size_mib=640)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> ClusterFile:
    return write_cluster(tmp_path_factory.mktemp("cluster"))


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """The real wheelhouse for this machine's arch and the lab root's Python (cached across runs)."""
    from images.wheels import ensure_wheelhouse, host_arch
    from tests.images.base_image import lab_root_python

    return ensure_wheelhouse(host_arch(), lab_root_python())
