"""Account settings in a real browser: sign up, make an organization and a repo in it, make a write token and
read its secret off the page, then use that token from the stock `huggingface_hub` client. Also the
settings pages from the keyboard and at phone width. Each test saves screenshots through `shots`."""

import re
from pathlib import Path

from huggingface_hub import HfApi, hf_hub_download
from playwright.sync_api import Page, expect

from tests.support.server import HubServer
from tests.web.browser import UNLABELLED, fits_phone_width, sign_up
from tests.web.conftest import Shots
from tests.web.support import unique

WEIGHTS = bytes(range(256)) * 64


def test_org_repo_and_token_made_in_the_browser_work_with_huggingface_hub(
    page: Page, shots: Shots, web_hub: HubServer, tmp_path: Path
) -> None:
    user, org = unique("alice"), unique("acme")
    sign_up(page, web_hub, user)

    # An organization: its creator is its first admin.
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Profile", exact=True)).to_be_visible()
    shots("profile")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Organizations").click()
    expect(page.get_by_text("You are not a member of any organization yet.")).to_be_visible()
    page.get_by_role("link", name="New organization").click()
    page.get_by_label("Organization name").fill(org)
    page.get_by_label("Full name").fill("Acme Research")
    shots("new-org")
    page.get_by_role("button", name="Create organization").click()
    expect(page).to_have_url(f"{web_hub.url}/organizations/{org}/members")
    expect(page.get_by_label(f"Role of {user}")).to_have_value("admin")
    shots("org-members")

    # A repo under the org, with the existing "New repo" form.
    page.get_by_role("link", name="New repo").click()
    page.get_by_label("Owner").select_option(org)
    page.get_by_label("Repo name").fill("tiny-model")
    page.get_by_role("button", name="Create repo").click()
    expect(page).to_have_url(f"{web_hub.url}/{org}/tiny-model")
    shots("org-repo")

    # A write token; its secret is on the answer page, once.
    page.goto(f"{web_hub.url}/settings/tokens")
    page.get_by_label("Token name").fill("browser-made")
    page.get_by_label("Write: everything you can do").check()
    shots("new-token-form")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Your new token")).to_be_visible()
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    secret = page.locator("#new-token-secret").inner_text().strip()
    assert re.fullmatch(r"omh_[A-Za-z0-9_-]{20,}", secret), secret
    expect(page.get_by_role("button", name="Copy")).to_be_visible()  # the clipboard API is there on localhost
    shots("token-shown-once")
    page.get_by_role("link", name="Back to your tokens").click()
    expect(page.get_by_role("row", name=re.compile("browser-made"))).to_contain_text("Write")
    assert secret not in page.content()
    shots("token-list")

    # The stock client with that token: who it is, an upload to the org's repo, and a download.
    hf = HfApi(endpoint=web_hub.url, token=secret)
    who = hf.whoami()
    assert who["name"] == user
    assert [(o["name"], o["roleInOrg"]) for o in who["orgs"]] == [(org, "admin")]
    repo_id = f"{org}/tiny-model"
    hf.upload_file(path_or_fileobj=WEIGHTS, path_in_repo="weights.bin", repo_id=repo_id)
    local = hf_hub_download(
        repo_id, "weights.bin", endpoint=web_hub.url, token=secret, cache_dir=tmp_path / "cache"
    )
    assert Path(local).read_bytes() == WEIGHTS
    page.goto(f"{web_hub.url}/{repo_id}/tree/main")
    expect(page.get_by_role("link", name="weights.bin")).to_be_visible()
    shots("uploaded-with-the-token")

    # The org's page links to its members; the settings list the org with the user's role.
    page.goto(f"{web_hub.url}/{org}")
    page.get_by_role("link", name=re.compile(r"^1 members?$")).click()
    expect(page).to_have_url(f"{web_hub.url}/organizations/{org}/members")
    page.goto(f"{web_hub.url}/settings/organizations")
    expect(page.get_by_role("row", name=re.compile(org))).to_contain_text("admin")
    shots("my-orgs")


def test_settings_from_the_keyboard_and_at_phone_width(page: Page, shots: Shots, web_hub: HubServer) -> None:
    user, org, friend = unique("kbd"), unique("kbdorg"), unique("friend")
    sign_up(page, web_hub, friend)
    page.get_by_role("button", name="Sign out").click()
    sign_up(page, web_hub, user)
    for path in ("/settings/profile", "/settings/tokens", "/settings/organizations", "/organizations/new"):
        page.goto(f"{web_hub.url}{path}")
        assert page.evaluate(UNLABELLED) == [], path

    # Profile: fill and send with the keyboard only.
    page.goto(f"{web_hub.url}/settings/profile")
    page.get_by_label("Full name").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("Kay Board")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "profile-email"
    page.keyboard.type("kay@example.org")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Your profile was saved.")
    expect(page.get_by_label("Full name")).to_have_value("Kay Board")
    shots("keyboard-profile")

    # A wrong current password is refused, with the message next to the password form.
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password", exact=True).fill("another password")
    page.get_by_label("Repeat the new password").fill("another password")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("Your current password is not right")
    shots("wrong-current-password")

    # An org, and a member added from the keyboard.
    page.goto(f"{web_hub.url}/organizations/new")
    page.get_by_label("Organization name").focus()
    page.keyboard.type(org)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{web_hub.url}/organizations/{org}/members")
    page.get_by_label("User name").focus()
    page.keyboard.type(friend)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "add-role"
    page.keyboard.press("ArrowDown")  # read -> write
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Add member", focused
    page.keyboard.press("Enter")
    expect(page.get_by_label(f"Role of {friend}")).to_have_value("write")
    # Removing the last admin shows the service's refusal. (The button asks for a confirmation first,
    # which the `page` fixture refuses; the form is sent the way an accepted confirmation sends it.)
    with page.expect_navigation():
        page.get_by_role("button", name=f"Remove {user}").evaluate("b => b.form.submit()")
    expect(page.get_by_role("alert")).to_contain_text("an organization needs at least one admin")
    shots("last-admin-kept")

    page.goto(f"{web_hub.url}/settings/tokens")
    page.get_by_label("Token name").fill("phone")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token-secret")).to_be_visible()

    # At phone width every settings page fits; tokens and members are listed one block each.
    page.set_viewport_size({"width": 390, "height": 844})
    fits_phone_width(
        page,
        web_hub,
        (
            ("profile", "/settings/profile"),
            ("tokens", "/settings/tokens"),
            ("orgs", "/settings/organizations"),
            ("members", f"/organizations/{org}/members"),
            ("new-org", "/organizations/new"),
        ),
        shots,
    )
