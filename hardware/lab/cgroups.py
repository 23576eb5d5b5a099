"""Each board's own cgroup (v2): where its systemd lives, how the lab finds and removes it.

A board's systemd needs a cgroup2 hierarchy of its own. The launcher moves the board's
PID 1 into `<cgroup2 root>/<prefix>boards/<board>` and then into a new cgroup namespace,
so the board mounts cgroup2 and sees that directory as its root. On a hybrid host (cgroup
v1 controllers, cgroup2 at /sys/fs/cgroup/unified) and on a pure cgroup v2 host
(/sys/fs/cgroup) alike.

The directory is also the lab's handle on a board: every process of the board is in it
(also the ones in another network namespace, e.g. services with PrivateNetwork=), so power
off kills what is there, and the tree is removed depth-first once it is empty.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from foundation.errors import EnvironmentProblem
from hardware.lab import topology as t

CGROUP2_MAGIC = 0x63677270
"""statfs f_type of a cgroup2 file system."""

CANDIDATES = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
"""Where a cgroup2 hierarchy is mounted: pure v2 hosts, then hybrid hosts."""


def _is_cgroup2(path: Path, mountinfo: str) -> bool:
    return any(line.split(" - ", 1)[1].split()[0] == "cgroup2" and line.split()[4] == str(path)
               for line in mountinfo.splitlines() if " - " in line)


def cgroup2_root(mountinfo: str | None = None) -> Path:
    """The host's cgroup2 mount point; one line with the fix when there is none."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    for candidate in CANDIDATES:
        if _is_cgroup2(candidate, text):
            return candidate
    raise EnvironmentProblem(
        "no cgroup2 hierarchy is mounted (the boards' systemd needs one); fix: "
        "mount -t cgroup2 none /sys/fs/cgroup/unified, or boot with systemd.unified_cgroup_hierarchy"
    )


def lab_dir(root: Path | None = None) -> Path:
    """The parent of every board's cgroup of this lab (named from the lab's prefix)."""
    return (root or cgroup2_root()) / f"{t.PREFIX}boards"


def board_dir(name: str, root: Path | None = None) -> Path:
    """Board `name`'s cgroup directory."""
    return lab_dir(root) / name


def pids(directory: Path) -> list[int]:
    """Every process in the cgroup tree below `directory` (empty when it does not exist)."""
    found: list[int] = []
    for parent, _dirs, files in os.walk(directory):
        if "cgroup.procs" in files:
            with contextlib.suppress(OSError):
                found += [int(p) for p in (Path(parent) / "cgroup.procs").read_text().split()]
    return found


def kill(directory: Path) -> None:
    """SIGKILL every process in the tree at once (cgroup.kill where the kernel has it)."""
    killer = directory / "cgroup.kill"
    if killer.exists():
        with contextlib.suppress(OSError):
            killer.write_text("1")
            return
    for pid in pids(directory):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def remove(directory: Path, timeout: float = 5.0) -> None:
    """Remove the tree depth-first, waiting for dying processes to leave it."""
    deadline = time.monotonic() + timeout
    while directory.exists():
        busy = False
        for parent, _dirs, _files in os.walk(directory, topdown=False):
            try:
                os.rmdir(parent)
            except FileNotFoundError:
                pass
            except OSError:
                busy = True  # still populated: processes are exiting
        if not busy or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if directory.exists():
        raise EnvironmentProblem(
            f"cgroup {directory} still holds processes {pids(directory)[:5]}; fix: check `ps` for "
            "processes in D state, then run appliance lab down again"
        )
