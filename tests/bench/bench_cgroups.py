"""cgroup accounting benchmark: scanning 1,000 real cgroups, the C set against its Python twin.

    sudo .venv/bin/python tests/bench/bench_cgroups.py [--cgroups 1000] [--rounds 30] [--arm64]

Makes N real cgroups on this machine's preferred hierarchy (v1: in the
cpuacct, memory, blkio and pids hierarchies, inside our own cgroup; v2:
under the root), watches the files the node agent reads for each (CPU time,
memory current and limit, block I/O, tasks: netd.agent.pod_cgroups), and
times full scans three ways in the same run: the C set (one call, one
pread per file, descriptors kept open), the twin (the same in Python), and
reopening every file per scan as cAdvisor does. With --arm64 the same timer
runs again inside the arm64 root under qemu-user (tests/native/arm64_root.py)
over the same cgroups: slow, but it shows the path runs there.

Targets (issue 15): C >= 10x the twin, and <= 2 ms per 100 cgroups.
Everything made is removed on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by path (python tests/bench/bench_cgroups.py): run again as `python -m tests.bench.bench_cgroups`
    # from the checkout, the form that imports the tests' helpers.
    os.chdir(Path(__file__).resolve().parents[2])
    os.execv(sys.executable, [sys.executable, "-m", "tests.bench.bench_cgroups", *sys.argv[1:]])

from netd.agent.pod_cgroups import stat_files
from tests.netd.agent.cgroup_tree import CgroupTree, host_layouts
from tests.support.paths import REPO


def files_of(tree: CgroupTree, count: int) -> list[dict[str, object]]:
    names = [f"bench/cg-{i:04d}" for i in range(count)]
    tree.make("bench")
    for name in names:
        tree.make(name)
    return [{"path": file.path, "kind": file.kind, "key": file.key}
            for name in names for _, file in stat_files(tree.layout, name)]


def host_run(spec: Path, rounds: int) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "tests.bench.cgroup_scan_timer", str(spec), str(rounds)],
                         capture_output=True, text=True, check=True, timeout=600, cwd=REPO).stdout
    return dict(json.loads(out))


def arm64_run(spec: Path, rounds: int) -> dict[str, object]:
    from tests.native import arm64_root  # only with --arm64

    root = arm64_root.ensure_root()
    arm64_root.ensure_binfmt()
    with arm64_root.overlay(root) as merged:
        src = merged / "src"
        shutil.copytree(REPO / "native", src / "native",
                        ignore=shutil.ignore_patterns("__pycache__", "*.so", "_native.c"))
        (src / "tests" / "bench").mkdir(parents=True)
        for package_init in ("tests/__init__.py", "tests/bench/__init__.py"):
            shutil.copy(REPO / package_init, src / package_init)
        shutil.copy(REPO / "tests" / "bench" / "cgroup_scan_timer.py", src / "tests" / "bench")
        shutil.copy(spec, src / "files.json")
        arm64_root.build_extension(merged, src / "native")
        out = subprocess.run(
            ["chroot", str(merged), "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "PYTHONPATH=/src", "python3",
             "-m", "tests.bench.cgroup_scan_timer", "/src/files.json", str(rounds)],
            capture_output=True, text=True, check=True, timeout=3600,
        ).stdout
    return dict(json.loads(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cgroups", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30, help="scans timed per way")
    parser.add_argument("--arm64", action="store_true", help="also time it in the arm64 root")
    args = parser.parse_args()
    layouts = host_layouts()
    layout = layouts[1] if 1 in layouts else layouts[2]
    runs: dict[str, dict[str, object]] = {}
    with CgroupTree(layout) as tree, tempfile.TemporaryDirectory(prefix="nt-bench-") as tmp:
        spec = Path(tmp) / "files.json"
        files = files_of(tree, args.cgroups)
        spec.write_text(json.dumps(files))
        runs["host"] = host_run(spec, args.rounds)
        if args.arm64:
            runs["arm64 (qemu)"] = arm64_run(spec, max(3, args.rounds // 5))
        print(f"{args.cgroups} cgroups on cgroup v{layout.version}, {len(files)} files "
              f"({len(files) // args.cgroups} per cgroup), median of {args.rounds} scans")
    print(f"{'where':<14}{'way':<8}{'ms/scan':>10}{'ms/100':>9}{'best':>9}  vs twin")
    ok = True
    for where, result in runs.items():
        if "error" in result:
            print(f"{where}: {result['error']}")
            ok = False
            continue
        twin_ms = float(result["twin"]["median_ms"])  # type: ignore[index]
        for way in ("c", "twin", "reopen"):
            median = float(result[way]["median_ms"])  # type: ignore[index]
            best = float(result[way]["best_ms"])  # type: ignore[index]
            print(f"{where:<14}{way:<8}{median:>10.2f}{median * 100 / args.cgroups:>9.3f}"
                  f"{best:>9.2f}  {twin_ms / median:>5.1f}x")
        c_ms = float(result["c"]["median_ms"])  # type: ignore[index]
        ratio, per_100 = twin_ms / c_ms, c_ms * 100 / args.cgroups
        met = ratio >= 10 and per_100 <= 2 and bool(result["same_readings"])
        if where == "host":
            ok = ok and met
        print(f"{where} ({result['machine']}): C is {ratio:.1f}x the twin (target >= 10x), "
              f"{per_100:.3f} ms per 100 cgroups (target <= 2), same readings: "
              f"{result['same_readings']}" + ("" if where != "host" else f": {'met' if met else 'NOT met'}"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
