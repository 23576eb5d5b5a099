"""The master keeps the usage an agent reports and the nodes view gets its rows from it."""

from __future__ import annotations

import json
from pathlib import Path

from foundation.config.model import Config
from netd.agent.protocol import Report, report_to_json
from netd.agent.usage_report import PodUsage, Usage, UsageReport
from netd.api.backend import RegistryBackend
from netd.api.blueprint import ApiSettings, create_app
from netd.usage_rows import usage_rows
from provisioning.credentials import issue_agent_credential
from tests.netd.agent.registry_setup import make_registry

UID = "6f1f9a3c-2b4d-4e8f-9a0b-1c2d3e4f5a6b"
USAGE = UsageReport(1, Usage(5_000_000, 750, 512 << 20, 1 << 30, 140),
                    (PodUsage(UID, "besteffort", 1, Usage(40_000, 20, 30 << 20, None, 3)),))


def test_usage_reaches_the_masters_status_and_the_rows(tmp_path: Path) -> None:
    make_registry(tmp_path, {"node-1": "10.0.0.11", "node-2": "10.0.0.12"})
    backend = RegistryBackend(tmp_path)
    app = create_app(backend, ApiSettings(Config(), report_interval=0.5))
    app.config["TESTING"] = True
    with app.test_client() as client:
        for node, usage in (("node-1", USAGE), ("node-2", None)):  # node-2: an older agent
            credential = issue_agent_credential(tmp_path, node, now=1.0)
            response = client.post("/api/v1/agent/report", data=report_to_json(
                Report(2, None, (), "0.1.0", usage)), headers={"Authorization": f"Bearer {credential.bearer}"})
            assert response.status_code == 200, response.data
        bad = dict(json.loads(report_to_json(Report(2, None, (), "0.1.0", USAGE))))
        bad["usage"]["pods"][0]["qos"] = "platinum"  # type: ignore[index]
        response = client.post("/api/v1/agent/report", data=json.dumps(bad),
                               headers={"Authorization": f"Bearer {credential.bearer}"})
        assert response.status_code == 400 and b"usage" in response.data
    assert backend.status["node-1"].report.usage == USAGE
    assert backend.status["node-2"].report.usage is None
    seen = backend.status["node-1"].seen
    nodes, pods = usage_rows(
        [(s.node, s.seen, s.report.usage) for s in backend.status.values()], now=seen + 2)
    assert [(row.node, row.cpu_millicores, row.memory_percent, row.pods) for row in nodes] == [
        ("node-1", 750, 50.0, 1), ("node-2", None, None, None)]
    assert [(row.node, row.uid, row.memory_used) for row in pods] == [("node-1", UID, 30 << 20)]
