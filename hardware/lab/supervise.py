"""A tiny process supervisor for the lab master's daemon (what systemd does on a real master).

    python -m hardware.lab.supervise --status FILE --log FILE -- COMMAND...

Starts COMMAND, restarts it with a growing pause (1 s … 10 s) when it exits,
and keeps FILE (JSON: pid of the current child, restarts, last exit code)
up to date so `lab status` can say whether the daemon runs. SIGTERM stops
the child (SIGTERM, then SIGKILL after 5 s) and the supervisor.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def write_status(path: Path, **fields: object) -> None:
    """Replace the status file atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(fields))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    """Supervise the command given after `--` until SIGTERM."""
    parser = argparse.ArgumentParser(prog="hardware.lab.supervise")
    parser.add_argument("--status", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to supervise")

    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    restarts, pause, last_exit = 0, 1.0, None
    while not stopping:
        with open(args.log, "ab") as log:
            log.write(f"--- supervise: starting {' '.join(command)}\n".encode())
            log.flush()
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        started = time.monotonic()
        write_status(args.status, pid=child.pid, supervisor=os.getpid(), running=True,
                     restarts=restarts, last_exit=last_exit, command=command)
        try:
            last_exit = child.wait()
        except KeyboardInterrupt:
            stopping = True
            continue
        write_status(args.status, pid=None, supervisor=os.getpid(), running=False,
                     restarts=restarts, last_exit=last_exit, command=command)
        if stopping:
            break
        # A daemon that ran a while and then died restarts fast; a crash loop backs off.
        pause = 1.0 if time.monotonic() - started > 30 else min(pause * 2, 10.0)
        with open(args.log, "ab") as log:
            log.write(f"--- supervise: exited with {last_exit}; restarting in {pause:.0f} s\n".encode())
        restarts += 1
        deadline = time.monotonic() + pause
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
    if child and child.poll() is None:
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
