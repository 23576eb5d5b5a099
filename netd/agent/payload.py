"""What provisioning installs on a node so that `python3 -m netd.agent` runs there.

A node has Debian's python3 and python3-pyroute2 but not the appliance, so the
provisioner copies exactly the modules the agent imports (a small tar.gz,
paths relative to the project root), unpacks it in AGENT_HOME and runs
AGENT_COMMAND there. The list is checked by tests: the unpacked payload must
import with `python3 -I` and nothing of the project outside it, and every
module in it must be one the agent really imports.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The project root (the payload's paths are relative to it)."""

AGENT_MODULES: tuple[str, ...] = (
    "appliance/__init__.py",
    "appliance/errors.py",
    "native/__init__.py",
    "native/_loader.py",
    "native/_version.py",
    "native/cgroup_stat.py",
    "netd/__init__.py",
    "netd/events.py",
    "netd/agent/__init__.py",
    "netd/agent/__main__.py",
    "netd/agent/client.py",
    "netd/agent/credential.py",
    "netd/agent/protocol.py",
    "netd/agent/runner.py",
    "netd/agent/pod_cgroups.py",
    "netd/agent/usage.py",
    "netd/agent/usage_report.py",
    "netd/cni.py",
    "netd/routes_plan.py",
    "netd/kernel_routes.py",
    "netd/rtnl_batch.py",
    "netd/netlink_events.py",
    "netd/route_keeper.py",
)
"""Every project module `python3 -m netd.agent` imports (and nothing else)."""

AGENT_HOME = "/usr/lib/appliance-agent"
"""Where provisioning unpacks the payload on a node."""
AGENT_STATE_DIR = "/var/lib/appliance-agent"
"""The agent's --state-dir on a node (credential, last config)."""
AGENT_COMMAND = "python3 -m netd.agent"
"""Run inside AGENT_HOME, followed by --master URL --state-dir DIR."""

IMPORT_CHECK = """
import json, sys
sys.path.insert(0, sys.argv[1])
import netd.agent.__main__
print(json.dumps({name: getattr(module, "__file__", None) or "" for name, module in list(sys.modules.items())
                  if name.split(".")[0] in ("appliance", "netd", "hardware", "provisioning", "native")}))
"""
"""`python3 -I -c IMPORT_CHECK DIR` imports the agent from DIR alone and prints {module: file} of
the project's modules it loaded (provisioning runs it before starting the agent; tests compare
the files with AGENT_MODULES)."""


def payload_tar(modules: tuple[str, ...] = AGENT_MODULES) -> bytes:
    """The agent's modules as a tar.gz (owner root, mode 0644, fixed mtime: the same bytes every time)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in modules:
            data = (ROOT / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
