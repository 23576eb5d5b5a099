"""Small shared helpers of the kubeadm commands: output, the clock, waiting, the kubelet service."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

from .errors import KubeadmError


def now() -> datetime:
    """The wall clock (the commands are the I/O shell around pure cores)."""
    return datetime.now(UTC)


def say(*lines: str) -> None:
    """Print kubeadm's progress lines on stdout."""
    for line in lines:
        print(line, flush=True)


def warn(text: str) -> None:
    """A klog warning line on stderr, as kubeadm prints them."""
    stamp = datetime.now().strftime("%m%d %H:%M:%S.%f")
    print(f"W{stamp}   {os.getpid()} common.go:101] {text}", file=sys.stderr, flush=True)


def poll(test: Callable[[], bool], timeout: float, interval: float = 0.5) -> float | None:
    """Poll until `test()` is true; seconds taken, or None on timeout."""
    started = time.monotonic()
    while True:
        try:
            if test():
                return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            return None
        time.sleep(interval)


def kubelet_healthy() -> bool:
    """GET http://127.0.0.1:10248/healthz answers ok."""
    with urllib.request.urlopen("http://127.0.0.1:10248/healthz", timeout=2) as response:  # noqa: S310 - fixed URL
        return bool(response.status == 200)


def systemd_running() -> bool:
    """True when systemd is PID 1's init (kubeadm's init system detection)."""
    return os.path.isdir("/run/systemd/system") and shutil.which("systemctl") is not None


def kubelet_service(action: str) -> str | None:
    """`systemctl <action> kubelet` when systemd runs; a warning line otherwise (as kubeadm)."""
    if not systemd_running():
        return "[kubelet-start] WARNING: No supported init system detected, won't make sure the kubelet is running properly."
    result = subprocess.run(["systemctl", action, "kubelet"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return f"[kubelet-start] WARNING: unable to {action} the kubelet service: [{result.stderr.strip()}]"
    return None


def human_seconds(seconds: float) -> str:
    """Go's Duration.String for waits (`501.234ms`, `1.5s`)."""
    if seconds < 1:
        return f"{seconds * 1000:.6g}ms"
    return f"{seconds:.9g}s"


def fail_timeout(what: str, phase: str) -> KubeadmError:
    """kubeadm's error when a wait runs out."""
    return KubeadmError(f"{what}: context deadline exceeded", phase=phase)
