"""The registry, reached through one accessor cached on `g` (one connection per request)."""

from __future__ import annotations

import sqlite3

from flask import current_app, g

from appliance.master.actions import MasterActions
from foundation import registry


def get_registry() -> sqlite3.Connection:
    """This request's registry connection (opened on first use, closed at teardown)."""
    if "registry" not in g:
        g.registry = registry.open_registry(current_app.config["APPLIANCE_ACTIONS"].state_dir)
    conn: sqlite3.Connection = g.registry
    return conn


def close_registry(error: BaseException | None = None) -> None:
    """Close this request's connection if one was opened."""
    conn = g.pop("registry", None)
    if conn is not None:
        conn.close()


def get_actions() -> MasterActions:
    """The daemon's actions (nodes, tokens, jobs, kubeconfig)."""
    actions: MasterActions = current_app.config["APPLIANCE_ACTIONS"]
    return actions
