"""The kubeconfig handed to the user's laptop, made from the master's admin.conf.

admin.conf names the API server by the master's LAN address, which a laptop
on the home network cannot reach; the copy names an address it can (the
uplink address, which `init` puts in the API server certificate's SANs).
Cluster, user and context get the cluster's name, so several appliances can
live in one ~/.kube/config.
"""

from __future__ import annotations

from typing import Any

import yaml

from foundation.errors import ApplianceError


class KubeconfigProblem(ApplianceError, ValueError):
    """admin.conf is not a kubeconfig this code can rewrite."""


def laptop_kubeconfig(admin_conf: str, *, server: str, cluster_name: str) -> bytes:
    """admin.conf rewritten to reach the API at `server` (https://HOST:6443) as `cluster_name`."""
    try:
        document = yaml.safe_load(admin_conf)
        cluster = dict(document["clusters"][0]["cluster"])
        user = dict(document["users"][0]["user"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as error:
        raise KubeconfigProblem(f"admin.conf is not a kubeconfig with a cluster and a user ({error}); "
                                "reprovision the master") from None
    cluster["server"] = server
    admin = f"{cluster_name}-admin"
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": admin, "user": user}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": admin}}],
        "current-context": cluster_name,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False).encode()
