"""The agent API as a netd service (`--only api`), listening on the master's LAN address."""

from __future__ import annotations

import asyncio
import errno
import logging

from foundation.errors import EnvironmentProblem
from netd.api.backend import RegistryBackend
from netd.api.blueprint import ApiSettings, create_app
from netd.api.server import AgentApiServer
from netd.service import NetdContext, Service

log = logging.getLogger(__name__)

AGENT_API_PORT = 8081
"""The agent API's TCP port on the master's LAN address."""


class AgentApiService:
    """The agent API as a netd service (`api`), listening on the master's LAN address."""

    name = "api"

    def __init__(self, ctx: NetdContext, port: int = AGENT_API_PORT) -> None:
        self._ctx = ctx
        self._port = port
        self.backend = RegistryBackend(ctx.state_dir)
        self._server: AgentApiServer | None = None

    async def start(self) -> None:
        app = create_app(self.backend, ApiSettings(self._ctx.config))
        address = str(self._ctx.config.network.master_address)
        # The routes service may still be putting the LAN address on: wait a little for it.
        for attempt in range(50):
            try:
                self._server = AgentApiServer(app, address, self._port)
                break
            except OSError as error:
                if error.errno != errno.EADDRNOTAVAIL or attempt == 49:
                    raise EnvironmentProblem(
                        f"agent API cannot listen on {address}:{self._port} ({error.strerror}) — "
                        "check network.master_address and that nothing else uses the port"
                    ) from None
                if attempt == 0:
                    log.info("agent API: waiting up to 10 s for %s to be on an interface", address)
                await asyncio.sleep(0.2)
        assert self._server is not None
        self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)


def create(ctx: NetdContext) -> Service:
    """Factory for the agent API service."""
    return AgentApiService(ctx)
