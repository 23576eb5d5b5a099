"""The master's local web page: a Flask app factory and one blueprint per page group.

`create_app(test_config=None)` builds the app the daemon serves with waitress
on `web.listen` and on its local Unix socket. Settings come in layers:
safe defaults, then what the daemon passes (or `test_config`). The app needs
`APPLIANCE_ACTIONS` (the daemon's MasterActions); everything else has a
default derived from it.

Security, in one place: every page and API call needs a login (a session
cookie, HttpOnly and SameSite=Strict) or, for the CLI, the local bearer
token only root can read; every state change made with a cookie carries a
CSRF token (Flask-WTF); failed logins are rate limited; Jinja escapes every
string (node names, hostnames, job output, agent errors, token descriptions
all come from outside) and the Content-Security-Policy allows no inline
script, so even a missed escape would not run.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

from appliance.master.actions import MasterActions
from appliance.web import api, auth, filters, jobs, metrics, nodes, overview, tokens
from appliance.web.ratelimit import LoginThrottle
from appliance.web.registry_access import close_registry

SECRET_KEY_FILE = Path("web") / "secret_key"
"""Where the session-signing key lives in STATE_DIR (made at first start, mode 0600)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

csrf = CSRFProtect()


def load_secret_key(state_dir: Path) -> bytes:
    """The session key from STATE_DIR (made on first use), so logins survive a daemon restart."""
    path = state_dir / SECRET_KEY_FILE
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    temporary = path.with_suffix(".tmp")
    temporary.touch(mode=0o600)
    temporary.write_bytes(key)
    temporary.replace(path)
    return key


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The web app; `test_config` (or the daemon's settings) overrides the defaults."""
    app = Flask(__name__)
    app.config.from_mapping(
        SESSION_COOKIE_NAME="appliance_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=64 * 1024,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in auth.guard, for cookie-authenticated requests only
        LOCAL_TOKEN=None,  # the CLI's bearer token (text); None: only logins
        SIMULATED=False,  # the lab: Kubernetes is simulated, the page says so
        METRICS=None,  # callable returning counters from the daemon's services
        LOGIN_THROTTLE=None,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    actions: MasterActions = app.config["APPLIANCE_ACTIONS"]
    web = actions.config.web
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(seconds=web.session_lifetime))
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", web.session_lifetime)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(actions.state_dir)
    if app.config["LOGIN_THROTTLE"] is None:
        app.config["LOGIN_THROTTLE"] = LoginThrottle()
    csrf.init_app(app)
    filters.install(app)
    app.teardown_appcontext(close_registry)

    for blueprint in (auth.bp, overview.bp, nodes.bp, tokens.bp, jobs.bp, api.bp, metrics.bp):
        app.register_blueprint(blueprint)
    csrf.exempt(api.bp)  # the API checks CSRF itself when a cookie (not the bearer) authenticates
    app.before_request(auth.guard)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        if not response.headers.get("Cache-Control"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return app
