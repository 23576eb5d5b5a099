"""The agent API's routes: a Flask blueprint and an app factory serving only it.

Every request body is hostile input: it is size-limited and parsed by
netd.agent.protocol, so a bad body gets a 4xx JSON error and never a 500.
The blueprint is mounted by `create_app` for netd's own listener on
`master_address:8081` (LAN only: agents are on the LAN, the uplink never
reaches it); the master's web app can mount the same blueprint instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from foundation.config.model import Config
from netd.agent.protocol import (
    API_PREFIX,
    MAX_BODY,
    AgentConfig,
    AgentCredential,
    ProtocolError,
    config_to_json,
    parse_bearer,
    parse_report,
)
from netd.api.backend import AgentBackend
from netd.routes.plan import wanted_routes

REPORT_INTERVAL = 5.0
"""Seconds between agent reports (also how fast a forgotten node's routes leave the other nodes)."""


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
