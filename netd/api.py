"""The master side of the node agent API: a Flask blueprint, its registry backend, and a server.

Agents authenticate with `Authorization: Bearer <node>.<secret>`; the
registry keeps only a SHA-256 of the secret (agent_credentials table,
appliance.registry.credentials). `issue_agent_credential` is what
provisioning calls: it returns the credential once, to be written into the
node's agent state directory (netd.agent.credential.write_credential).

The blueprint is mounted by `create_app` for netd's own listener on
`master_address:8081` (LAN only: agents are on the LAN, the uplink never
reaches it); the web page can mount the same blueprint in its app instead.
Every request body is hostile input: it is size-limited and parsed by
netd.agent.protocol, so a bad body gets a 4xx JSON error and never a 500.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from appliance import registry
from appliance.config_model import Config
from appliance.errors import EnvironmentProblem
from netd.agent.protocol import (
    API_PREFIX,
    MAX_BODY,
    AgentConfig,
    AgentCredential,
    ProtocolError,
    Report,
    config_to_json,
    parse_bearer,
    parse_report,
)
from netd.events import NodeRecord
from netd.routes_plan import wanted_routes
from netd.service import NetdContext, Service

log = logging.getLogger(__name__)

AGENT_API_PORT = 8081
REPORT_INTERVAL = 5.0
"""Seconds between agent reports (also how fast a forgotten node's routes leave the other nodes)."""
TOUCH_EVERY = 30.0
"""Write an agent's last_seen into the registry at most this often (spares the SD card)."""


@dataclass(frozen=True)
class AgentStatus:
    """The latest report of one agent (for the web page)."""

    node: str
    """Node name."""
    seen: float
    """Unix time of the report."""
    report: Report
    """What it said."""


class AgentBackend(Protocol):
    """What the API needs from the master's state."""

    def nodes(self) -> list[NodeRecord]:
        """Every node."""

    def verify(self, credential: AgentCredential) -> bool:
        """Whether the credential is the node's current one."""

    def heard_from(self, node: str, report: Report, now: float) -> None:
        """Record an agent's report."""


class RegistryBackend:
    """AgentBackend over the registry in a state directory (one connection per server thread)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.status: dict[str, AgentStatus] = {}
        """Latest report per node (in memory)."""
        self._local = threading.local()
        self._touched: dict[str, float] = {}

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = registry.open_registry(self.state_dir)
            self._local.conn = conn
        return conn

    def nodes(self) -> list[NodeRecord]:
        return registry.list_node_records(self._conn())

    def verify(self, credential: AgentCredential) -> bool:
        return registry.verify_agent_credential(self._conn(), credential.node, credential.secret)

    def heard_from(self, node: str, report: Report, now: float) -> None:
        self.status[node] = AgentStatus(node, now, report)
        if now - self._touched.get(node, 0.0) >= TOUCH_EVERY:
            registry.touch_node(self._conn(), node, now=now)
            self._touched[node] = now


def issue_agent_credential(state_dir: Path, node: str, now: float | None = None) -> AgentCredential:
    """Issue (replacing any older one) the agent credential of `node`; returned once, stored hashed."""
    conn = registry.open_registry(state_dir)
    try:
        registry.require_node(conn, node)
        secret = registry.issue_agent_credential(conn, node, now=time.time() if now is None else now)
    finally:
        conn.close()
    return AgentCredential(node, secret)


@dataclass(frozen=True)
class ApiSettings:
    """The parts of the config the API hands to agents."""

    config: Config
    """The cluster config."""
    report_interval: float = REPORT_INTERVAL
    """Seconds between agent reports."""


def _error(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="appliance-agent"'
    return response


def create_agent_blueprint(backend: AgentBackend, settings: ApiSettings) -> Blueprint:
    """The agent API routes (see netd.agent.protocol for the wire format)."""
    bp = Blueprint("agent_api", __name__, url_prefix=API_PREFIX)

    def authenticated() -> AgentCredential | None:
        credential = parse_bearer(request.headers.get("Authorization"))
        if credential is None or not backend.verify(credential):
            return None
        return credential

    def config_for(node_name: str) -> AgentConfig | Response:
        nodes = backend.nodes()
        node = next((n for n in nodes if n.name == node_name), None)
        if node is None:
            return _error(404, f"node {node_name} is not in the registry")
        if node.pod_cidr is None or node.address is None:
            return _error(409, f"node {node_name} has no pod CIDR or address yet; try again later")
        network = settings.config.network
        others = [n for n in nodes if n.name != node.name]
        return AgentConfig(
            node=node.name,
            pod_cidr=node.pod_cidr,
            lan_subnet=network.subnet,
            master_address=network.master_address,
            routes=tuple(sorted(wanted_routes(others, self_address=node.address, lan_subnet=network.subnet))),
            report_interval=settings.report_interval,
        )

    def answer(config: AgentConfig | Response) -> Response:
        if isinstance(config, Response):
            return config
        return Response(config_to_json(config), mimetype="application/json")

    @bp.get("/config")
    def get_config() -> Response:
        credential = authenticated()
        if credential is None:
            return _error(401, "missing or wrong agent credential")
        return answer(config_for(credential.node))

    @bp.post("/report")
    def post_report() -> Response:
        credential = authenticated()
        if credential is None:
            return _error(401, "missing or wrong agent credential")
        body = request.get_data(cache=False)
        try:
            report = parse_report(body)
        except ProtocolError as error:
            return _error(400, f"bad report: {error}")
        config = config_for(credential.node)
        if isinstance(config, AgentConfig):
            backend.heard_from(credential.node, report, time.time())
        return answer(config)

    return bp


def create_app(backend: AgentBackend, settings: ApiSettings) -> Flask:
    """A Flask app serving only the agent API (netd's own listener; tests)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.register_blueprint(create_agent_blueprint(backend, settings))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return _error(error.code or 500, error.description or error.name)

    @app.errorhandler(Exception)
    def internal_error(error: Exception) -> Response:
        current_app.logger.exception("agent API failed")
        return _error(500, "internal error; see the master's log")

    return app


class AgentApiServer:
    """Serves an app on host:port in a thread (werkzeug's threaded WSGI server)."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        # Bind here: werkzeug's make_server turns a bind error into print + sys.exit(1), and a
        # daemon needs an OSError it can handle. werkzeug then serves the listening socket (fd=).
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(64)
            self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, fd=listener.fileno())
        finally:
            listener.close()  # werkzeug holds its own duplicate of the descriptor
        self.port = int(self._server.socket.getsockname()[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="agent-api", daemon=True)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


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
                await asyncio.sleep(0.2)
        assert self._server is not None
        self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)


def create(ctx: NetdContext) -> Service:
    """Factory for the agent API service."""
    return AgentApiService(ctx)
