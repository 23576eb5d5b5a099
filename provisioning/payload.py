"""What provisioning copies onto a node so that the node agent and the doctor run there.

A node has Debian's python3 (with python3-pyroute2 and python3-yaml) but not the
appliance, so the provisioner copies exactly the modules a program imports, as a
small tar.gz with paths relative to the project root, unpacks it in a directory
of its own and runs the program there. One builder serves both programs; the
archive is reproducible (owner root, mode 0644, mtime 0, no gzip timestamp), so
the same tree always gives the same bytes and provisioning can compare hashes
to skip an unchanged copy.

The module lists are checked by tests: an unpacked payload must import with
`python3 -I` and nothing of the project outside it, and every module in it must
be one the program really imports (IMPORT_CHECK prints what was loaded).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The project root (the payloads' paths are relative to it)."""


@dataclass(frozen=True)
class Payload:
    """A program of the appliance that runs on a node from a copy of its modules."""

    name: str
    """Short name (agent, doctor)."""
    modules: tuple[str, ...]
    """Every project module the program imports, as paths relative to the project root."""
    entry_module: str
    """The module run with `python3 -m` (its import is what IMPORT_CHECK exercises)."""
    home: str
    """Where provisioning unpacks it on a node."""

    @property
    def command(self) -> str:
        """The command run inside `home` (arguments follow)."""
        return f"python3 -m {self.entry_module}"

    def tar(self) -> bytes:
        """The modules as a reproducible tar.gz (built once per process: the files are this program's own)."""
        return _cached_tar(self.modules)

    def sha256(self) -> str:
        """Hex SHA-256 of `tar()` (what provisioning compares before copying)."""
        return hashlib.sha256(self.tar()).hexdigest()


AGENT = Payload(
    name="agent",
    modules=(
        "foundation/__init__.py",
        "foundation/errors.py",
        "foundation/records.py",
        "native/__init__.py",
        "native/_loader.py",
        "native/_version.py",
        "native/cgroup_stat.py",
        "netd/__init__.py",
        "netd/agent/__init__.py",
        "netd/agent/__main__.py",
        "netd/agent/client.py",
        "netd/agent/credential.py",
        "netd/agent/protocol.py",
        "netd/agent/runner.py",
        "netd/agent/pod_cgroups.py",
        "netd/agent/usage.py",
        "netd/agent/usage_report.py",
        "netd/agent/schedule.py",
        "netd/cni.py",
        "netd/netlink_watch.py",
        "netd/routes/__init__.py",
        "netd/routes/plan.py",
        "netd/routes/kernel.py",
        "netd/routes/rtnl_batch.py",
        "netd/routes/keeper.py",
    ),
    entry_module="netd.agent",
    home="/usr/lib/appliance-agent",
)
"""The node agent: routes, CNI config, reports to the master."""

AGENT_STATE_DIR = "/var/lib/appliance-agent"
"""The agent's --state-dir on a node (credential, last config)."""

DOCTOR = Payload(
    name="doctor",
    modules=(
        "foundation/__init__.py",
        "foundation/errors.py",
        "hardware/__init__.py",
        "hardware/models.py",
        "hardware/support.py",
        "hardware/cmdline.py",
        "hardware/swap.py",
        "hardware/doctor/__init__.py",
        "hardware/doctor/__main__.py",
        "hardware/doctor/checks.py",
        "hardware/doctor/parsers.py",
        "hardware/doctor/snapshot.py",
    ),
    entry_module="hardware.doctor",
    home="/usr/lib/appliance-doctor",
)
"""The doctor: preflight checks, run with `-o json` and read back by hardware.doctor.report."""

PROJECT_PACKAGES = ("appliance", "foundation", "netd", "hardware", "provisioning", "images", "native")
"""Top-level packages of this project (IMPORT_CHECK reports the modules of these it loaded)."""

IMPORT_CHECK = f"""
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
module = importlib.import_module(sys.argv[2])
if hasattr(module, "__path__"):  # a package run with -m: what runs is its __main__
    importlib.import_module(sys.argv[2] + ".__main__")
print(json.dumps({{name: getattr(module, "__file__", None) or "" for name, module in list(sys.modules.items())
                  if name.split(".")[0] in {PROJECT_PACKAGES!r}}}))
"""
"""`python3 -I -c IMPORT_CHECK DIR MODULE` imports MODULE from DIR alone and prints {module: file} of
the project's modules it loaded (tests compare the files with a payload's modules; provisioning
runs it before starting the program)."""


@functools.lru_cache(maxsize=8)
def _cached_tar(modules: tuple[str, ...]) -> bytes:
    return module_tar(modules)


def module_tar(modules: tuple[str, ...], root: Path = ROOT) -> bytes:
    """`modules` (paths under `root`) as a tar.gz that is byte-identical for the same files."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in modules:
            data = (root / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
