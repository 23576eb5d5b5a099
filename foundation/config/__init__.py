"""cluster.yaml: one file describes the whole cluster (typed model, loader, checks, docs).

    from foundation.config import load_config
    config = load_config("cluster.yaml")        # -> foundation.config.model.Config
"""

from foundation.config.load import (
    ConfigInvalid,
    Problem,
    default_config_text,
    load_config,
    parse_bytes,
    parse_config,
)

__all__ = ["ConfigInvalid", "Problem", "default_config_text", "load_config", "parse_bytes", "parse_config"]
