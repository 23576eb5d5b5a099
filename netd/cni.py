"""The node's CNI network config: the standard bridge + host-local + portmap plugins.

Written by the node agent (stdlib only: it runs with Debian's python3) from
the pod CIDR the registry gave this node. Plugins are the ones Debian's
containernetworking-plugins installs in /usr/lib/cni (bridge, host-local,
portmap, loopback; cniVersion 1.0.0 is supported from plugins 1.0 on, and
bookworm ships 1.1.1).

Choices:
- `bridge` on `cni0` with `isGateway: true`: the bridge holds the first
  address of the node's pod CIDR and is the pods' default gateway; the
  plugin also turns forwarding on.
- `ipMasq: false`: pods talk to other nodes' pods with their own addresses
  over the host-gw routes netd programs (the same as flannel host-gw). The
  way out to the internet is masqueraded once, on the master (netd.nat
  masquerades the pod network too).
- `host-local` IPAM over the node's pod CIDR, default route via the bridge.
- `portmap` for hostPort.
- loopback is not in the list: by CNI convention the runtime brings up each
  pod's `lo` itself (containerd's CRI does, calling the `loopback` plugin);
  a separate `99-loopback.conf` is written for runtimes that read it.

Files are written atomically (temporary file + rename in the same directory).
"""

from __future__ import annotations

import json
import os
import tempfile
from ipaddress import IPv4Network
from pathlib import Path

CNI_CONF_DIR = Path("/etc/cni/net.d")
CONFLIST_NAME = "10-appliance.conflist"
LOOPBACK_NAME = "99-loopback.conf"
NETWORK_NAME = "appliance"
BRIDGE_NAME = "cni0"
CNI_VERSION = "1.0.0"


def render_conflist(pod_cidr: IPv4Network, *, mtu: int = 1500) -> dict[str, object]:
    """The conflist for a node whose pods live in `pod_cidr`."""
    if pod_cidr.num_addresses < 4:
        raise ValueError(f"pod CIDR {pod_cidr} is too small for a bridge gateway and pods")
    return {
        "cniVersion": CNI_VERSION,
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE_NAME,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "mtu": mtu,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(pod_cidr), "gateway": str(pod_cidr[1])}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def render_loopback() -> dict[str, object]:
    """The loopback network config."""
    return {"cniVersion": CNI_VERSION, "name": "lo", "type": "loopback"}


def write_atomically(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write `text` to `path` via a temporary file and rename; False if it already held `text`."""
    try:
        if path.read_text() == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def write_cni_config(pod_cidr: IPv4Network, conf_dir: Path = CNI_CONF_DIR) -> bool:
    """Write the conflist (and the loopback config) into `conf_dir`; True if the conflist changed."""
    changed = write_atomically(conf_dir / CONFLIST_NAME, json.dumps(render_conflist(pod_cidr), indent=2) + "\n")
    write_atomically(conf_dir / LOOPBACK_NAME, json.dumps(render_loopback(), indent=2) + "\n")
    return changed
