"""`/`: the overview (nodes ready/total, uplink, leases, recent events)."""

from __future__ import annotations

import time

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance.master.views import summary
from appliance.web.qr import qr_data_uri
from appliance.web.registry_access import get_actions, get_registry
from foundation import registry
from foundation.errors import ApplianceError

bp = Blueprint("overview", __name__)


def phone_url(uplink: str | None, listen: tuple[str, ...], current: str) -> str:
    """The page's address on the home network (the uplink), for a phone to scan; else the current one."""
    ports = [entry.rpartition(":")[2] for entry in listen if entry.startswith("uplink:")]
    if uplink and ports:
        return f"http://{uplink}:{ports[0]}/"
    return current


@bp.get("/")
def index() -> str:
    """The overview page."""
    actions = get_actions()
    conn = get_registry()
    views = actions.nodes(conn)
    now = time.time()
    leases = [lease for lease in registry.list_leases(conn, active_only=True) if lease.expires > now]
    page_url = phone_url(actions.uplink_address(), actions.config.web.listen, request.host_url)
    return render_template(
        "overview.html", counts=summary(views), uplink=actions.uplink_address(), leases=len(leases),
        page_url=page_url, page_qr=qr_data_uri(page_url),
        events=registry.latest_events(conn, 15), nodes=views,
        kube_error=actions.facts.kube_error,
    )  # fmt: skip


@bp.get("/kubeconfig")
def kubeconfig() -> BaseResponse:
    """Download the laptop's kubeconfig (the API named by an address the home network reaches)."""
    host = (request.host or "").rsplit(":", 1)[0].strip("[]")
    actions = get_actions()
    try:
        body = actions.kubeconfig(host)
    except ApplianceError as error:
        flash(f"No kubeconfig yet: {error}", "error")
        return redirect(url_for("overview.index"))
    name = actions.config.cluster.name
    return Response(body, mimetype="application/yaml",
                    headers={"Content-Disposition": f'attachment; filename="{name}.kubeconfig"'})
