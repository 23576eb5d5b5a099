"""`/api/v1/`: the JSON API the CLI (`appliance nodes|tokens|provision|kubeconfig`) uses.

Authenticated by the local bearer token (root on the master) or a page
session with its CSRF token (auth.guard). Errors are `{"error": one line}`
with 400 (bad input), 404 (unknown), 409 (not possible now) or 503 (a part
is not running: Kubernetes, the runner).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from appliance.master.actions import ProvisioningUnavailable
from appliance.master.kube_access import KubeNotReady
from appliance.web.jobs import job_json
from appliance.web.registry_access import get_actions, get_registry
from foundation.errors import ApplianceError, RegistryError, UsageError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.errorhandler(ApplianceError)
def appliance_error(error: ApplianceError) -> tuple[Response, int]:
    """One line, with the status that says whose move it is."""
    if isinstance(error, UsageError):
        status = 400
    elif isinstance(error, KubeNotReady | ProvisioningUnavailable):
        status = 503
    elif isinstance(error, RegistryError) and "no node named" in str(error):
        status = 404
    else:
        status = 409
    return jsonify(error=str(error).splitlines()[0]), status


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[Response, int]:
    """404, 405, 413 … as JSON too."""
    return jsonify(error=error.description or error.name), error.code or 500


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object")
    return body


@bp.get("/nodes")
def nodes() -> Response:
    """`nodes list -o json`."""
    return jsonify(nodes=[view.to_json() for view in get_actions().nodes(get_registry())])


@bp.post("/nodes/<ident>/approve")
def approve(ident: str) -> Response:
    """Approve a node (its provisioning job is queued)."""
    return jsonify(node=get_actions().approve(get_registry(), ident).to_json())


@bp.post("/nodes/<ident>/reprovision")
def reprovision(ident: str) -> Response:
    """Queue the reprovision plan; answer the job id."""
    return jsonify(job=get_actions().reprovision(get_registry(), ident))


@bp.delete("/nodes/<ident>")
def forget(ident: str) -> Response:
    """Forget a node."""
    get_actions().forget(get_registry(), ident)
    return jsonify(forgotten=ident)


@bp.get("/tokens")
def tokens() -> Response:
    """`tokens list -o json` (never the secret half)."""
    return jsonify(tokens=[token.to_json() for token in get_actions().tokens()])


@bp.post("/tokens")
def create_token() -> tuple[Response, int]:
    """Make a token: {"ttl": seconds, "description": text} → the token, its text and join command."""
    body = _body()
    ttl, description = body.get("ttl"), body.get("description", "")
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not isinstance(description, str):
        raise UsageError('expected {"ttl": seconds, "description": "text"}')
    token, secret, command = get_actions().create_token(get_registry(), ttl=float(ttl), description=description)
    return jsonify(token=token.to_json(), secret=secret, join_command=command), 201


@bp.delete("/tokens/<token_id>")
def revoke_token(token_id: str) -> Response:
    """Revoke a token."""
    get_actions().revoke_token(get_registry(), token_id)
    return jsonify(revoked=token_id)


@bp.post("/provision")
def provision() -> tuple[Response, int]:
    """Queue jobs: {"nodes": [...], "plan": name|null, "dry_run": bool} → their ids."""
    body = _body()
    names, plan, dry_run = body.get("nodes"), body.get("plan"), body.get("dry_run", False)
    if (not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names)
            or not (plan is None or isinstance(plan, str)) or not isinstance(dry_run, bool)):
        raise UsageError('expected {"nodes": ["node-1", ...], "plan": null, "dry_run": false}')
    return jsonify(jobs=get_actions().provision(get_registry(), names, plan, dry_run)), 202


@bp.get("/jobs/<int:job_id>")
def job(job_id: int) -> Response:
    """A job's state and log lines after ?after=SEQ (the CLI follows a job with it)."""
    return jsonify(job_json(job_id, max(request.args.get("after", default=0, type=int) or 0, 0)))


@bp.get("/kubeconfig")
def kubeconfig() -> Response:
    """The laptop's kubeconfig (YAML)."""
    host = (request.host or "").rsplit(":", 1)[0].strip("[]")
    return Response(get_actions().kubeconfig(host), mimetype="application/yaml")


@bp.get("/health")
def health() -> Response:
    """The daemon answers (for the CLI's `connect()` and monitoring)."""
    return jsonify(ok=True, time=time.time())
