"""Serves the master's agent API inside a namespace.

    python -m tests.netd.agent.api_driver STATE_DIR ADDRESS PORT REPORT_INTERVAL

Prints {"ready": port} once listening; serves until stdin closes.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from foundation.config.model import Config
from netd.api.backend import RegistryBackend
from netd.api.blueprint import ApiSettings, create_app
from netd.api.server import AgentApiServer


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    state_dir, address, port, interval = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    app = create_app(RegistryBackend(state_dir), ApiSettings(Config(), report_interval=interval))
    server = AgentApiServer(app, address, port)
    server.start()
    print(json.dumps({"ready": server.port}), flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
