"""Boot the master, plug in Pis, open a page, get a cluster: the lab end to end with `approve: all`.

From `lab up --nodes 4` to four Ready nodes with no manual step: the master initialises its own
Kubernetes, every Pi that asks for an address is approved, provisioned over real SSH and apt and
joined (Kubernetes is the lab's contract fake). Then DNS names, routes and NAT work; the page makes
a join token (its QR code decodes back to the command) and revokes it; and the kubeconfig the page
hands out works with the real kubectl from the home network.

The boards are seeded with the master's provisioning key and the lab's mirror (hardware.lab.imaging:
what a flashed card would already hold); the master's first init, tried before that, fails and is
tried again by the daemon a minute later, as after any passing failure of a first boot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from appliance.cli.daemon_client import DaemonClient
from hardware.lab import lifecycle
from hardware.lab import topology as t
from hardware.lab.imaging import seed_boards
from hardware.lab.master_config import default_config
from hardware.lab.state import ensure_key
from provisioning.node_access import provisioning_key
from tests.support.browser import follow
from tests.support.lab import LabHandle, LabManager

pytestmark = [pytest.mark.lab, pytest.mark.root, pytest.mark.slow]

PASSWORD = "zero-touch demo"
WORKERS = [f"pi-{n}" for n in range(1, 5)]
KUBECTL = str(Path(sys.executable).with_name("kubectl"))


@pytest.fixture(scope="module")
def cluster(lab_manager: LabManager, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """A fresh 4-board lab whose master runs with approve: all, brought to four Ready nodes."""
    lab_manager.suspend()
    dirs = lab_manager.dirs
    plan = t.make_plan(4, addressing="dhcp")
    config = default_config(plan, ensure_key(dirs), PASSWORD)
    config["provisioning"]["approve"] = "all"
    path = tmp_path_factory.mktemp("zero-touch") / "cluster.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    started = time.monotonic()
    lifecycle.up(dirs, nodes=4, config=path, fresh=True, wait=120, say=lambda message: None)
    try:
        lab = LabHandle(dirs)
        key = provisioning_key(dirs.master_state)  # made by the daemon at its start
        seed_boards(dirs, [t.MASTER_BOARD, *WORKERS], Path(f"{key}.pub").read_text())
        client = DaemonClient(dirs.master_state)

        def four(condition: str) -> bool:
            workers = [view for view in client.nodes() if view.role == "worker"]
            return len(workers) == 4 and all(
                view.ready if condition == "ready" else view.state == "joined" for view in workers)

        lab.wait_for(lambda: four("ready"), timeout=1500, interval=1.0, what="four Ready nodes with no manual step")
        print(f"\nlab up to four Ready nodes: {time.monotonic() - started:.0f} s")
        lab.wait_for(lambda: four("joined"), timeout=300, interval=1.0, what="their jobs finished: joined")
        print(f"lab up to four joined nodes (jobs done): {time.monotonic() - started:.0f} s")
        yield lab
    finally:
        lifecycle.down(dirs)


def test_four_nodes_ready_with_names_routes_and_nat(cluster: LabHandle) -> None:
    lab = cluster
    views = {view.name: view for view in DaemonClient(lab.dirs.master_state).nodes()}
    assert {name: view.state for name, view in views.items()} == {
        "master": "joined", **{f"node-{n}": "joined" for n in range(1, 5)}}
    master = str(lab.plan.master_address.ip)
    routes = lab.run("master", ["ip", "-4", "route", "show", "proto", "171"]).stdout
    for name, view in views.items():
        if view.role != "worker":
            continue
        answer = lab.run("master", ["dig", "+short", f"@{master}", f"{name}.cluster.home"]).stdout.split()
        assert answer == [view.address]
        assert f"{view.pod_cidr} via {view.address}" in routes
    internet = lab.status()["internet"]["http"]
    for board in WORKERS:
        page = lab.run(board, ["curl", "-s", "--max-time", "5", f"http://{internet}/"], check=False).stdout
        assert page == "hello from the pilab internet\n", board


def test_the_laptop_kubeconfig_works_with_real_kubectl_from_the_home_network(cluster: LabHandle,
                                                                            tmp_path: Path) -> None:
    lab = cluster
    kubeconfig = tmp_path / "pilab.kubeconfig"
    kubeconfig.write_bytes(DaemonClient(lab.dirs.master_state).kubeconfig())
    uplink = lab.status()["home"]["master_uplink_address"]
    assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == f"https://{uplink}:6443"
    done = lab.run("home", [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json"], check=False)
    assert done.returncode == 0, done.stderr
    nodes = json.loads(done.stdout)["items"]
    ready = {node["metadata"]["name"]: next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")
             for node in nodes}
    assert len(ready) == 5 and set(ready.values()) == {"True"}, ready


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                     "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_make_a_token_on_the_page_decode_its_qr_code_and_revoke_it(cluster: LabHandle, browser: WebDriver,
                                                                   tmp_path: Path) -> None:
    url = cluster.status()["web"]["url"].rstrip("/")
    browser.get(url + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    follow(browser, browser.find_element(By.ID, "login"))
    browser.get(url + "/tokens")
    ttl = browser.find_element(By.ID, "ttl")
    ttl.clear()
    ttl.send_keys("30")
    browser.find_element(By.ID, "description").send_keys("for pi-5")
    follow(browser, browser.find_element(By.ID, "make-token"))
    command = browser.find_element(By.ID, "join-command").text
    assert command.startswith("kubeadm join ") and "--discovery-token-ca-cert-hash sha256:" in command
    token_id = command.split("--token ")[1].split(".")[0]
    assert shutil.which("zbarimg"), "zbarimg missing: run scripts/install (apt zbar-tools)"
    image = browser.find_element(By.ID, "join-qr")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", image)
    png = tmp_path / "join-qr.png"
    png.write_bytes(image.screenshot_as_png)
    decoded = subprocess.run(["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, timeout=20)
    assert decoded.stdout.strip() == command
    browser.get(url + "/tokens")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-token="{token_id}"]')
    assert "for pi-5" in row.text and ("29m" in row.text or "30m" in row.text)
    follow(browser, row.find_element(By.LINK_TEXT, "Revoke"))
    follow(browser, browser.find_element(By.ID, "confirm"))
    assert f"Token {token_id} revoked." in browser.find_element(By.TAG_NAME, "main").text
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-token="{token_id}"]')
    screenshot = os.environ.get("APPLIANCE_SCREENSHOT")  # the README's picture: the page with four Ready nodes
    if screenshot:
        browser.get(url + "/nodes")
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(screenshot)
