"""The page in a real browser: Debian's headless chromium, driven by Selenium through Debian's
chromium-driver (no browser is downloaded), against the real master daemon in namespaces.

The browser runs in the host's namespace and reaches the page the way the lab's user does: through
hardware.lab.webforward, which relays 127.0.0.1:PORT to 10.0.0.1:8080 inside the master's namespace.
(The README's screenshot is taken in the lab: tests/lab/test_master_page.py.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from foundation import registry
from foundation.registry import LogStream
from tests.appliance.master.daemon_net import HOSTILE, Master
from tests.support.browser import follow
from tests.support.wait import wait_for

pytestmark = pytest.mark.root

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    for tool in (CHROMIUM, CHROMEDRIVER):
        assert os.path.exists(tool), f"{tool} missing: run scripts/install (apt chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                     "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-default-apps"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(master: Master, tmp_path: Path) -> Iterator[str]:
    """The master (approve: manual) and a forward from 127.0.0.1 to its page; yields the page's URL."""
    config = master.config.read_text().replace("approve: all", "approve: manual")
    master.config.write_text(config)
    master.mark_master_initialised()  # so an approved node's job is queued at once
    master.start()
    master.messages("READY=1")
    port_file = tmp_path / "web.port"
    forward = subprocess.Popen(
        [sys.executable, "-m", "hardware.lab.webforward", "--namespace", master.master, "--target",
         "10.0.0.1:8080", "--listen", "127.0.0.1:0", "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port_file.exists, 30)
        yield f"http://127.0.0.1:{port_file.read_text()}"
    finally:
        forward.terminate()
        forward.wait(timeout=5)


def no_alert(driver: WebDriver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018  (reading it is the check)


def text(driver: WebDriver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def log_in(driver: WebDriver, url: str, password: str) -> None:
    driver.get(url + "/")
    assert driver.current_url.endswith("/login?next=/")
    driver.find_element(By.ID, "password").send_keys(password)
    follow(driver, driver.find_element(By.ID, "login"))


def decode_qr(driver: WebDriver, element_id: str, tmp_path: Path) -> str:
    """Screenshot the QR image as a PNG and decode it back with zbarimg."""
    assert shutil.which("zbarimg"), "zbarimg missing: run scripts/install (apt zbar-tools)"
    png = tmp_path / f"{element_id}.png"
    element = driver.find_element(By.ID, element_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    png.write_bytes(element.screenshot_as_png)
    done = subprocess.run(["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_log_in_approve_watch_the_job_stream_and_reprovision(page: str, master: Master, browser: WebDriver,
                                                           tmp_path: Path) -> None:
    master.net.run(master.worker, "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1",
                    "-s", "/bin/true", "-x", f"hostname:{HOSTILE}", timeout=30)
    conn = registry.open_registry(master.state)
    wait_for(lambda: registry.get_node(conn, "node-1") is not None, 30)
    # Strings from outside, as a node or a packet would bring them, wait on every page.
    registry.append_event(conn, kind="test", node="node-1", message=f"node said {HOSTILE}", now=time.time())

    # A wrong password is refused; the right one opens the overview (no lab banner: this daemon was
    # not started by the lab, so it does not say Kubernetes is simulated).
    log_in(browser, page, "wrong")
    assert "Wrong password." in text(browser, "#login-error")
    log_in(browser, page, "pw")
    assert browser.current_url == page + "/"
    assert text(browser, "#ready-count") == "0/1"
    assert not browser.find_elements(By.ID, "simulated")
    no_alert(browser)
    assert HOSTILE in browser.find_element(By.TAG_NAME, "main").text  # shown as text, not run
    # The QR code of the page's address decodes back to it (the phone's way in).
    assert decode_qr(browser, "page-qr", tmp_path) == text(browser, "#page-url") == "http://192.0.2.2:8080/"

    # Approve node-1 from the nodes page, confirming first.
    browser.get(page + "/nodes")
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-node="node-1"]')
    assert "discovered" in row.text
    follow(browser, row.find_element(By.LINK_TEXT, "Approve"))
    assert "Approve node-1?" in browser.find_element(By.TAG_NAME, "h1").text
    follow(browser, browser.find_element(By.ID, "confirm"))
    assert "node-1 approved." in browser.find_element(By.TAG_NAME, "main").text

    # Its job: the page streams the log as the runner writes it (this "Pi" has no sshd: it fails).
    browser.get(page + "/jobs/1")
    wait_for(lambda: text(browser, "#job-state") == "failed", 30, 0.2)
    wait_for(lambda: text(browser, "#job-log") != "", 30, 0.2)
    # Lines written to the registry while the page is open appear without a reload.
    registry.append_log(conn, 1, [(LogStream.STDOUT, HOSTILE), (LogStream.INFO, "streamed line")], now=time.time())
    wait_for(lambda: "streamed line" in text(browser, "#job-log"), 30, 0.2)
    assert HOSTILE in text(browser, "#job-log")
    no_alert(browser)

    # Reprovision from the page: confirm, and land on the new job's live log.
    browser.get(page + "/nodes")
    follow(browser, browser.find_element(By.CSS_SELECTOR, 'tr[data-node="node-1"]').find_element(By.LINK_TEXT,
                                                                                                 "Reprovision"))
    follow(browser, browser.find_element(By.ID, "confirm"))
    assert browser.current_url == page + "/jobs/2"
    wait_for(lambda: text(browser, "#job-state") in ("running", "failed"), 30, 0.2)

    # Tokens: Kubernetes is not initialised on this master, and the page says so in one line.
    browser.get(page + "/tokens")
    assert "Kubernetes cannot be asked for tokens yet" in text(browser, "#tokens-problem")

    # Every page at a phone's width: nothing wider than the screen but the scrolling tables.
    browser.set_window_size(390, 844)
    for path in ("/", "/nodes", "/tokens", "/jobs", "/jobs/1"):
        browser.get(page + path)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        if width > 390:
            browser.save_screenshot(str(tmp_path / "too-wide.png"))
        assert width <= 390, (path, width, str(tmp_path / "too-wide.png"))
        no_alert(browser)
    browser.set_window_size(1280, 900)


def test_a_change_without_the_page_csrf_token_is_refused_in_the_browser(page: str, master: Master,
                                                                     browser: WebDriver) -> None:
    log_in(browser, page, "pw")
    # A form posted from elsewhere (no CSRF token) is refused and changes nothing.
    browser.execute_script(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/nodes/master/forget';"
        "document.body.appendChild(f); f.submit();")
    wait_for(lambda: "Refused" in browser.find_element(By.TAG_NAME, "h1").text, 30, 0.2)
    conn = registry.open_registry(master.state)
    assert registry.get_node(conn, "master") is not None
