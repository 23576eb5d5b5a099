"""An arm64 Debian root to run the native extension's Python tests in, under qemu-user.

    .venv/bin/python tests/native/arm64_root.py            # build once (cached), print its path
    .venv/bin/python tests/native/arm64_root.py --run      # also run tests/native in it

Built once with mmdebstrap (--arch=arm64 --variant=extract: the packages and
their dependencies are unpacked, their maintainer scripts never run, which
takes seconds where running them under qemu took minutes; nothing the tests
use needs them) and cached in /var/cache/appliance-lab/arm64-<hash>
like the lab's own root (hardware/lab/rootfs.py): the name carries a hash of
the package list, a build goes to a staging directory renamed into place,
and the cached tree is never changed afterwards. scripts/install builds it,
so CI has it.

A run never writes into the cached tree: it mounts an overlay (the cache as
the lower layer, a temporary upper layer), copies the `native` package and
tests/native in, cross-compiles the extension for aarch64 against the root's
Python headers (aarch64-linux-gnu-gcc: fast, where gcc under qemu would take
minutes) and runs pytest there with the root's own python3, cffi backend,
pytest and hypothesis; then unmounts and removes everything, also when it
fails. The hypothesis tests run fewer examples there (NATIVE_TEST_SCALE):
emulated Python is 10-30x slower.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.paths import REPO

CACHE_DIR = Path(os.environ.get("APPLIANCE_LAB_CACHE", "/var/cache/appliance-lab"))
SUITE = "bookworm"
PACKAGES = ("python3", "python3-cffi-backend", "python3-pytest", "python3-hypothesis", "libpython3-dev",
            "python3-dnslib", "dash", "coreutils")
"""What runs in the root: Python, cffi's runtime, pytest, hypothesis, Python's headers, dnslib
(the DNS benchmark runs netd.dns there), and a shell and env to start them."""
RECIPE_VERSION = "2"
HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
BINFMT = Path("/proc/sys/fs/binfmt_misc")
TEST_FILES = ("test_checksum.py", "test_dns_answer.py", "test_cgroup_stat.py", "test_dns_serve.py",
              "test_native_loader.py")
"""tests/native files that run in the root (the cross-arch and sanitizer ones drive compilers)."""


class Arm64RootError(RuntimeError):
    """The arm64 root cannot be built or used; the text says how to fix it."""


def root_path() -> Path:
    """Where the cached root for PACKAGES lives."""
    key = hashlib.sha256("\n".join([SUITE, RECIPE_VERSION, *sorted(PACKAGES)]).encode()).hexdigest()
    return CACHE_DIR / f"arm64-{SUITE}-{key[:12]}"


def ensure_binfmt() -> None:
    """Let the kernel run arm64 binaries through qemu-aarch64-static (idempotent)."""
    if not (BINFMT / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
    if not (BINFMT / "qemu-aarch64").exists():
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], check=True)
    if not (BINFMT / "qemu-aarch64").exists():
        raise Arm64RootError("qemu-aarch64 is not registered with binfmt_misc: "
                             "apt-get install qemu-user-static binfmt-support")


def ensure_root() -> Path:
    """The cached arm64 root, built first if needed (seconds: unpacked, not installed)."""
    path = root_path()
    if (path / ".arm64-complete").exists():
        return path
    ensure_binfmt()
    if shutil.which("mmdebstrap") is None:
        raise Arm64RootError("mmdebstrap not found: apt-get install mmdebstrap")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    command = ["mmdebstrap", "--arch=arm64", "--variant=extract", "--mode=root", "--quiet",
               '--aptopt=APT::Install-Recommends "false"', "--include=" + ",".join(PACKAGES),
               # dash's maintainer script would make /bin/sh; extracted, the link is made here.
               '--customize-hook=[ -e "$1/bin/sh" ] || ln -s dash "$1/bin/sh"',
               '--customize-hook=rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*',
               SUITE, str(staging)]
    if HOST_SOURCES.exists():
        command.append(str(HOST_SOURCES))
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-4:])
        raise Arm64RootError(f"mmdebstrap --arch=arm64 failed: {tail}; check the apt mirror in "
                             f"{HOST_SOURCES} and binfmt_misc (update-binfmts --display qemu-aarch64)")
    (staging / ".arm64-complete").write_text(root_path().name + "\n")
    staging.rename(path)
    return path


def python_includes(root: Path) -> list[str]:
    """Flags for the root's Python headers: Python.h, and Debian's multiarch pyconfig.h found
    through the root's /usr/include after the cross compiler's own headers."""
    found = sorted(root.glob("usr/include/python3.*/Python.h"))
    if not found:
        raise Arm64RootError(f"no Python.h in {root}: the root lacks libpython3-dev")
    return ["-I", str(found[-1].parent), "-idirafter", str(root / "usr/include")]


def build_extension(root: Path, native_dir: Path) -> Path:
    """Cross-compile native/_native for aarch64 into `native_dir` (the copy inside the root)."""
    from native.build_native import ffibuilder  # noqa: PLC0415 - only needed here, needs cffi

    generated = native_dir / "_native.c"
    ffibuilder.emit_c_code(str(generated))
    from native._version import expected_version  # noqa: PLC0415

    version = expected_version(REPO / "native")
    output = native_dir / "_native.abi3.so"
    result = subprocess.run(
        ["aarch64-linux-gnu-gcc", "-shared", "-fPIC", "-O2", "-std=c99", "-Wall",
         f'-DAPPL_NATIVE_VERSION="{version}"', "-I", str(native_dir / "src"),
         *python_includes(root), str(generated), *sorted(map(str, (native_dir / "src").glob("*.c"))),
         "-o", str(output)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise Arm64RootError(f"cross-compiling the extension failed: {result.stderr.strip()[-800:]}")
    generated.unlink()
    return output


@contextmanager
def overlay(root: Path) -> Iterator[Path]:
    """A writable view of the cached root (changes go to a temporary upper layer)."""
    work = Path(tempfile.mkdtemp(prefix="nt-arm64-"))
    merged = work / "merged"
    for name in ("upper", "work", "merged"):
        (work / name).mkdir()
    mounted: list[Path] = []
    try:
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={root},upperdir={work / 'upper'},workdir={work / 'work'}",
                        str(merged)], check=True)
        mounted.append(merged)
        for source, kind in (("/proc", "proc"), ("/dev", None), ("/sys", None)):
            target = merged / source.lstrip("/")
            target.mkdir(exist_ok=True)
            if kind == "proc":
                subprocess.run(["mount", "-t", "proc", "proc", str(target)], check=True)
            else:
                subprocess.run(["mount", "--rbind", source, str(target)], check=True)
                subprocess.run(["mount", "--make-rslave", str(target)], check=True)
            mounted.append(target)
        yield merged
    finally:
        for target in reversed(mounted):
            subprocess.run(["umount", "-R", str(target)], check=False)
        shutil.rmtree(work, ignore_errors=True)


def run_tests(extra: list[str], scale: float = 0.05, used: list[Path] | None = None) -> int:
    """Run tests/native (TEST_FILES) in the arm64 root; pytest's exit status. The overlay's
    mount point is appended to `used` (the test checks it is gone afterwards)."""
    root = ensure_root()
    ensure_binfmt()
    with overlay(root) as merged:
        if used is not None:
            used.append(merged)
        src = merged / "src"
        shutil.copytree(REPO / "native", src / "native",
                        ignore=shutil.ignore_patterns("__pycache__", "*.so", "_native.c", "*.o"))
        (src / "tests" / "support").mkdir(parents=True)
        # The tests package with just what tests/native imports (not the namespace kit's conftest:
        # the root has no iproute2 or pyroute2, and the root-only tests are not run there).
        for name in ("tests/__init__.py", "tests/support/__init__.py", "tests/support/paths.py"):
            shutil.copy(REPO / name, src / name)
        shutil.copytree(REPO / "tests" / "native", src / "tests" / "native",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPO / "pyproject.toml", src)
        build_extension(merged, src / "native")
        files = [f"tests/native/{name}" for name in TEST_FILES]
        command = ["chroot", str(merged), "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=/tmp",
                   f"NATIVE_TEST_SCALE={scale}", "PYTHONDONTWRITEBYTECODE=1",
                   "sh", "-c", 'cd /src && exec python3 -m pytest -q -p no:cacheprovider "$@"', "-",
                   "-m", "not root", *files, *extra]
        started = time.monotonic()
        result = subprocess.run(command, check=False)
        print(f"arm64 root: tests took {time.monotonic() - started:.0f} s", file=sys.stderr)
        return result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="store_true", help="run tests/native in the root")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (with --run)")
    args = parser.parse_args()
    try:
        ensure_binfmt()
        root = ensure_root()
        print(root)
        return run_tests(args.pytest_args) if args.run else 0
    except Arm64RootError as error:
        print(f"arm64 root: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
