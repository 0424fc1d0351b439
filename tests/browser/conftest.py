"""The console driven in headless Chromium (Debian's `chromium` and `chromium-driver`, installed by `make setup`):
one browser for the whole session, at 1366x768, with axe-core (tests/browser/node_modules, `npm ci` by `make setup`)
run on every page a test opens."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
DOCS = REPO / "docs" / "console"
WIDTH, HEIGHT = 1366, 768


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver and AXE.exists()):
        pytest.fail("the browser tests need chromium, chromedriver and axe-core: run `make setup`")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a browser or a driver
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", f"--window-size={WIDTH},{HEIGHT}", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--disable-extensions", "--lang=en-GB"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    # The page itself 1366x768, as a laptop shows it (the window size would include the browser's own frame).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def axe_source() -> str:
    return AXE.read_text()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Where each test's screenshot goes: the session's temporary folder, so a test run leaves the checkout as it
    was; with CREDITFLOW_DOCS_SCREENSHOTS=1 the ones docs/console.md shows go to docs/console/ (to refresh them)."""
    other = tmp_path_factory.mktemp("screenshots")
    return {"docs": DOCS if os.environ.get("CREDITFLOW_DOCS_SCREENSHOTS") == "1" else other, "other": other}
