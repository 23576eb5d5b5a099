"""The pages and the JSON API over a real registry: what they show, what the buttons do."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from appliance.master.views import AgentFacts
from foundation import registry
from foundation.registry import LogStream
from netd.agent.usage_report import PodUsage, Usage, UsageReport
from tests.appliance.web.web_helpers import LOCAL_TOKEN, csrf_token, lease

HOSTILE = "<script>alert(1)</script>"
BEARER = {"Authorization": f"Bearer {LOCAL_TOKEN}"}


def state_dir(client: FlaskClient) -> Path:
    return Path(client.application.config["APPLIANCE_ACTIONS"].state_dir)


def test_strings_from_nodes_and_packets_show_as_text_on_every_page(admin: FlaskClient) -> None:
    conn = registry.open_registry(state_dir(admin))
    lease(conn, "02:00:00:00:00:66", "10.0.0.66", "node-3", hostname=HOSTILE)  # what a DHCP packet said
    job = registry.create_job(conn, node="node-3", plan="all", now=time.time())
    registry.append_log(conn, job.id, [(LogStream.STDOUT, HOSTILE), (LogStream.STDERR, "<img src=x onerror=alert(2)>")],
                        now=time.time())  # what the node printed over SSH
    registry.append_event(conn, kind="test", node="node-3", message=f"node said {HOSTILE}", now=time.time())
    admin.application.config["APPLIANCE_ACTIONS"].facts.agents["node-3"] = AgentFacts(
        seen=time.time(), errors=(HOSTILE,), version=HOSTILE)
    pages = ["/", "/nodes", "/nodes/node-3", "/jobs", f"/jobs/{job.id}", "/nodes/node-3/forget"]
    for path in pages:
        html = admin.get(path).get_data(as_text=True)
        assert HOSTILE not in html and "<img src=x" not in html, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in admin.get("/nodes/node-3").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in admin.get(f"/jobs/{job.id}").get_data(as_text=True)
    # The JSON the page's script appends with textContent carries the text unchanged.
    assert admin.get(f"/jobs/{job.id}/log").get_json()["lines"][0]["line"] == HOSTILE


def test_nodes_view_shows_each_nodes_and_pods_cpu_and_memory(admin: FlaskClient) -> None:
    pod = "6f1f9a3c-2b4d-4e8f-9a0b-1c2d3e4f5a6b"
    usage = UsageReport(2, Usage(10**9, 1500, 1 << 30, 4 << 30, 210), (
        PodUsage(pod, "burstable", 2, Usage(10**6, 250, 96 << 20, 256 << 20, 9)),))
    agents = admin.application.config["APPLIANCE_ACTIONS"].facts.agents
    agents["node-1"] = AgentFacts(seen=time.time(), errors=(), version="0.1.0", usage=usage)
    agents["node-2"] = AgentFacts(seen=time.time() - 600, errors=(), version="0.0.9")  # stale, no figures
    page = admin.get("/nodes").get_data(as_text=True)
    row = page[page.index('data-node="node-1"'):]
    row = row[:row.index("</tr>")]
    assert "1.50 cores" in row and "1.0 GiB (25.0 %)" in row and "1 pod(s)" in row
    row = page[page.index('data-node="node-2"'):]
    row = row[:row.index("</tr>")]
    assert 'class="usage-cpu muted">—' in row and "pod(s)" not in row
    detail = admin.get("/nodes/node-1").get_data(as_text=True)
    pods = detail[detail.index('id="pods"'):]
    assert f'data-pod="{pod}"' in pods and "burstable" in pods and "0.25 cores" in pods
    assert "96.0 MiB of 256.0 MiB (37.5 %)" in pods
    assert "4.0 GiB" in detail and "210" in detail
    assert "last reported" in admin.get("/nodes/node-2").get_data(as_text=True)


def test_approve_asks_first_then_moves_the_node(admin: FlaskClient) -> None:
    ask = admin.get("/nodes/node-1/approve")
    assert ask.status_code == 200 and "It will be provisioned" in ask.get_data(as_text=True)
    conn = registry.open_registry(state_dir(admin))
    assert registry.require_node(conn, "node-1").state is registry.NodeState.DISCOVERED
    token = csrf_token(admin, "/nodes/node-1/approve")
    done = admin.post("/nodes/node-1/approve", data={"csrf_token": token})
    assert done.status_code == 302
    assert registry.require_node(conn, "node-1").state is registry.NodeState.APPROVED
    assert "node-1 approved." in admin.get("/nodes").get_data(as_text=True)


def test_forget_frees_the_name_and_pod_slice(admin: FlaskClient) -> None:
    token = csrf_token(admin, "/nodes/node-2/forget")
    assert admin.post("/nodes/node-2/forget", data={"csrf_token": token}).status_code == 302
    conn = registry.open_registry(state_dir(admin))
    assert registry.get_node(conn, "node-2") is None
    assert "node-2 forgotten." in admin.get("/nodes").get_data(as_text=True)


def test_reprovision_without_a_runner_says_why(admin: FlaskClient) -> None:
    conn = registry.open_registry(state_dir(admin))
    registry.approve_node(conn, "node-1", now=time.time())
    token = csrf_token(admin, "/nodes/node-1/reprovision")
    admin.post("/nodes/node-1/reprovision", data={"csrf_token": token})
    assert "provisioning runner is not running" in admin.get("/nodes").get_data(as_text=True)


def test_unknown_nodes_and_actions_are_404(admin: FlaskClient) -> None:
    assert admin.get("/nodes/node-99").status_code == 404
    assert admin.get("/nodes/node-1/explode").status_code == 404
    assert admin.get("/jobs/999").status_code == 404
    assert admin.get("/tokens/NOT-AN-ID/revoke").status_code == 404


def test_tokens_page_says_when_kubernetes_cannot_be_asked(admin: FlaskClient) -> None:
    page = admin.get("/tokens").get_data(as_text=True)
    assert "Kubernetes cannot be asked for tokens yet" in page
    token = csrf_token(admin, "/tokens")
    refused = admin.post("/tokens", data={"csrf_token": token, "ttl_minutes": "30", "description": "x"})
    assert refused.status_code == 409
    bad = admin.post("/tokens", data={"csrf_token": token, "ttl_minutes": "100000", "description": "x"})
    assert bad.status_code == 400 and "TTL" in bad.get_data(as_text=True)


def test_job_log_follows_by_sequence(admin: FlaskClient) -> None:
    conn = registry.open_registry(state_dir(admin))
    job = registry.create_job(conn, node="node-1", plan="all", now=time.time())
    registry.append_log(conn, job.id, [(LogStream.INFO, "one"), (LogStream.STDOUT, "two")], now=time.time())
    first = admin.get(f"/jobs/{job.id}/log").get_json()
    assert [line["line"] for line in first["lines"]] == ["one", "two"] and first["state"] == "queued"
    registry.append_log(conn, job.id, [(LogStream.STDOUT, "three")], now=time.time())
    later = admin.get(f"/jobs/{job.id}/log?after=2").get_json()
    assert [line["line"] for line in later["lines"]] == ["three"]
    assert 'data-after="3"' in admin.get(f"/jobs/{job.id}").get_data(as_text=True)


def test_api_lists_nodes_with_the_cli_keys(client: FlaskClient) -> None:
    rows = client.get("/api/v1/nodes", headers=BEARER).get_json()["nodes"]
    assert [row["name"] for row in rows] == ["master", "node-1", "node-2"]
    for key in ("name", "mac", "address", "model", "state", "pod_cidr", "last_seen", "ready", "offline"):
        assert key in rows[1]
    assert rows[1]["pod_cidr"] == "10.244.1.0/24" and rows[1]["offline"] is False


def test_api_errors_are_one_line_with_a_status(client: FlaskClient) -> None:
    assert client.post("/api/v1/nodes/node-99/approve", headers=BEARER).status_code == 404
    assert client.get("/api/v1/tokens", headers=BEARER).status_code == 503
    bad = client.post("/api/v1/provision", headers=BEARER, json={"nodes": "node-1"})
    assert bad.status_code == 400 and "expected" in bad.get_json()["error"]
    no_runner = client.post("/api/v1/provision", headers=BEARER, json={"nodes": ["node-1"], "plan": None})
    assert no_runner.status_code == 503
    assert client.post("/api/v1/tokens", headers=BEARER, data="[]", content_type="application/json").status_code == 400


def test_kubeconfig_names_an_address_the_home_network_reaches(admin: FlaskClient) -> None:
    assert admin.get("/kubeconfig").status_code == 302  # none yet: back to the overview with the reason
    assert "does not exist yet" in admin.get("/").get_data(as_text=True)
    admin_conf = state_dir(admin) / "kubernetes" / "admin.conf"
    admin_conf.parent.mkdir()
    admin_conf.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "kubernetes", "cluster": {"server": "https://10.0.0.1:6443",
                                                        "certificate-authority-data": "Q0E="}}],
        "users": [{"name": "kubernetes-admin", "user": {"client-certificate-data": "Q0VSVA==",
                                                        "client-key-data": "S0VZ"}}],
        "contexts": [{"name": "kubernetes-admin@kubernetes", "context": {"cluster": "kubernetes", "user": "kubernetes-admin"}}],
        "current-context": "kubernetes-admin@kubernetes",
    }))
    download = admin.get("/kubeconfig")  # the test client's Host is localhost: not ours, so the uplink
    assert download.headers["Content-Disposition"] == 'attachment; filename="picluster.kubeconfig"'
    config = yaml.safe_load(download.data)
    assert config["clusters"][0]["cluster"] == {"server": "https://192.0.2.50:6443", "certificate-authority-data": "Q0E="}
    assert config["users"][0]["user"]["client-key-data"] == "S0VZ"
    assert config["current-context"] == "picluster-admin@picluster"
    on_lan = yaml.safe_load(admin.get("/api/v1/kubeconfig", headers={**BEARER, "Host": "10.0.0.1:8080"}).data)
    assert on_lan["clusters"][0]["cluster"]["server"] == "https://10.0.0.1:6443"


def test_metrics_parse_as_prometheus_text(client: FlaskClient) -> None:
    client.application.config["METRICS"] = lambda: {"dhcp": {"acks": 7, "naks": 1}, "dns": {"answered": 3}}
    text = client.get("/metrics", headers=BEARER).get_data(as_text=True)
    samples = {sample.name + str(sorted(sample.labels.items())): sample.value
               for family in text_string_to_metric_families(text) for sample in family.samples}
    assert samples["appliance_dhcp_acks_total[]"] == 7
    assert samples["appliance_dns_answered_total[]"] == 3
    assert samples["appliance_nodes[('state', 'discovered')]"] == 2
    assert samples["appliance_provisioning_jobs[('state', 'queued')]"] == 0


@pytest.mark.parametrize("width", [360, 1280])
def test_pages_declare_a_phone_viewport(admin: FlaskClient, width: int) -> None:
    html = admin.get("/nodes").get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'class="scroll"' in html  # wide tables scroll sideways instead of breaking the layout
