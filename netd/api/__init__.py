"""The master side of the node agent API (the agents' own side is netd.agent)."""
