"""The agent API's messages and credential, as pure codecs shared by the master and the agent.

Wire format (JSON over HTTP, `Authorization: Bearer <node>.<secret>`):
- `POST /api/v1/agent/report` with a Report -> 200 and the node's AgentConfig.
  One round trip both says "alive" and fetches the current route set.
- `GET /api/v1/agent/config` -> 200 and the AgentConfig (no liveness).
Errors are `{"error": "..."}` with 400, 401, 404, 409 or 413.

Both sides treat the other's bytes as hostile: every parser raises only
ProtocolError. Standard library only (the agent runs with Debian's python3).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from foundation.errors import ApplianceError
from foundation.records import AgentCredential
from netd.agent.usage_report import UsageError, UsageReport, report_from_dict, report_to_dict
from netd.routes.plan import PodRoute

API_PREFIX = "/api/v1/agent"
MAX_BODY = 64 * 1024
"""Largest request or response body either side accepts (250 nodes' routes take ~15 KiB)."""
MAX_ROUTES = 1024
MAX_ERRORS = 16
_NODE_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_SECRET = re.compile(r"[A-Za-z0-9_-]{16,128}")


class ProtocolError(ApplianceError, ValueError):
    """A message of the agent API is malformed; the text says which field."""


def parse_bearer(header: str | None) -> AgentCredential | None:
    """The credential in an Authorization header, None if absent or malformed."""
    if not header or len(header) > 512:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    node, dot, secret = token.strip().partition(".")
    if not dot or not _NODE_NAME.fullmatch(node) or not _SECRET.fullmatch(secret):
        return None
    return AgentCredential(node, secret)


@dataclass(frozen=True)
class AgentConfig:
    """What the master tells a node's agent."""

    node: str
    """The node's name."""
    pod_cidr: IPv4Network
    """This node's pod CIDR (CNI IPAM subnet)."""
    lan_subnet: IPv4Network
    """The cluster LAN (the agent routes via its interface on it)."""
    master_address: IPv4Address
    """The master's LAN address."""
    routes: tuple[PodRoute, ...]
    """Every other node's pod CIDR via that node's LAN address."""
    report_interval: float
    """Seconds between reports."""


@dataclass(frozen=True)
class Report:
    """What an agent tells the master each interval (liveness and how it is doing)."""

    routes_programmed: int
    """How many routes of ours the agent's last reconcile left in place."""
    pod_cidr: IPv4Network | None
    """The pod CIDR its CNI config was written for, None before the first config."""
    errors: tuple[str, ...]
    """Recent problems, one line each (at most MAX_ERRORS, each at most 200 characters)."""
    agent_version: str
    """The agent's version string."""
    usage: UsageReport | None = None
    """CPU and memory of the node and its pods; None from agents that do not measure them."""


def config_to_json(config: AgentConfig) -> bytes:
    """Encode an AgentConfig."""
    return json.dumps(
        {
            "node": config.node,
            "pod_cidr": str(config.pod_cidr),
            "lan_subnet": str(config.lan_subnet),
            "master_address": str(config.master_address),
            "routes": [{"dst": str(r.dst), "via": str(r.gateway)} for r in sorted(config.routes)],
            "report_interval": config.report_interval,
        }
    ).encode()


def report_to_json(report: Report) -> bytes:
    """Encode a Report (`usage` only when there is one, as older agents sent it)."""
    body: dict[str, object] = {
        "routes_programmed": report.routes_programmed,
        "pod_cidr": str(report.pod_cidr) if report.pod_cidr else None,
        "errors": list(report.errors),
        "agent_version": report.agent_version,
    }
    if report.usage is not None:
        body["usage"] = report_to_dict(report.usage)
    return json.dumps(body).encode()


def _load_object(body: bytes) -> dict[str, object]:
    if len(body) > MAX_BODY:
        raise ProtocolError(f"body of {len(body)} bytes is larger than {MAX_BODY}")
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError(f"body is not JSON: {str(error)[:80]}") from None
    if not isinstance(value, dict):
        raise ProtocolError("body is not a JSON object")
    return value


def _string(obj: dict[str, object], key: str, limit: int = 64) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or len(value) > limit:
        raise ProtocolError(f"{key}: expected a string of at most {limit} characters")
    return value


def _network(obj: dict[str, object], key: str) -> IPv4Network:
    text = _string(obj, key, 18)
    try:
        return IPv4Network(text)
    except ValueError:
        raise ProtocolError(f"{key}: {text!r} is not an IPv4 network") from None


def _address(obj: dict[str, object], key: str) -> IPv4Address:
    text = _string(obj, key, 15)
    try:
        return IPv4Address(text)
    except ValueError:
        raise ProtocolError(f"{key}: {text!r} is not an IPv4 address") from None


def _number(obj: dict[str, object], key: str, low: float, high: float) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ProtocolError(f"{key}: expected a number from {low} to {high}")
    return float(value)


def parse_config(body: bytes) -> AgentConfig:
    """Decode an AgentConfig; ProtocolError for anything else."""
    obj = _load_object(body)
    node = _string(obj, "node")
    if not _NODE_NAME.fullmatch(node):
        raise ProtocolError(f"node: {node!r} is not a node name")
    raw_routes = obj.get("routes")
    if not isinstance(raw_routes, list) or len(raw_routes) > MAX_ROUTES:
        raise ProtocolError(f"routes: expected a list of at most {MAX_ROUTES}")
    routes = []
    for item in raw_routes:
        if not isinstance(item, dict):
            raise ProtocolError("routes: every entry must be an object with dst and via")
        routes.append(PodRoute(_network(item, "dst"), _address(item, "via")))
    return AgentConfig(
        node=node,
        pod_cidr=_network(obj, "pod_cidr"),
        lan_subnet=_network(obj, "lan_subnet"),
        master_address=_address(obj, "master_address"),
        routes=tuple(routes),
        report_interval=_number(obj, "report_interval", 0.05, 3600),
    )


def parse_report(body: bytes) -> Report:
    """Decode a Report; ProtocolError for anything else."""
    obj = _load_object(body)
    programmed = _number(obj, "routes_programmed", 0, 1_000_000)
    if programmed != int(programmed):
        raise ProtocolError("routes_programmed: expected a whole number")
    pod_cidr = None if obj.get("pod_cidr") is None else _network(obj, "pod_cidr")
    raw_errors = obj.get("errors", [])
    if not isinstance(raw_errors, list) or len(raw_errors) > MAX_ERRORS:
        raise ProtocolError(f"errors: expected a list of at most {MAX_ERRORS} strings")
    errors = []
    for line in raw_errors:
        if not isinstance(line, str) or len(line) > 200:
            raise ProtocolError("errors: every entry must be a string of at most 200 characters")
        errors.append(line)
    usage = None
    if obj.get("usage") is not None:
        try:
            usage = report_from_dict(obj["usage"])
        except UsageError as error:
            raise ProtocolError(str(error)) from None
    return Report(
        routes_programmed=int(programmed),
        pod_cidr=pod_cidr,
        errors=tuple(errors),
        agent_version=_string(obj, "agent_version", 40),
        usage=usage,
    )
