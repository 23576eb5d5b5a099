"""The appliance's faces: the `appliance` command, the master daemon, the web page, the Kubernetes adapter.

Everything below them lives in the services (netd, provisioning, images, the lab),
hardware and the foundation (errors, config, registry, records).
"""

from foundation import __version__

__all__ = ["__version__"]
