"""Reaching Kubernetes from the master: the adapter (appliance.kube), opened from STATE_DIR.

The adapter is `appliance.kube.KubeClient` (INTERFACES.md). It can be made
once the master was initialised (`STATE_DIR/kubernetes/admin.conf`); before
that every caller gets KubeNotReady with the adapter's one line, and the
page shows that line instead of failing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from foundation.errors import ApplianceError

ADMIN_CONF = Path("kubernetes") / "admin.conf"
"""Where provisioning copies the master's admin.conf, relative to STATE_DIR."""


class KubeNotReady(ApplianceError, RuntimeError):
    """Kubernetes cannot be asked yet (not initialised, adapter missing, API down)."""


def admin_conf(state_dir: Path) -> Path:
    """The admin kubeconfig's path in `state_dir`."""
    return state_dir / ADMIN_CONF


def open_kube(state_dir: Path) -> Any:
    """A KubeClient for the cluster; KubeNotReady (one line) when there is none to be had."""
    from appliance.kube import KubeClient

    try:
        return KubeClient.from_state_dir(state_dir)
    except ApplianceError as error:
        raise KubeNotReady(str(error)) from None
