"""The wheelhouse a card installs from offline: every wheel the appliance needs, for one arch and Python.

- Dependencies: `pip download --only-binary=:all: --platform ... --python-version X`
  for the card's architecture and its Debian python3 (read from the image's
  root: trixie 3.13, bookworm 3.11), plus pip's own wheel (the installer runs it).
- Our own wheel: built once with `pip wheel` on this machine. Its C extension
  is cffi's limited-API module (`_native.abi3.so`), so the wheel is tagged
  `cp311-abi3-<platform>` and serves every Python from 3.11. For another
  architecture the extension is cross-compiled (aarch64-linux-gnu-gcc, against
  the Python headers of an arm64 Debian root: APPLIANCE_ARM64_ROOT, or the
  host's libpython3-dev:arm64) and swapped into the wheel (`retag_wheel`, a
  pure function), rather than compiled by gcc under qemu, which takes minutes.
  The tests prove the result by installing it in an arm64 root under
  qemu-user and running `appliance --version`.

Wheelhouses are cached by a key of (arch, python, our version, our sources'
hash, requirements) under APPLIANCE_CACHE_DIR (default ~/.cache/appliance), so
building images a second time needs no network.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import fcntl
import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from images.errors import BuildFailed
from images.payload import DISTRIBUTION

PROJECT = Path(__file__).resolve().parents[1]
"""The source tree this module was loaded from (our wheel is built from it)."""
PLATFORMS = {
    "aarch64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64", "linux_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64", "linux_x86_64"),
}
CROSS_COMPILERS = {"aarch64": "aarch64-linux-gnu-gcc"}
SOURCE_SUFFIXES = (".py", ".c", ".h", ".toml", ".yaml", ".sh", ".html", ".css", ".js")


def cache_dir() -> Path:
    """Where wheelhouses are kept."""
    return Path(os.environ.get("APPLIANCE_CACHE_DIR", Path.home() / ".cache" / "appliance")) / "wheelhouse"


def requirements() -> list[str]:
    """Our runtime requirements as pip understands them (markers kept, extras dropped)."""
    try:
        listed = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        raise BuildFailed(f"{DISTRIBUTION} is not installed; install it (pip install -e .) and retry") from None
    return [item for item in listed if "extra ==" not in item]


def source_hash(root: Path = PROJECT) -> str:
    """Hash of every source file of our packages (a changed file means a new wheel)."""
    digest = hashlib.sha256()
    for package in ("appliance", "foundation", "hardware", "images", "native", "netd", "provisioning"):
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    for name in ("pyproject.toml", "setup.py"):
        if (root / name).exists():
            digest.update((root / name).read_bytes())
    return digest.hexdigest()[:16]


def wheelhouse_key(arch: str, python: str) -> str:
    """Name of the cached wheelhouse for a card of `arch` running `python`."""
    version = metadata.version(DISTRIBUTION)
    requires = hashlib.sha256("\n".join(sorted(requirements())).encode()).hexdigest()[:8]
    return f"{arch}-py{python}-{version}-{source_hash()}-{requires}"


def _pip() -> list[str]:
    return [sys.executable, "-m", "pip"]


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        tail = " | ".join(line for line in (result.stderr or result.stdout).strip().splitlines()
                          if not line.startswith("WARNING"))[-400:]
        raise BuildFailed(f"{what} failed (exit {result.returncode}): {tail}")


def download_dependencies(dest: Path, arch: str, python: str) -> None:
    """Binary wheels of every requirement (and pip) for `arch` and CPython `python`."""
    command = [*_pip(), "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
               "--implementation", "cp", "--python-version", python, "-d", str(dest)]
    for tag in PLATFORMS[arch]:
        command += ["--platform", tag]
    _run([*command, *requirements(), "pip"], f"downloading the {arch} wheels for Python {python} (pip download)")


def build_host_wheel(dest: Path) -> Path:
    """Our wheel for this machine, built from the source tree (`pip wheel --no-deps`)."""
    if not (PROJECT / "pyproject.toml").exists():
        raise BuildFailed(f"the appliance's source tree is not at {PROJECT}; building card images needs a "
                          "source checkout (pip install -e .)")
    _run([*_pip(), "wheel", "--quiet", "--disable-pip-version-check", "--no-deps", "-w", str(dest), str(PROJECT)],
         "building the appliance wheel (pip wheel)")
    built = sorted(dest.glob("pi_cluster_appliance-*.whl"))
    if not built:
        raise BuildFailed("pip wheel made no pi_cluster_appliance wheel")
    return built[-1]


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def retag_wheel(wheel: bytes, platform_tag: str, replace: dict[str, bytes] | None = None) -> tuple[str, bytes]:
    """(new file name, bytes) of `wheel` tagged `cp311-abi3-<platform_tag>`, with files replaced.

    Pure: reads and writes zip bytes. RECORD gets the new hashes and sizes, WHEEL the new tag.
    """
    replace = replace or {}
    source = zipfile.ZipFile(io.BytesIO(wheel))
    names = source.namelist()
    info_dir = next((n.split("/")[0] for n in names if re.fullmatch(r"[^/]+\.dist-info/WHEEL", n)), None)
    if info_dir is None:
        raise ValueError("not a wheel: no .dist-info/WHEEL")
    distribution, version = info_dir.removesuffix(".dist-info").rsplit("-", 1)
    missing = set(replace) - set(names)
    if missing:
        raise ValueError(f"wheel lacks {sorted(missing)}")
    tag = f"cp311-abi3-{platform_tag}"
    contents: dict[str, bytes] = {}
    for name in names:
        data = replace.get(name, source.read(name))
        if name == f"{info_dir}/WHEEL":
            text = re.sub(r"(?m)^Tag: .*$", f"Tag: {tag}", data.decode())
            data = text.encode()
        contents[name] = data
    record_name = f"{info_dir}/RECORD"
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    for name, data in contents.items():
        if name != record_name:
            writer.writerow([name, _record_hash(data), len(data)])
    writer.writerow([record_name, "", ""])
    contents[record_name] = rows.getvalue().encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in contents.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, data)
    return f"{distribution}-{version}-{tag}.whl", out.getvalue()


def arm64_python_headers() -> tuple[Path, Path]:
    """Include folders holding Python.h and aarch64's pyconfig.h."""
    roots = [Path(os.environ["APPLIANCE_ARM64_ROOT"])] if os.environ.get("APPLIANCE_ARM64_ROOT") else []
    roots.append(Path("/"))
    for root in roots:
        for config in sorted(root.glob("usr/include/aarch64-linux-gnu/python3.*/pyconfig.h"), reverse=True):
            generic = root / "usr/include" / config.parent.name
            if (generic / "Python.h").exists():
                return generic, config.parent
    raise BuildFailed("no aarch64 Python headers to cross-build the C extension; set APPLIANCE_ARM64_ROOT to an "
                      "arm64 Debian root with libpython3-dev, or apt-get install libpython3-dev:arm64")


