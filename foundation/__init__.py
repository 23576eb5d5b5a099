"""The foundation layer: errors, cluster.yaml config, the SQLite registry, and the records that cross services.

It imports nothing else of the project, so every layer above (hardware, the
services netd/provisioning/images/lab, and the faces) may use it, and what runs
on a node can carry it without the rest.
"""

__version__ = "0.1.0"
"""The appliance's version (the package, the agent's reports, the images' manifests)."""
