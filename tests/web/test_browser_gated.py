"""Gated repos in a real browser (Playwright driving Debian's /usr/bin/chromium): a user fills in a gated
repo's access form, its owner accepts the request on the requests page in another browser, and the user's
token then downloads the file with the stock huggingface_hub client. Also the settings page used from the
keyboard, and the new pages at phone width. Each test saves screenshots."""

import re
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, hf_hub_download
from huggingface_hub.errors import GatedRepoError
from playwright.sync_api import Browser, Page, expect

from tests.support.server import HubServer
from tests.web.browser import PAGE_WIDTH, UNLABELLED, fits_phone_width, sign_in, sign_up
from tests.web.conftest import Shots
from tests.web.support import PASSWORD, api, gated_card, unique, user_with_token

pytestmark = pytest.mark.filterwarnings("ignore:Warnings while validating metadata")

CARD = gated_card(
    "Access is granted to **researchers** who agree to the licence.",
    "Gated browser model",
    button="Ask for access",
)
WEIGHTS = bytes(range(256)) * 40


def _read_token(hub: HubServer, name: str) -> str:
    """A read token asked for with the password, as `hf auth login` users would create one."""
    answer = httpx.post(
        f"{hub.url}/api/tokens",
        json={"username": name, "password": PASSWORD, "role": "read", "displayName": "laptop"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


def _gated_repo(hub: HubServer) -> tuple[str, str, str]:
    """(owner, owner's write token, repo id) of a gated model with a card form and weights.bin."""
    owner, token = user_with_token(hub)
    repo_id = f"{owner}/{unique('gatedb')}"
    hf = api(hub, token)
    hf.create_repo(repo_id)
    ops = [
        CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=CARD.encode()),
        CommitOperationAdd(path_in_repo="weights.bin", path_or_fileobj=WEIGHTS),
    ]
    hf.create_commit(repo_id, ops, commit_message="Add the gated model")
    hf.update_repo_settings(repo_id, gated="manual")
    return owner, token, repo_id


def _download(hub: HubServer, repo_id: str, token: str, cache: Path) -> bytes:
    return Path(
        hf_hub_download(repo_id, "weights.bin", endpoint=hub.url, token=token, cache_dir=cache)
    ).read_bytes()


def test_request_access_in_the_browser_and_the_owner_accepts_it(
    browser: Browser, page: Page, shots: Shots, web_hub: HubServer, tmp_path: Path
) -> None:
    owner, _, repo_id = _gated_repo(web_hub)
    page.goto(f"{web_hub.url}/{repo_id}")
    gate = page.locator("section.gate")
    expect(gate.get_by_role("link", name="Sign in to request access")).to_be_visible()
    shots("gate-anonymous")

    user = unique("requester")
    sign_up(page, web_hub, user)
    token = _read_token(web_hub, user)
    with pytest.raises(GatedRepoError):
        _download(web_hub, repo_id, token, tmp_path / "before")

    page.goto(f"{web_hub.url}/{repo_id}")
    expect(gate.get_by_role("heading")).to_have_text(
        "You need to agree to share your contact information to access this model"
    )
    expect(gate.locator(".gate-license")).to_contain_text("tiny-community-license")
    expect(gate.locator(".gate-prompt strong")).to_have_text("researchers")
    assert page.evaluate(UNLABELLED) == []
    page.get_by_label("Company").fill("Acme Labs")
    page.get_by_label("Country").fill("Norway")
    page.get_by_label("Start date").fill("2025-03-01")
    page.get_by_label("Intended use").select_option(label="Commercial product")
    shots("gate-form")
    # The browser itself refuses the form while the licence box is unchecked (required); nothing is sent.
    page.get_by_role("button", name="Ask for access").click()
    assert page.evaluate("document.querySelector('#gate-field-4').validity.valueMissing") is True
    page.get_by_label("I accept the license").check()
    page.get_by_role("button", name="Ask for access").click()
    expect(page).to_have_url(f"{web_hub.url}/{repo_id}")
    expect(page.locator("#gate-status")).to_contain_text("Your request is pending")
    shots("gate-pending")
    with pytest.raises(GatedRepoError):
        _download(web_hub, repo_id, token, tmp_path / "pending")

    # The owner, in a browser of their own, accepts the request on the requests page.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    owner_page = context.new_page()
    owner_shots = Shots(owner_page, "gated-owner")
    try:
        sign_in(owner_page, web_hub, owner)
        owner_page.goto(f"{web_hub.url}/{repo_id}")
        owner_page.get_by_role("navigation", name="Repository").get_by_role(
            "link", name="Access requests"
        ).click()
        pending = owner_page.get_by_role("region", name=re.compile("^Pending"))
        item = pending.locator(".request-item").filter(has_text=user)
        expect(item).to_contain_text("Acme Labs")
        expect(item).to_contain_text("Norway")
        expect(item).to_contain_text("2025-03-01")
        expect(item).to_contain_text("commercial")
        assert owner_page.evaluate(UNLABELLED) == []
        owner_shots("requests-pending")
        item.get_by_role("button", name=f"Accept the request of {user}").click()
        expect(owner_page.get_by_role("status")).to_contain_text("Request accepted")
        accepted = owner_page.get_by_role("region", name=re.compile("^Accepted"))
        expect(accepted.locator(".request-item").filter(has_text=user)).to_have_count(1)
        expect(pending.locator(".request-item")).to_have_count(0)
        owner_shots("requests-accepted")
        owner_page.set_viewport_size({"width": 390, "height": 844})
        fits_phone_width(
            owner_page,
            web_hub,
            (("access-requests", f"/{repo_id}/access-requests"), ("settings", f"/{repo_id}/settings")),
            owner_shots,
        )
    finally:
        context.close()

    assert _download(web_hub, repo_id, token, tmp_path / "after") == WEIGHTS
    page.reload()
    expect(page.locator("#gate-status")).to_contain_text("You have been granted access")
    shots("gate-granted")


def test_settings_from_the_keyboard(page: Page, shots: Shots, web_hub: HubServer) -> None:
    owner, token, repo_id = _gated_repo(web_hub)
    hf = api(web_hub, token)
    sign_in(page, web_hub, owner)
    page.goto(f"{web_hub.url}/{repo_id}")
    page.get_by_role("navigation", name="Repository").get_by_role("link", name="Settings").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{web_hub.url}/{repo_id}/settings")
    assert page.evaluate(UNLABELLED) == []
    shots("settings")

    # Gating: from "manual" to "automatic" with the arrow keys, saved with the keyboard.
    page.get_by_label("Manual approval", exact=False).focus()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Automatic approval", exact=False)).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Save gating")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Gating saved.")
    assert hf.model_info(repo_id).gated == "auto"

    # Delete: a wrong confirmation keeps the repo and says why.
    page.get_by_label(re.compile("to confirm")).focus()
    page.keyboard.type(repo_id.upper())
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("nothing was deleted")
    expect(page.get_by_label(re.compile("to confirm"))).to_have_value(repo_id.upper())
    assert hf.repo_exists(repo_id)
    shots("delete-refused")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(PAGE_WIDTH) <= 390
    shots("390px-delete-refused")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label(re.compile("to confirm")).fill("")
    page.get_by_label(re.compile("to confirm")).focus()
    page.keyboard.type(repo_id)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{web_hub.url}/{owner}")
    assert not hf.repo_exists(repo_id)
    shots("deleted")
