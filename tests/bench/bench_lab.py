"""Lab benchmark: how fast the virtual cluster comes up and goes away, and what an idle board costs.

    sudo .venv/bin/python -m tests.bench.bench_lab [--addressing dhcp|static|both] [--build-root]

Figures, each next to the target from issue 3, all in one run:
1. `lab up --nodes 4` with the cached root, until every board answers SSH: target <= 30 s.
2. `lab up --nodes 16`, same measure: target <= 2x the 4-board time.
3. `lab down` (after each up): target <= 5 s.
4. memory per idle board (sum of RSS and of PSS of its processes, 5 s after boot).
   and the CPU time one board's boot costs (its cgroup's usage, launcher and firmware step
   included): unlike the wall times, it does not depend on how busy the machine is.
5. with --build-root: the root build time (mmdebstrap into a temporary cache; a few minutes).

Refuses to run while a lab is up (it would have to take it down). Fresh disks each
time, so first-boot work (SSH host key generation) is included in the up times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from hardware.lab import lifecycle, plumbing
from hardware.lab.state import default_dirs, load_record
from hardware.lab.topology import PREFIX


def board_memory_kib(namespace: str) -> tuple[int, int, int]:
    """(RSS, PSS, process count) of every process in a board's network namespace."""
    rss = pss = count = 0
    for pid in plumbing.namespace_pids(namespace):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:] if ":" in line}
        rss += fields.get("Rss", 0)
        pss += fields.get("Pss", 0)
        count += 1
    return rss, pss, count


def one_round(nodes: int, addressing: str) -> dict[str, float]:
    """Up (fresh disks) until SSH, measure memory, down; return the timings."""
    dirs = default_dirs()
    started = time.monotonic()
    lifecycle.up(dirs, nodes=nodes, addressing=addressing, fresh=True, wait=120, say=lambda m: None)
    up_seconds = time.monotonic() - started
    time.sleep(5)  # let boards settle to idle
    record = load_record(dirs)
    assert record is not None
    memory = [board_memory_kib(n.namespace) for n in record.plan().nodes]
    cpu = [board_cpu_seconds(n.name) for n in record.plan().nodes]
    started = time.monotonic()
    lifecycle.down(dirs)
    down_seconds = time.monotonic() - started
    return {
        "up": up_seconds, "down": down_seconds,
        "rss_mib": sum(m[0] for m in memory) / len(memory) / 1024,
        "pss_mib": sum(m[1] for m in memory) / len(memory) / 1024,
        "procs": sum(m[2] for m in memory) / len(memory),
        "cpu_s": sum(cpu) / len(cpu),
    }


def board_cpu_seconds(name: str) -> float:
    """CPU time used by a board so far (its cgroup's usage_usec; 0 for a lab without board cgroups)."""
    try:
        from hardware.lab import cgroups

        stat = (cgroups.board_dir(name) / "cpu.stat").read_text()
    except (ImportError, OSError):
        return 0.0
    fields = dict(line.split() for line in stat.splitlines() if line.strip())
    return int(fields.get("usage_usec", 0)) / 1e6


def build_root_seconds() -> float:
    """Build the root from scratch into a temporary cache (not the real one) and time it."""
    scratch = Path(tempfile.mkdtemp(prefix="pilab-bench-root-", dir="/var/tmp"))
    os.environ["APPLIANCE_LAB_CACHE"] = str(scratch)
    try:
        import importlib

        from hardware.lab import rootfs

        importlib.reload(rootfs)  # CACHE_DIR is read at import
        info = rootfs.ensure_root(log=scratch / "build.log")
        assert info.build_seconds is not None
        return info.build_seconds
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addressing", choices=["dhcp", "static", "both"], default="both")
    parser.add_argument("--build-root", action="store_true", help="also time a root build from scratch")
    args = parser.parse_args()
    if load_record(default_dirs()) is not None or plumbing.list_namespaces(PREFIX):
        print("a lab is running; run `appliance lab down` first", file=sys.stderr)
        return 2
    modes = ["static", "dhcp"] if args.addressing == "both" else [args.addressing]
    print(f"{'measure':44} {'ours':>10} {'target':>14}")
    for mode in modes:
        four = one_round(4, mode)
        sixteen = one_round(16, mode)
        rows = [
            (f"[{mode}] lab up --nodes 4 until SSH (s)", four["up"], "<= 30"),
            (f"[{mode}] lab up --nodes 16 until SSH (s)", sixteen["up"], f"<= {2 * four['up']:.1f}"),
            (f"[{mode}] 16/4 ratio", sixteen["up"] / four["up"], "<= 2.0"),
            (f"[{mode}] lab down, 4 boards (s)", four["down"], "<= 5"),
            (f"[{mode}] lab down, 16 boards (s)", sixteen["down"], "<= 5"),
            (f"[{mode}] idle board RSS sum (MiB)", four["rss_mib"], "report"),
            (f"[{mode}] idle board PSS sum (MiB)", four["pss_mib"], "report"),
            (f"[{mode}] processes per idle board", four["procs"], "report"),
            (f"[{mode}] CPU per board, boot + 5 s idle (s)", four["cpu_s"], "report"),
            (f"[{mode}] idle board PSS, 16 boards (MiB)", sixteen["pss_mib"], "report"),
        ]
        for name, value, target in rows:
            print(f"{name:44} {value:10.2f} {target:>14}")
    if args.build_root:
        print(f"{'root build, mmdebstrap from scratch (s)':44} {build_root_seconds():10.1f} {'< ~300':>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
