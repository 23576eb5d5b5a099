"""The extension is used only when its compiled-in version matches; otherwise the twins, one warning.

Each case imports a copy of the `native` package in a fresh interpreter (a
missing extension, a stale one built from other sources, the twins asked for
by APPLIANCE_NATIVE=off) and checks that results stay right and that exactly
one warning line says why. The last test shows that cffi releases the GIL
during a C call: another Python thread keeps running while C works.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from native._loader import load
from native._version import expected_version
from native.checksum import inet_checksum, inet_checksum_py
from tests.support.paths import REPO

NATIVE = REPO / "native"

PROGRAM = """
import logging, sys
logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
from native import checksum, cgroup_stat, dns_answer
from native._loader import load
print(checksum.inet_checksum(b"\\x45\\x00\\x00\\x73"), checksum.inet_checksum(b"abc"))
print(type(cgroup_stat.cgroup_files()).__name__, dns_answer.native_answer_cache() is None)
print("native" if load() is not None else "twins")
"""


SUMS = f"{inet_checksum_py(bytes([0x45, 0, 0, 0x73]))} {inet_checksum_py(b'abc')}"


def run_copy(tmp_path: Path, with_extension: bool = True, edit: bool = False,
             env: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    copy = tmp_path / "native"
    shutil.copytree(NATIVE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    if not with_extension:
        for built in copy.glob("_native*.so"):
            built.unlink()
    if edit:
        with open(copy / "src" / "checksum.c", "a") as source:
            source.write("/* edited after the build */\n")
    # -S: no .pth files, so the editable install cannot reach back to this checkout's
    # extension; site-packages is still on the path for cffi's backend.
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROGRAM], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(site.getsitepackages()), **(env or {})},
    )
    return result.stdout.splitlines(), result.stderr.splitlines()


def test_the_built_extension_is_loaded_and_its_version_matches() -> None:
    native = load()
    assert native is not None
    assert native.ffi.string(native.lib.appl_native_version()).decode() == expected_version()


def test_without_the_extension_the_twins_run_after_one_warning(tmp_path: Path) -> None:
    out, err = run_copy(tmp_path, with_extension=False)
    assert out == [SUMS, "CgroupFilesTwin True", "twins"]
    assert len(err) == 1 and err[0].startswith("WARNING native: native extension not importable")


def test_a_stale_extension_is_not_used(tmp_path: Path) -> None:
    out, err = run_copy(tmp_path, edit=True)
    assert out[-1] == "twins" and out[0] == SUMS
    assert len(err) == 1 and "built from other sources" in err[0] and "pip install -e ." in err[0]


def test_the_twins_can_be_asked_for(tmp_path: Path) -> None:
    out, err = run_copy(tmp_path, env={"APPLIANCE_NATIVE": "off"})
    assert out[-1] == "twins"
    assert len(err) == 1 and "disabled by APPLIANCE_NATIVE" in err[0]


def test_an_unedited_copy_uses_the_extension(tmp_path: Path) -> None:
    out, err = run_copy(tmp_path)
    assert out == [SUMS, "NativeCgroupFiles False", "native"]
    assert err == []


@pytest.mark.slow
def test_the_gil_is_released_during_a_c_call() -> None:
    data = bytes(range(256)) * (128 * 4096)  # 128 MiB: C takes tens of milliseconds over it
    stamps: list[float] = []
    running = threading.Event()
    stop = threading.Event()

    def tick() -> None:
        running.set()
        while not stop.is_set():
            stamps.append(time.monotonic())
            for _ in range(100):
                pass

    thread = threading.Thread(target=tick)
    try:
        thread.start()
        running.wait(5)
        started = time.monotonic()
        inet_checksum(data)  # the other thread's Python code runs meanwhile only if C let go
        ended = time.monotonic()
    finally:
        stop.set()
        thread.join()
    took = ended - started
    assert took > 0.005, f"the C call took only {took * 1000:.1f} ms: too short to tell"
    margin = took / 10  # away from the edges, where the GIL changes hands anyway
    inside = [t for t in stamps if started + margin < t < ended - margin]
    assert len(inside) > 10, f"the other thread ran {len(inside)} times in the {took * 1000:.1f} ms of C"
