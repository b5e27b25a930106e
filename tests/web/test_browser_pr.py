"""Pull requests and discussions in a real browser (Playwright driving Debian's /usr/bin/chromium): a user
with no rights on a repo proposes a change from the editor, the owner reviews the diff in another browser
context, comments and merges, and huggingface_hub reads the merged file from main. Then the Community pages
from the keyboard, their labels, and their layout at phone width. Each test saves screenshots."""

from pathlib import Path

from huggingface_hub import CommitOperationAdd, hf_hub_download
from playwright.sync_api import Browser, Page, expect

from tests.support.server import HubServer
from tests.web.browser import UNLABELLED, fits_phone_width, sign_in, sign_up
from tests.web.conftest import Shots
from tests.web.support import api, unique, user_with_token

OLD_README = "# Tiny model\n\nA model for tests.\n"
NEW_README = "# Tiny model\n\nA model for tests, now described by a contributor.\n"


def _owned_repo(hub: HubServer) -> tuple[str, str, str]:
    """A repo with a README, owned by a new user: (owner, token, repo id)."""
    owner, token = user_with_token(hub)
    repo_id = f"{owner}/{unique('reviewed')}"
    hf = api(hub, token)
    hf.create_repo(repo_id)
    hf.upload_file(path_or_fileobj=OLD_README.encode(), path_in_repo="README.md", repo_id=repo_id)
    return owner, token, repo_id


def test_contributor_proposes_an_edit_and_the_owner_merges_it(
    browser: Browser, page: Page, shots: Shots, web_hub: HubServer, tmp_path: Path
) -> None:
    owner, token, repo_id = _owned_repo(web_hub)
    hf = api(web_hub, token)
    main_before = hf.list_repo_commits(repo_id)[0].commit_id

    # User B, who may not write to the repo, edits the README: saving can only open a pull request.
    contributor = unique("contrib")
    sign_up(page, web_hub, contributor)
    page.goto(f"{web_hub.url}/{repo_id}/blob/main/README.md")
    page.get_by_role("link", name="Edit (opens a pull request)").click()
    expect(page).to_have_url(f"{web_hub.url}/{repo_id}/edit/main/README.md")
    expect(page.locator("#ed-pr-only")).to_contain_text("saving opens a pull request")
    page.get_by_label("Content").fill(NEW_README)
    page.get_by_label("Commit message").fill("Describe the model better")
    page.get_by_label("Extended description").fill("The card said too little.")
    shots("contributor-edits")
    page.get_by_role("button", name="Open a pull request").click()
    expect(page).to_have_url(f"{web_hub.url}/{repo_id}/discussions/1")
    expect(page.locator("#discussion-status")).to_have_text("Open")
    expect(page.locator(".discussion-meta")).to_contain_text("wants to merge refs/pr/1 into main")
    expect(page.locator(".comment").first).to_contain_text("The card said too little.")
    expect(page.locator(".merge-box")).to_contain_text("Only the repo's writers can merge it")
    expect(page.get_by_role("button", name="Merge pull request")).to_have_count(0)
    shots("contributor-lands-on-the-pr")
    assert hf.list_repo_commits(repo_id)[0].commit_id == main_before  # main has not moved

    # User A, in another browser context, finds it in the Community tab and reviews the diff.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    review = context.new_page()
    owner_shots = Shots(review, "owner-reviews")
    try:
        sign_in(review, web_hub, owner)
        review.goto(f"{web_hub.url}/{repo_id}")
        review.get_by_role("link", name="Community").click()
        review.get_by_role("link", name="Describe the model better").click()
        expect(review).to_have_url(f"{web_hub.url}/{repo_id}/discussions/1")
        review.get_by_role("link", name="Files changed").click()
        diff = review.get_by_role("region", name="Diff of README.md")
        expect(diff.locator(".del")).to_have_text("-A model for tests.")
        expect(diff.locator(".add")).to_have_text("+A model for tests, now described by a contributor.")
        owner_shots("diff")
        review.get_by_role("link", name="Conversation").click()
        review.get_by_label("Add a comment").fill("Thanks, **merging** it.")
        review.get_by_role("button", name="Comment", exact=True).click()
        expect(review.locator(".comment").last).to_contain_text("Thanks, merging it.")
        expect(review.locator(".comment-body").last.locator("strong")).to_have_text("merging")
        owner_shots("commented")
        review.get_by_role("button", name="Merge pull request").click()
        expect(review.locator("#discussion-status")).to_have_text("Merged")
        expect(review.locator(".merge-box")).to_contain_text("was merged into main as commit")
        expect(review.locator(".event-status-change")).to_contain_text(f"{owner} merged this pull request")
        owner_shots("merged")
    finally:
        context.close()

    # B sees it merged; main has the merge commit and the new README.
    page.reload()
    expect(page.locator("#discussion-status")).to_have_text("Merged")
    expect(page.locator(".thread")).to_contain_text("Thanks, merging it.")
    shots("contributor-sees-merged")
    commits = hf.list_repo_commits(repo_id)
    assert commits[0].title == "Merge pull request #1: Describe the model better"
    assert commits[1].commit_id == main_before
    path = hf_hub_download(repo_id, "README.md", endpoint=web_hub.url, token=token, cache_dir=tmp_path)
    assert Path(path).read_text(encoding="utf-8") == NEW_README
    assert hf.get_discussion_details(repo_id, 1).status == "merged"


