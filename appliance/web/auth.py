"""Logging in to the page, and the guard every request passes.

Who may do what:
- `/login` and `/static/` are open to anyone who reaches the page.
- Pages need a session (the admin logged in with the password whose crypt(3)
  hash is `web.admin_password_hash`).
- `/api/` and `/metrics` also accept `Authorization: Bearer <local token>`,
  the secret only root on the master can read (the CLI's way in).
- Every state-changing request authenticated by the cookie must carry the
  CSRF token (a form field or the X-CSRFToken header); a bearer request
  cannot be forged by a browser, so it needs none.
"""

from __future__ import annotations

import hmac
import logging
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.wrappers import Response as BaseResponse
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from appliance.web.password import verify_password
from appliance.web.ratelimit import LoginThrottle

bp = Blueprint("auth", __name__)
log = logging.getLogger("appliance.web")

ADMIN = "admin"
"""The page's one user."""
OPEN_ENDPOINTS = frozenset({"auth.login", "static"})
BEARER_PREFIXES = ("/api/", "/metrics")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginForm(FlaskForm):
    """The login form: the admin password (the user is always `admin`)."""

    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def _bearer_ok() -> bool:
    expected = current_app.config.get("LOCAL_TOKEN")
    if not isinstance(expected, str) or not expected:
        return False
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


def _session_ok() -> bool:
    if session.get("user") != ADMIN:
        return False
    logged_in = session.get("login_at")
    valid_after = current_app.config.get("SESSIONS_VALID_AFTER", 0.0)
    return isinstance(logged_in, float) and logged_in >= valid_after


def guard() -> BaseResponse | None:
    """Before every request: authenticate, then check CSRF for cookie-authenticated changes."""
    g.via_bearer = False
    if request.endpoint in OPEN_ENDPOINTS:
        if request.method in UNSAFE_METHODS:
            _csrf().protect()
        return None
    if request.path.startswith(BEARER_PREFIXES) and _bearer_ok():
        g.via_bearer = True
        return None
    if not _session_ok():
        if request.path.startswith(BEARER_PREFIXES):
            response = jsonify(error="log in on the page, or use the local token (root on the master)")
            response.status_code = 401
            return response
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
    if request.method in UNSAFE_METHODS:
        _csrf().protect()
    return None


def _csrf() -> CSRFProtect:
    extension: CSRFProtect = current_app.extensions["csrf"]
    return extension


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no `//`): never an open redirect."""
    if not target:
        return url_for("overview.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("overview.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str | tuple[str, int, dict[str, str]]:
    """The login form; on success a fresh session."""
    form = LoginForm()
    throttle: LoginThrottle = current_app.config["LOGIN_THROTTLE"]
    client = request.remote_addr or "unknown"
    configured = current_app.config["APPLIANCE_ACTIONS"].config.web.admin_password_hash is not None
    if request.method == "POST":
        now = time.monotonic()
        wait = throttle.retry_after(client, now)
        if wait > 0:
            log.warning("login refused: too many failures", extra={"event": "login.throttled", "client": client})
            message = f"Too many failed logins; try again in {int(wait) + 1} s."
            return render_template("login.html", form=form, error=message, configured=configured), 429, {
                "Retry-After": str(int(wait) + 1)}
        stored = current_app.config["APPLIANCE_ACTIONS"].config.web.admin_password_hash
        if form.validate_on_submit() and verify_password(form.password.data or "", stored):
            throttle.succeeded(client)
            target = _safe_next(request.args.get("next"))
            session.clear()  # a fresh session: nothing from before the login carries over
            session.permanent = True
            session["user"] = ADMIN
            session["login_at"] = time.time()
            log.info("login", extra={"event": "login.ok", "client": client})
            return redirect(target)
        throttle.failed(client, now)
        log.warning("login failed", extra={"event": "login.failed", "client": client})
        return render_template("login.html", form=form, error="Wrong password.", configured=configured), 401, {}
    return render_template("login.html", form=form, error=None, configured=configured)


@bp.post("/logout")
def logout() -> BaseResponse:
    """End every session (there is one admin; a copied cookie must stop working too)."""
    current_app.config["SESSIONS_VALID_AFTER"] = time.time()
    session.clear()
    flash("Logged out.")
    return redirect(url_for("auth.login"))


@bp.app_errorhandler(CSRFError)
def csrf_refused(error: CSRFError) -> tuple[Response | str, int]:
    """A change without a valid CSRF token is refused (403) and changes nothing."""
    log.warning("CSRF check failed", extra={"event": "csrf.refused", "path": request.path})
    if request.path.startswith("/api/"):
        return jsonify(error=f"CSRF check failed: {error.description}"), 403
    return render_template("error.html", title="Refused", message=f"{error.description} Reload the page and try again."), 403


def require_admin() -> None:
    """Abort with 401 unless the request is authenticated (for helpers called outside guard)."""
    if not (g.get("via_bearer") or _session_ok()):
        abort(401)
