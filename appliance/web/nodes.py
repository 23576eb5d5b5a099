"""`/nodes`: every node, and approve, reprovision, forget (each confirmed first)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from appliance.web.registry_access import get_actions, get_registry
from foundation import registry
from foundation.errors import ApplianceError

bp = Blueprint("nodes", __name__, url_prefix="/nodes")

ACTIONS = {
    "approve": ("Approve", "It will be provisioned over SSH and joined to Kubernetes with no further step."),
    "reprovision": ("Reprovision", "It is drained, reset (kubeadm reset), cleaned, provisioned again and rejoined."),
    "forget": ("Forget", "Its name, address and pod network slice are freed; if it comes back it is discovered anew."),
}


class ConfirmForm(FlaskForm):
    """An empty form: only its CSRF token matters."""


@bp.get("")
def index() -> str:
    """The nodes table."""
    conn = get_registry()
    actions = get_actions()
    usage = {row.node: row for row in actions.usage()[0]}
    return render_template("nodes.html", nodes=actions.nodes(conn), usage=usage, form=ConfirmForm())


@bp.get("/<name>")
def detail(name: str) -> str:
    """One node: facts, agent errors, jobs."""
    conn = get_registry()
    actions = get_actions()
    try:
        view = actions.node(conn, name)
    except ApplianceError:
        abort(404)
    nodes, pods = actions.usage()
    usage = next((row for row in nodes if row.node == view.name), None)
    return render_template("node.html", node=view, usage=usage, pods=[pod for pod in pods if pod.node == view.name],
                           jobs=registry.list_jobs(conn, node=view.name, limit=20),
                           events=registry.list_events(conn, node=view.name, limit=50), form=ConfirmForm())


@bp.route("/<name>/<action>", methods=["GET", "POST"])
def act(name: str, action: str) -> Response | str:
    """GET: ask for confirmation; POST (with the CSRF token): do it."""
    if action not in ACTIONS:
        abort(404)
    conn = get_registry()
    actions = get_actions()
    if registry.find_node(conn, name) is None:
        abort(404)
    form = ConfirmForm()
    if not form.validate_on_submit():
        label, consequence = ACTIONS[action]
        return render_template("confirm.html", title=f"{label} {name}?", message=consequence, form=form,
                               button=label, cancel=url_for("nodes.index"))
    try:
        if action == "approve":
            actions.approve(conn, name)
            flash(f"{name} approved.")
        elif action == "reprovision":
            job = actions.reprovision(conn, name)
            flash(f"{name}: reprovisioning, job {job}.")
            return redirect(url_for("jobs.detail", job_id=job))
        else:
            actions.forget(conn, name)
            flash(f"{name} forgotten.")
    except ApplianceError as error:
        flash(str(error), "error")
    return redirect(url_for("nodes.index"))
