"""Image build and card flashing, beside the tools named in the issue, in the same run (root).

    .venv/bin/python tests/bench/bench_images.py [--repeat 3] [--only build|flash]

Build: both card images from a 2 GiB sparse Pi-OS-shaped `.img.xz` (the lab's
whole Debian root as rootfs, made once by the tests' generator and cached in
/var/tmp/appliance-bench), against `xz -dc FILE > /dev/null` of the same file
alone. Target: at most 1.3x. The wheelhouse is built before timing (a build
reuses the cached one; building it is a one-off).

Flash: write + fsync + read back + compare one 2 GiB card image to a loop
device (`appliance flash`'s code path), against `dd bs=4M conv=fsync` followed
by `cmp` of the image and the device. Target: at least 0.9x dd+cmp's throughput.
Each figure is the median of --repeat runs, the runs of the two sides interleaved,
with wall and CPU time (the CPU figure does not depend on what else the machine runs).
The first build of a given .xz is reported apart: its root facts are learnt at the
end of the stream, so it seeds and hashes afterwards; later builds of the same file
seed while streaming (images.facts_cache).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by path (python tests/bench/bench_images.py): run again as `python -m tests.bench.bench_images`
    # from the checkout, the form that imports the tests' helpers.
    os.chdir(Path(__file__).resolve().parents[2])
    os.execv(sys.executable, [sys.executable, "-m", "tests.bench.bench_images", *sys.argv[1:]])

from images.build import build_images
from images.flash import write_card
from images.rootfs import python_version
from images.wheels import ensure_wheelhouse, host_arch
from tests.images.base_image import lab_root, make_base_image, xz_compress
from tests.images.cluster_file import write_cluster

CACHE = Path(os.environ.get("APPLIANCE_BENCH_DIR", "/var/tmp/appliance-bench"))
GENERATOR_VERSION = "1"
SIZE_MIB = 2048


def bench_image() -> Path:
    """The 2 GiB .img.xz (made once: the xz compression takes a few minutes)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    xz = CACHE / f"pios-2g-v{GENERATOR_VERSION}.img.xz"
    if not xz.exists():
        print(f"making {xz} (once)...", file=sys.stderr)
        image = make_base_image(CACHE / "pios-2g.img", "trixie", lab_root(), size_mib=SIZE_MIB)
        made = xz_compress(image.path, "-6")
        made.rename(xz)
        image.path.unlink()
    return xz


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s (range {min(values):.2f}-{max(values):.2f})"


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, its threads and its waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_cpu(action: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `action`."""
    cpu = cpu_seconds()
    wall = timed(action)
    return wall, cpu_seconds() - cpu


def bench_build(repeat: int) -> None:
    xz = bench_image()
    work = Path(tempfile.mkdtemp(prefix="bench-images-", dir=CACHE))
    os.environ["APPLIANCE_CACHE_DIR"] = str(work / "cache")  # a fresh memory of base facts: the first build is cold
    cluster = write_cluster(work / "cfg")
    house = ensure_wheelhouse(host_arch(), python_version(tuple(p.name for p in (lab_root() / "usr/lib").iterdir()))
                              or "3.11")
    ours: list[tuple[float, float]] = []
    anchor: list[tuple[float, float]] = []

    def build(out: Path) -> None:
        build_images(cluster.config, cluster.text, xz, out, wheelhouse=house)
        for name in ("master.img", "worker.img", "manifest.json"):
            (out / name).unlink()

    try:
        with open(os.devnull, "wb") as sink:
            cold_anchor = timed_cpu(lambda: subprocess.run(["xz", "-dc", str(xz)], stdout=sink, check=True))
        cold = timed_cpu(lambda: build(work / "cold"))
        for run in range(repeat):
            with open(os.devnull, "wb") as sink:
                anchor.append(timed_cpu(lambda: subprocess.run(["xz", "-dc", str(xz)], stdout=sink, check=True)))
            out = work / f"out{run}"
            ours.append(timed_cpu(lambda out=out: build(out)))  # type: ignore[misc]
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    wall_anchor = [a[0] for a in anchor]
    wall_ours = [o[0] for o in ours]
    print(f"build from {xz.name} ({xz.stat().st_size / 1e6:.0f} MB compressed, {SIZE_MIB} MiB image), "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs:")
    print(f"  xz -dc > /dev/null          {median(wall_anchor)}   CPU {statistics.median(a[1] for a in anchor):5.1f} s")
    print(f"  appliance image build       {median(wall_ours)}   CPU {statistics.median(o[1] for o in ours):5.1f} s"
          "   (both images seeded while streaming, hashed, manifest)")
    print(f"  ratio                       {statistics.median(wall_ours) / statistics.median(wall_anchor):6.2f}x   "
          "(target <= 1.3x)")
    print(f"  first build of this file    {cold[0]:6.2f} s vs xz -dc {cold_anchor[0]:.2f} s = "
          f"{cold[0] / cold_anchor[0]:.2f}x   (root facts unknown until the stream ends: seeded and hashed after it)")


def bench_flash(repeat: int) -> None:
    xz = bench_image()
    work = Path(tempfile.mkdtemp(prefix="bench-flash-", dir=CACHE))
    loop = ""
    try:
        image = work / "card-image.img"
        with open(image, "wb") as target:
            subprocess.run(["xz", "-dc", str(xz)], stdout=target, check=True)
        size = image.stat().st_size
        backing = work / "card.img"
        with open(backing, "wb") as handle:
            handle.truncate(size)
        loop = subprocess.run(["losetup", "-f", "--show", str(backing)], check=True, capture_output=True,
                              text=True).stdout.strip()
        ours: list[float] = []
        anchor: list[float] = []

        def dd_cmp() -> None:
            subprocess.run(["dd", f"if={image}", f"of={loop}", "bs=4M", "conv=fsync", "status=none"], check=True)
            subprocess.run(["cmp", str(image), loop, "-n", str(size)], check=True)

        def appliance_flash() -> None:
            fd = os.open(image, os.O_RDONLY)
            try:
                write_card(fd, size, loop)
            finally:
                os.close(fd)

        anchor_cpu: list[float] = []
        ours_cpu: list[float] = []
        for _ in range(repeat):
            wall, cpu = timed_cpu(dd_cmp)
            anchor.append(wall)
            anchor_cpu.append(cpu)
            wall, cpu = timed_cpu(appliance_flash)
            ours.append(wall)
            ours_cpu.append(cpu)
        mb = size / 1e6
        print(f"flash + verify {size / 2**30:.0f} GiB to a loop device, load average {os.getloadavg()[0]:.1f}:")
        print(f"  dd bs=4M conv=fsync + cmp   {median(anchor)}   {mb / statistics.median(anchor):6.0f} MB/s"
              f"   CPU {statistics.median(anchor_cpu):5.1f} s")
        print(f"  appliance flash             {median(ours)}   {mb / statistics.median(ours):6.0f} MB/s"
              f"   CPU {statistics.median(ours_cpu):5.1f} s   (read back from the card, compared byte for byte)")
        print(f"  throughput ratio            {statistics.median(anchor) / statistics.median(ours):6.2f}x   (target >= 0.9x)")
    finally:
        if loop:
            subprocess.run(["losetup", "-d", loop], check=False)
        subprocess.run(["rm", "-rf", str(work)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["build", "flash"])
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_images: run as root (loop devices, the lab root)")
    if args.only in (None, "build"):
        bench_build(args.repeat)
    if args.only in (None, "flash"):
        bench_flash(args.repeat)


if __name__ == "__main__":
    main()
