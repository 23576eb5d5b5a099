"""The Pi cluster appliance: config, registry, CLI, master daemon, web page."""

__version__ = "0.1.0"
