"""Steps and page checks the Playwright tests share: signing up and in through the forms, and the
accessibility probes (inputs without a label, the page's width)."""

from collections.abc import Callable, Iterable

from playwright.sync_api import Page, expect

from tests.support.server import HubServer
from tests.web.support import PASSWORD

# Names (or ids) of the visible inputs that have neither a <label> nor an aria-label.
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label')).map(el => el.name || el.id)"""
# How wide the page is: more than the viewport means it scrolls sideways.
PAGE_WIDTH = "document.documentElement.scrollWidth"


def sign_up(page: Page, hub: HubServer, name: str) -> None:
    page.goto(f"{hub.url}/join")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator(".nav-user")).to_have_text(name)


def sign_in(page: Page, hub: HubServer, name: str) -> None:
    page.goto(f"{hub.url}/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".nav-user")).to_have_text(name)


def fits_phone_width(
    page: Page, hub: HubServer, pages: Iterable[tuple[str, str]], shot: Callable[[str], object]
) -> None:
    """Each (label, path) page is no wider than the 390 px viewport the caller set (nothing scrolls
    sideways); a screenshot of each is saved as `390px-<label>`."""
    for label, path in pages:
        page.goto(f"{hub.url}{path}")
        width = page.evaluate(PAGE_WIDTH)
        assert width <= 390, f"{path} is {width}px wide at a 390px viewport"
        shot(f"390px-{label}")