def test_community_from_the_keyboard_with_labels(page: Page, shots: Shots, web_hub: HubServer) -> None:
    owner, _, repo_id = _owned_repo(web_hub)
    sign_in(page, web_hub, owner)
    page.goto(f"{web_hub.url}/{repo_id}/discussions")
    expect(page.get_by_role("navigation", name="Status").get_by_role("link", name="Open")).to_have_attribute(
        "aria-current", "page"
    )
    new_link = page.get_by_role("link", name="New discussion")
    for _ in range(40):  # Tab to "New discussion"; never with the mouse
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "New discussion":
            break
    expect(new_link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{web_hub.url}/{repo_id}/discussions/new")
    assert page.evaluate(UNLABELLED) == []
    page.get_by_label("Title").focus()
    page.keyboard.type("Keyboard only")
    page.keyboard.press("Tab")
    expect(page.get_by_label("First comment")).to_be_focused()
    page.keyboard.type("Typed without a mouse.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Start the discussion")).to_be_focused()
    shots("keyboard-new-discussion")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{web_hub.url}/{repo_id}/discussions/1")
    expect(page.locator(".comment")).to_contain_text("Typed without a mouse.")
    assert page.evaluate(UNLABELLED) == []
    # Close from the keyboard: the status button is reachable after the comment box.
    page.get_by_label("Add a comment").focus()
    page.keyboard.type("Closing this.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Comment", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Close discussion")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#discussion-status")).to_have_text("Closed")
    expect(page.locator(".thread")).to_contain_text("Closing this.")
    expect(page.get_by_role("button", name="Reopen discussion")).to_be_visible()
    shots("keyboard-closed")
    # The rename form opens from the keyboard too.
    page.locator(".rename summary").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("New title")).to_be_visible()
    assert page.evaluate(UNLABELLED) == []
    page.goto(f"{web_hub.url}/{repo_id}/discussions?status=closed")
    expect(page.locator(".discussion-item")).to_have_count(1)
    assert page.evaluate(UNLABELLED) == []


def test_community_pages_at_phone_width(browser: Browser, web_hub: HubServer) -> None:
    owner, token, repo_id = _owned_repo(web_hub)
    hf = api(web_hub, token)
    wide = "y" * 300
    hf.create_commit(
        repo_id,
        [
            CommitOperationAdd(
                path_in_repo="README.md", path_or_fileobj=f"# Tiny model\n\n{wide}\n".encode()
            ),
            CommitOperationAdd(path_in_repo=f"data/{'long-name-' * 8}.txt", path_or_fileobj=b"z\n"),
        ],
        commit_message=f"A pull request with a long title {'word ' * 20}",
        commit_description=f"A comment with `{wide}` and a long link https://example.org/{wide}",
        create_pr=True,
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    shots = Shots(page, "community-phone")
    try:
        sign_in(page, web_hub, owner)
        fits_phone_width(
            page,
            web_hub,
            (
                ("list", f"/{repo_id}/discussions?status=all"),
                ("new", f"/{repo_id}/discussions/new"),
                ("thread", f"/{repo_id}/discussions/1"),
                ("files", f"/{repo_id}/discussions/1/files"),
            ),
            shots,
        )
        expect(page.get_by_role("region", name="Diff of README.md")).to_be_visible()
        page.goto(f"{web_hub.url}/{repo_id}/discussions/1")
        expect(page.get_by_role("button", name="Merge pull request")).to_be_visible()
        box = page.get_by_role("button", name="Merge pull request").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390
    finally:
        context.close()
