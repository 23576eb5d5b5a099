"""The master's page in the lab: what the host's browser sees, and what the home network reaches.

The browser is Debian's headless chromium driven by Selenium through chromium-driver, in the host's
namespace, through the lab's web forward (as `lab up` tells a user to open it). (The README's
screenshot, four Ready nodes, comes from tests/lab/test_zero_touch.py.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.lab import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.root]


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,860",
                     "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_shows_the_boards_and_says_kubernetes_is_simulated(lab: LabHandle, browser: WebDriver) -> None:
    web = lab.status()["web"]
    lab.wait_for(lambda: lab.status()["web"]["answering"], timeout=20, what="the master's page")
    browser.get(web["url"])
    browser.find_element(By.ID, "password").send_keys(web["password"])
    browser.find_element(By.ID, "login").click()
    assert "Kubernetes is simulated" in browser.find_element(By.ID, "simulated").text
    browser.get(web["url"].rstrip("/") + "/nodes")
    boards = {node.mac: node for node in lab.plan.nodes}

    def rows() -> dict[str, str]:
        found = {}
        for row in browser.find_elements(By.CSS_SELECTOR, "#nodes tbody tr"):
            cells = row.find_elements(By.TAG_NAME, "td")
            mac = cells[1].text.split()[-1] if cells[1].text.split() else ""
            found[mac] = row.get_attribute("data-node") or ""
        return found

    def all_boards_listed() -> bool:
        browser.refresh()
        return set(boards) <= set(rows())

    lab.wait_for(all_boards_listed, timeout=30, what="every board on the nodes page")
    listed = rows()
    assert sorted(listed[mac] for mac in boards) == [f"node-{n}" for n in range(1, len(boards) + 1)]
    for mac in boards:
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-node="{listed[mac]}"]')
        address = lab.address(boards[mac].name)
        assert address is not None and address in row.text  # the address the board really has


def _tcp_answers(lab: LabHandle, address: str, port: int) -> bool:
    probe = f"exec 3<>/dev/tcp/{address}/{port}"
    return lab.run("home", ["timeout", "2", "bash", "-c", probe], check=False).returncode == 0


def test_from_the_home_network_only_the_page_answers(lab: LabHandle) -> None:
    uplink = lab.status()["home"]["master_uplink_address"]
    assert uplink, "the master's uplink has no address from the home router"
    master = str(lab.plan.master_address.ip)
    # A new user's home router with a route to the cluster LAN via the master (the way in they tried).
    lab.run("home", ["ip", "route", "replace", str(lab.plan.subnet), "via", uplink])
    try:
        assert _tcp_answers(lab, uplink, 8080) and _tcp_answers(lab, master, 8080)  # web.listen names both
        for address in (uplink, master):
            for port in (8081, 53, 22):  # agent API, DNS, SSH: LAN only
                assert not _tcp_answers(lab, address, port), (address, port)
        # Kubernetes answers kubectl on the uplink's own address only (kubernetes.api_on_uplink).
        assert not _tcp_answers(lab, master, 6443)
        dns = lab.run("home", ["dig", "+time=1", "+tries=1", f"@{master}", "master.cluster.home"], check=False)
        assert "timed out" in dns.stdout or "no servers could be reached" in dns.stdout
        # From the LAN, the same master answers its agent API and DNS.
        board = lab.plan.nodes[0].name
        assert lab.run(board, ["timeout", "2", "bash", "-c", f"exec 3<>/dev/tcp/{master}/8081"],
                       check=False).returncode == 0
    finally:
        lab.run("home", ["ip", "route", "del", str(lab.plan.subnet)], check=False)
