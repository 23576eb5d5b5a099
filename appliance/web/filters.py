"""Template filters and the values every page sees (cluster name, login, the lab banner)."""

from __future__ import annotations

import time

from flask import Flask, current_app, session


def when(timestamp: float | None) -> str:
    """A Unix time as `YYYY-MM-DD HH:MM:SS` local time ("—" for none)."""
    if not timestamp:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def human_bytes(count: int) -> str:
    """1536 → `1.5 KiB`."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def cores(millicores: int | None) -> str:
    """Thousandths of a core as `0.75 cores` ("—" when not measured)."""
    if millicores is None:
        return "—"
    return f"{millicores / 1000:.2f} cores"


def duration(seconds: float | None) -> str:
    """Seconds as `1h 5m`, `45s`; `never expires` for None; `expired` at 0."""
    if seconds is None:
        return "never expires"
    whole = int(seconds)
    if whole <= 0:
        return "expired"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def install(app: Flask) -> None:
    """Register the filters and the context every template gets."""
    app.add_template_filter(when, "when")
    app.add_template_filter(human_bytes, "bytes")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(cores, "cores")

    @app.context_processor
    def page_context() -> dict[str, object]:
        actions = current_app.config["APPLIANCE_ACTIONS"]
        return {"cluster_name": actions.config.cluster.name, "logged_in": session.get("user") == "admin",
                "simulated": current_app.config.get("SIMULATED", False)}
