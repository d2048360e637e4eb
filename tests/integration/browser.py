"""A real browser for the panel's tests: Debian's chromium, headless, driven by selenium
through Debian's chromedriver (nothing is downloaded). Screenshots are kept under
var/test-logs/panel/."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.wait import WebDriverWait

from tests.support.asterisk import ROOT

Browser = webdriver.Chrome
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = ROOT / "var" / "test-logs" / "panel"
# Headless, and quiet: this machine's network is closed, and chromium's own background
# connections would only be refused.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1400,1000")


@contextmanager
def chromium() -> Iterator[Browser]:
    with tempfile.TemporaryDirectory(prefix="rb-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console_errors
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def console_errors(driver: Browser) -> list[str]:
    """What the page's console reported as errors since the last look, e.g. anything
    the Content-Security-Policy blocked."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"]


def screenshot(driver: Browser, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def wait_for(driver: Browser, condition: Callable[[Browser], object], what: str,
             timeout: float = 10) -> object:
    """Polled every 20 ms: the page changes on its own (pushed events), never reloaded."""
    return WebDriverWait(driver, timeout, poll_frequency=0.02).until(
        condition, message=f"the panel never showed {what}")
