"""`/jobs`: provisioning jobs, and one job's log streaming live.

The log streams by polling: the page's script asks `/jobs/<id>/log?after=SEQ`
every second and appends the new lines as text. The runner writes lines to
the registry's job_log as they come, so this works across processes and
daemon restarts with no channel of its own.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, render_template, request

from appliance.web.registry_access import get_registry
from foundation import registry

bp = Blueprint("jobs", __name__, url_prefix="/jobs")
MAX_LINES = 500
"""Most log lines one poll returns."""


@bp.get("")
def index() -> str:
    """The latest jobs."""
    return render_template("jobs.html", jobs=registry.list_jobs(get_registry(), limit=100))


@bp.get("/<int:job_id>")
def detail(job_id: int) -> str:
    """One job, its log so far (the script follows the rest)."""
    conn = get_registry()
    job = registry.get_job(conn, job_id)
    if job is None:
        abort(404)
    lines = registry.job_log(conn, job_id, limit=MAX_LINES)
    return render_template("job.html", job=job, lines=lines, last=lines[-1].seq if lines else 0)


def job_json(job_id: int, after: int) -> dict[str, object]:
    """The job's state and its log lines after `after` (the page's poll and the API share it)."""
    conn = get_registry()
    job = registry.get_job(conn, job_id)
    if job is None:
        abort(404)
    lines = registry.job_log(conn, job_id, after_seq=after, limit=MAX_LINES)
    row = dict(conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
    return {
        "id": job.id, "node": job.node, "plan": job.plan, "state": job.state.value,
        "created": job.created, "started": job.started, "finished": job.finished,
        "error": row.get("error"), "changed": row.get("changed"), "step": row.get("step"),
        "steps": row.get("steps"), "step_name": row.get("step_name"), "resumed_from": row.get("resumed_from"),
        "dry_run": bool(row.get("dry_run")),
        "lines": [{"seq": line.seq, "time": line.time, "stream": line.stream.value, "line": line.line}
                  for line in lines],
    }  # fmt: skip


@bp.get("/<int:job_id>/log")
def log(job_id: int) -> Response:
    """JSON: state and new lines after ?after=SEQ."""
    after = request.args.get("after", default=0, type=int) or 0
    return jsonify(job_json(job_id, max(after, 0)))
