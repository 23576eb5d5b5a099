"""Runs the agent API as a netd service (what `netd run --only api` starts) inside a namespace.

    python -m tests.netd.agent.api_service_runner STATE_DIR

Prints "listening" once the service has started; stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from foundation.config.model import Config
from netd.api.service import create
from netd.bus import EventBus
from netd.service import NetdContext


async def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    service = create(NetdContext(Config(), EventBus(), Path(sys.argv[1])))
    await service.start()
    print("listening", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await service.stop()


if __name__ == "__main__":
    asyncio.run(main())
