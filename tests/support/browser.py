"""What the browser tests share: following a click to the page it loads."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait


def follow(driver: WebDriver, element: WebElement, timeout: float = 30.0) -> None:
    """Click a link or button that loads a page, and wait until that page has replaced this one
    (a click returns before the page it asks for has come)."""
    old_page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, timeout, poll_frequency=0.1).until(staleness_of(old_page))
