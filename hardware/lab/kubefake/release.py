"""Which Kubernetes release this copy of the fake plays, and how it labels itself.

The package build writes `release.json` next to this file (the version of
the .deb it goes into); without it (the project's own tests) the default
below is used.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path

DEFAULT_VERSION = "v1.34.2"
"""The release played when no release.json was written (tests in the source tree)."""
SIMULATED = "simulated by the appliance lab"
"""The label every version string of the fake carries."""
GO_VERSION = "go1.24.9"
"""What the fake reports as its Go version (the real 1.34 builds use Go 1.24)."""


@dataclass(frozen=True)
class Release:
    """A Kubernetes release version."""

    version: str
    """`v1.34.2`."""

    @property
    def major(self) -> str:
        """`1`."""
        return self.version.lstrip("v").split(".")[0]

    @property
    def minor(self) -> str:
        """`34`."""
        return self.version.lstrip("v").split(".")[1]

    def info(self) -> dict[str, str]:
        """version.Info as /version and `kubeadm version -o json` print it, plus the label."""
        return {"major": self.major, "minor": self.minor, "emulationMajor": self.major,
                "emulationMinor": self.minor, "minCompatibilityMajor": self.major,
                "minCompatibilityMinor": str(int(self.minor) - 1), "gitVersion": self.version,
                "gitCommit": "0" * 40, "gitTreeState": SIMULATED,
                "buildDate": "2025-11-11T00:00:00Z", "goVersion": GO_VERSION, "compiler": "gc",
                "platform": platform_name()}


def platform_name() -> str:
    """`linux/amd64`, `linux/arm64`: Go's GOOS/GOARCH of this machine."""
    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm"}.get(machine, machine)
    return f"linux/{arch}"


def current() -> Release:
    """The release this installed copy plays."""
    stamp = Path(__file__).with_name("release.json")
    try:
        return Release(str(json.loads(stamp.read_text())["version"]))
    except (OSError, ValueError, KeyError):
        return Release(DEFAULT_VERSION)
