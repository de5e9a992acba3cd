"""A real headless Chromium for tests, driven with selenium (Debian ``chromium`` and
``chromium-driver``; ``.ci/run`` installs them when missing).

``browser`` (a pytest fixture, in ``tests.support.browser_fixtures``) gives a ``Browser``: a
fresh profile, the console log collected, and at teardown an assertion that the page logged
no error (call ``browser.allow_console_errors()`` in a test that expects some). The flags keep
Chromium from reaching out on its own (the test network is closed).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--window-size=1280,900",
)


def chromium_missing() -> str | None:
    """Why the browser cannot start here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists() and shutil.which(Path(path).name) is None:
            return f"{path} is missing: apt-get install chromium chromium-driver (.ci/run does)"
    return None


class Browser:
    """One Chromium with its own profile directory; ``close()`` ends it and removes that."""

    def __init__(self, accept_language: str = "en", width: int = 1280, height: int = 900) -> None:
        missing = chromium_missing()
        if missing:
            raise RuntimeError(missing)
        self.profile = Path(tempfile.mkdtemp(prefix="rakuichi-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_argument(f"--lang={accept_language}")
        options.add_experimental_option("prefs", {"intl.accept_languages": accept_language})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        service = Service(executable_path=shutil.which("chromedriver") or CHROMEDRIVER)
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_window_size(width, height)
        self.driver.set_page_load_timeout(60)
        self.console: list[dict[str, Any]] = []
        self.network: list[dict[str, Any]] = []
        self._errors_allowed = False

    # ----- navigation and reading
    def get(self, url: str) -> None:
        self.driver.get(url)
        self.collect()

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str = "body") -> str:
        return self.find(css).text

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        """Poll ``check`` until it returns something truthy (bounded)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = check()
            except WebDriverException as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; last: {last!r}")

    def screenshot(self, path: Path, full_page: bool = True) -> None:
        """Save a PNG of the page; ``full_page`` grows the window to the page's height."""
        if full_page:
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            width = self.driver.get_window_size()["width"]
            self.driver.set_window_size(width, min(int(height) + 40, 4000))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))

    # ----- logs
    def collect(self) -> None:
        """Move what Chromium logged so far into ``console`` and ``network``."""
        try:
            self.console.extend(self.driver.get_log("browser"))
            self.network.extend(self.driver.get_log("performance"))
        except WebDriverException:
            pass

    def console_errors(self) -> list[dict[str, Any]]:
        self.collect()
        return [e for e in self.console if e.get("level") in ("SEVERE", "ERROR")]

    def allow_console_errors(self) -> None:
        self._errors_allowed = True

    def requests(self) -> list[dict[str, Any]]:
        """Every request the pages sent (from the performance log): method, url, headers."""
        import json

        self.collect()
        sent = []
        for entry in self.network:
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                sent.append(message["params"]["request"])
        return sent

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def check_no_console_errors(self) -> None:
        errors = self.console_errors()
        if errors and not self._errors_allowed:
            raise AssertionError(f"the browser console logged errors: {errors}")
