"""Data files shipped with the appliance (the default cluster.yaml)."""