def cross_compile_native(arch: str, work: Path) -> bytes:
    """native/_native.abi3.so built for `arch` with the cross compiler."""
    compiler = CROSS_COMPILERS.get(arch)
    if compiler is None or shutil.which(compiler) is None:
        raise BuildFailed(f"no cross compiler for {arch} ({compiler}); fix: apt-get install gcc-aarch64-linux-gnu")
    sys.path.insert(0, str(PROJECT))
    from native.build_native import ffibuilder  # the cffi build script: what setup.py compiles

    # cffi's own description of the extension (generated C, sources, macros, flags), so the cross
    # build follows native/build_native.py as the package build does.
    with contextlib.redirect_stdout(io.StringIO()):  # cffi says "generating ..." even when not verbose
        extension = ffibuilder.distutils_extension(tmpdir=str(work), verbose=False)
    output = work / "_native.abi3.so"
    command = [compiler, "-shared", "-fPIC", *extension.extra_compile_args]
    for name, value in extension.define_macros:
        command.append(f"-D{name}" if value is None else f"-D{name}={value}")
    generic, specific = arm64_python_headers()
    for folder in [*extension.include_dirs, str(generic), str(specific)]:
        command += ["-I", folder]
    # Debian's Python.h includes <aarch64-linux-gnu/python3.N/pyconfig.h>: searched last, after libc's.
    command += ["-idirafter", str(specific.parent.parent)]
    command += [*extension.sources, "-o", str(output), *(f"-l{lib}" for lib in extension.libraries)]
    result = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildFailed(f"cross-compiling the C extension for {arch} failed: {result.stderr.strip()[-400:]}")
    return output.read_bytes()


def host_arch() -> str:
    """This machine's architecture as the wheel tags name it."""
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())


def build_wheelhouse(dest: Path, arch: str, python: str) -> None:
    """Fill `dest` with every wheel a card of `arch` with CPython `python` needs."""
    if arch not in PLATFORMS:
        raise BuildFailed(f"no wheels for {arch}: cards are aarch64 (Pi OS) or x86_64 (lab cards)")
    download_dependencies(dest, arch, python)
    with tempfile.TemporaryDirectory(prefix="appliance-wheel-") as work:
        host_wheel = build_host_wheel(Path(work))
        data = host_wheel.read_bytes()
        so_name = "native/_native.abi3.so"
        replace = {so_name: cross_compile_native(arch, Path(work))} if arch != host_arch() else {}
        name, wheel = retag_wheel(data, f"linux_{arch}", replace)
        (dest / name).write_bytes(wheel)


def ensure_wheelhouse(arch: str, python: str) -> Path:
    """The cached wheelhouse for (arch, python), built first when missing."""
    path = cache_dir() / wheelhouse_key(arch, python)
    if (path / ".complete").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time (two builds at once, say a test run and `image build`, would replace
    # the folder under the other's feet); whoever waited finds it complete.
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / ".complete").exists():
            return path
        staging = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent))
        try:
            build_wheelhouse(staging, arch, python)
            (staging / ".complete").write_text(path.name + "\n")
            if path.exists():  # an incomplete folder a killed build left
                shutil.rmtree(path)
            staging.rename(path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return path


def wheel_files(wheelhouse: Path) -> dict[str, bytes]:
    """name -> bytes of every wheel in `wheelhouse`."""
    wheels = {p.name: p.read_bytes() for p in sorted(wheelhouse.glob("*.whl"))}
    if not any(name.startswith("pip-") for name in wheels) or not any(
            name.startswith("pi_cluster_appliance-") for name in wheels):
        raise BuildFailed(f"{wheelhouse} lacks pip's wheel or the appliance's; give a complete wheelhouse")
    return wheels
