"""Times scans of a set of cgroup files: the C set, its Python twin, and reopening every file.

    python cgroup_scan_timer.py FILES.json ROUNDS

Run by bench_cgroups.py, on this machine and inside the arm64 root under
qemu, so it needs nothing but the `native` package. FILES.json is a list of
{"path", "kind", "key"}; the answer is one JSON object: median and best
milliseconds per scan of each way, and whether C and twin read the same.
"reopen" is what cAdvisor does: open, read and close every file on every
scan (here with the twin's parser).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from native._loader import load
from native.cgroup_stat import (
    CgroupFilesTwin,
    NativeCgroupFiles,
    Reading,
    StatFile,
    parse,
)


def timed(scan: Callable[[], object], rounds: int) -> dict[str, float]:
    scan()  # warm: page cache, buffers
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        scan()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(times), "best_ms": min(times)}


def reopen_scan(files: list[StatFile]) -> list[Reading]:
    readings: list[Reading] = []
    for file in files:
        try:
            with open(file.path, "rb") as handle:
                readings.append(parse(file.kind, file.key, handle.read()))
        except OSError:
            readings.append((2, 0, 0))
    return readings


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    rounds = int(sys.argv[2])
    files = [StatFile(item["path"], item["kind"], item["key"]) for item in spec]
    native = load()
    if native is None:
        print(json.dumps({"error": "the native extension is not loaded"}))
        return 1
    c, twin = NativeCgroupFiles(native), CgroupFilesTwin()
    c.open(files)
    twin.open(files)
    results = {
        "machine": os.uname().machine,
        "files": len(files),
        "same_readings": c.scan() == twin.scan(),
        "c": timed(c.scan, rounds),
        "twin": timed(twin.scan, rounds),
        "reopen": timed(lambda: reopen_scan(files), max(3, rounds // 3)),
    }
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
