"""Fixtures of the web UI tests: a hub with open registration, and Playwright driving Debian's Chromium.

The browser is /usr/bin/chromium (scripts/ensure-chromium.sh installs it with apt-get); Playwright never
downloads one here (`playwright install` is never run). Every browser test saves at least one screenshot
in the run's folder (tests/web/artifacts.py).
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, sync_playwright

from tests.support.server import HubServer
from tests.web.artifacts import screenshot_dir

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def web_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A hub of the web tests' own, where anyone may sign up."""
    server = HubServer(tmp_path_factory.mktemp("web") / "data", env={"OMH_REGISTRATION": "open"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh (make test does)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Shots:
    """Saves screenshots as <test>-<n>-<label>.png in the run's folder."""

    def __init__(self, page: Page, test: str) -> None:
        self.page = page
        self.test = re.sub(r"[^A-Za-z0-9_.-]+", "-", test)[:80]
        self.saved: list[Path] = []

    def __call__(self, label: str, *, full_page: bool = True) -> Path:
        path = screenshot_dir() / f"{self.test}-{len(self.saved) + 1:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        self.saved.append(path)
        return path


@pytest.fixture
def dialogs() -> list[str]:
    """Messages of JavaScript dialogs (alert, confirm) the page opened; `page` fails the test on any."""
    return []


@pytest.fixture
def page(browser: Browser, dialogs: list[str]) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies), 1280 px wide."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    yield pg
    context.close()
    assert dialogs == [], f"the page opened JavaScript dialogs: {dialogs}"


@pytest.fixture
def shots(page: Page, request: pytest.FixtureRequest) -> Iterator[Shots]:
    """Screenshots of `page`; one more is saved when the test ends, whatever its outcome."""
    taker = Shots(page, request.node.name)
    yield taker
    taker("final")
