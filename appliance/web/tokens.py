"""`/tokens`: join tokens (TTL left, description), make one (its join command and a QR code of it,
shown once), revoke."""

from __future__ import annotations

import re
import time

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import IntegerField, StringField
from wtforms.validators import Length, NumberRange, Optional, Regexp

from appliance.web.nodes import ConfirmForm
from appliance.web.qr import qr_data_uri
from appliance.web.registry_access import get_actions, get_registry
from foundation.errors import ApplianceError

bp = Blueprint("tokens", __name__, url_prefix="/tokens")
TOKEN_ID = r"[a-z0-9]{6}"


class TokenForm(FlaskForm):
    """Make a token: TTL in minutes and a description."""

    ttl_minutes = IntegerField("TTL (minutes)", validators=[NumberRange(min=1, max=1440)])
    description = StringField("Description", validators=[Optional(), Length(max=200),
                                                         Regexp(r"^[^\x00-\x1f\x7f]*$", message="one line")])


def _listing(form: TokenForm) -> str:
    try:
        listed = get_actions().tokens()
        problem = None
    except ApplianceError as error:
        listed, problem = [], str(error)
    return render_template("tokens.html", tokens=listed, form=form, revoke=ConfirmForm(), now=time.time(),
                           problem=problem)


@bp.get("")
def index() -> str:
    """The tokens table and the form to make one."""
    form = TokenForm()
    form.ttl_minutes.data = get_actions().config.kubernetes.token_ttl // 60
    return _listing(form)


@bp.post("")
def create() -> tuple[str, int] | str:
    """Make a token; the page shows its join command and QR code this once."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _listing(form), 400
    try:
        token, _secret, command = get_actions().create_token(
            get_registry(), ttl=float(form.ttl_minutes.data or 0) * 60, description=form.description.data or "")
    except ApplianceError as error:
        flash(str(error), "error")
        return _listing(form), 409
    return render_template("token_made.html", token=token, command=command, qr=qr_data_uri(command),
                           now=time.time())


@bp.route("/<token_id>/revoke", methods=["GET", "POST"])
def revoke(token_id: str) -> Response | str:
    """GET: confirm; POST: revoke."""
    if not re.fullmatch(TOKEN_ID, token_id):
        abort(404)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("confirm.html", title=f"Revoke token {token_id}?",
                               message="Nodes that have not joined yet cannot use it any more.",
                               form=form, button="Revoke", cancel=url_for("tokens.index"))
    try:
        get_actions().revoke_token(get_registry(), token_id)
        flash(f"Token {token_id} revoked.")
    except ApplianceError as error:
        flash(str(error), "error")
    return redirect(url_for("tokens.index"))
