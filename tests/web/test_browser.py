"""The web UI in a real browser (Playwright driving Debian's /usr/bin/chromium): sign up, in and out, a card
that tries every trick and stays inert, the file list and viewer, uploading from the browser, keyboard use
and labels, and a phone-width layout. Each test saves screenshots (folder printed at the start of the run).
"""

import re
from pathlib import Path

import numpy as np
from huggingface_hub import CommitOperationAdd
from playwright.sync_api import Browser, Page, expect
from safetensors.numpy import save as save_safetensors

from tests.support.server import HubServer
from tests.web.browser import UNLABELLED, fits_phone_width, sign_in, sign_up
from tests.web.conftest import Shots
from tests.web.support import PASSWORD, api, unique, user_with_token


def test_sign_up_sign_out_andsign_in(page: Page, shots: Shots, web_hub: HubServer) -> None:
    name = unique("browser")
    page.goto(f"{web_hub.url}/")
    shots("home-anonymous")
    page.get_by_role("link", name="Sign up").click()
    expect(page).to_have_url(f"{web_hub.url}/join")
    shots("join-form")
    sign_up(page, web_hub, name)
    shots("signed-up")
    cookie = next(c for c in page.context.cookies() if c["name"] == "omh_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["secure"] is False
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".nav-user")).to_have_count(0)
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    page.goto(f"{web_hub.url}/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid username or password")
    shots("wrong-password")
    sign_in(page, web_hub, name)
    after = next(c for c in page.context.cookies() if c["name"] == "omh_session")
    assert after["value"] != cookie["value"]  # a new session id at each sign-in
    shots("signed-in")


def test_a_form_without_its_csrf_token_is_refused(page: Page, shots: Shots, web_hub: HubServer) -> None:
    sign_up(page, web_hub, unique("csrf"))
    page.goto(f"{web_hub.url}/new")
    page.get_by_label("Repo name").fill("never-made")
    page.evaluate("document.querySelector('main form input[name=csrf_token]').value = 'forged'")
    with page.expect_response(lambda r: r.url.endswith("/new") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Create repo").click()
    assert answer.value.status == 403
    expect(page.get_by_role("alert")).to_contain_text("CSRF")
    shots("csrf-refused")


EVIL_CARD = """---
license: mit
---
# Innocent card

<script>window.__pwned = "script"</script>
<img src="missing.png" onerror="window.__pwned = 'onerror'; alert('onerror')">
<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+" alt="data image">
<svg onload="window.__pwned = 'svg'"><script>alert('svg')</script></svg>
<iframe src="javascript:alert('iframe')"></iframe>
<object data="javascript:alert('object')"></object>
<meta http-equiv="refresh" content="0;url=javascript:alert('meta')">
<details open ontoggle="window.__pwned = 'toggle'"><summary>More</summary>details</details>
<style>.site-header { display: none } body { background: rgb(255, 0, 0) }</style>
<div style="position: fixed; inset: 0; background: rgb(255, 0, 0)" id="main" class="site-header">overlay</div>
<form action="/logout" method="post"><button>Sign out</button></form>

[markdown js link](javascript:window.__pwned='md-link')
<a href="javascript:window.__pwned='html-link'">html js link</a>
<a href="JaVaScRiPt:window.__pwned='mixed-case'">mixed case link</a>
<a href="data:text/html,<script>alert('data')</script>">data link</a>
<a href="https://example.org/ok">fine link</a>
"""


def test_a_malicious_card_renders_inert(page: Page, shots: Shots, web_hub: HubServer) -> None:
    user, token = user_with_token(web_hub)
    repo_id = f"{user}/{unique('evil')}"
    hf = api(web_hub, token)
    hf.create_repo(repo_id)
    hf.upload_file(path_or_fileobj=EVIL_CARD.encode(), path_in_repo="README.md", repo_id=repo_id)
    sign_in(page, web_hub, user)
    page.goto(f"{web_hub.url}/{repo_id}")
    expect(page.get_by_role("heading", name="Innocent card")).to_be_visible()
    page.wait_for_load_state("load")
    card = page.locator(".markdown")
    for text in ("markdown js link", "html js link", "mixed case link", "data link", "More"):
        card.get_by_text(text).first.click()  # clicking what is left of each trick does nothing
    page.wait_for_timeout(300)
    expect(page).to_have_url(f"{web_hub.url}/{repo_id}")
    assert page.evaluate("window.__pwned") is None
    hrefs = card.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert "https://example.org/ok" in hrefs
    assert not [h for h in hrefs if h and re.match(r"\s*(javascript|data|vbscript):", h, re.I)]
    sources = card.locator("img").evaluate_all("els => els.map(e => e.getAttribute('src') || '')")
    assert not [s for s in sources if s.startswith("data:")]
    for selector in (
        "script",
        "style",
        "iframe",
        "object",
        "svg",
        "form",
        "meta",
        "[style]",
        "[onerror]",
        "#main",
    ):
        assert card.locator(selector).count() == 0, selector
    # The card's styles did not escape it: the site header is there and the page is not red.
    expect(page.locator("header.site-header")).to_be_visible()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 0, 0)"
    expect(page.locator(".nav-user")).to_have_text(user)  # the card's "Sign out" form is gone
    shots("evil-card")


def _model_repo(hub: HubServer) -> tuple[str, str, str]:
    """A model repo with a card, a config and weights: (user, token, repo id)."""
    user, token = user_with_token(hub)
    repo_id = f"{user}/{unique('tiny')}"
    hf = api(hub, token)
    hf.create_repo(repo_id)
    card = (
        "---\nlicense: apache-2.0\npipeline_tag: feature-extraction\ntags: [tiny]\n---\n"
        "# Tiny model\n\nA model small enough for tests.\n\n| layer | size |\n|---|---|\n| embed | 40 |\n"
    )
    weights = save_safetensors(
        {"embed.weight": np.ones((10, 4), dtype=np.float32), "head.bias": np.zeros((3,), dtype=np.float16)}
    )
    files = {"README.md": card.encode(), "config.json": b'{"model_type": "bert", "hidden_size": 4}'}
    files["model.safetensors"] = weights
    ops = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=data) for path, data in files.items()]
    hf.create_commit(repo_id, ops, commit_message="Add the model")
    return user, token, repo_id


def test_repo_page_card_and_file_list(page: Page, shots: Shots, web_hub: HubServer) -> None:
    _, _, repo_id = _model_repo(web_hub)
    page.goto(f"{web_hub.url}/{repo_id}")
    expect(page.get_by_role("heading", name="Tiny model")).to_be_visible()
    expect(page.locator(".markdown table td").first).to_have_text("embed")
    expect(page.locator(".sidebar")).to_contain_text("apache-2.0")
    expect(page.locator("#snippet-transformers")).to_contain_text(web_hub.url)
    shots("repo-page")
    page.get_by_role("link", name="Files and versions").click()
    rows = page.locator(".file-table tbody tr")
    expect(rows).to_have_count(4)  # .gitattributes, README.md, config.json, model.safetensors
    weights_row = rows.filter(has_text="model.safetensors")
    expect(weights_row.locator(".badge-lfs")).to_have_text("LFS")
    expect(page.locator(".readme")).to_contain_text("A model small enough for tests.")
    shots("file-list")


def test_file_viewer_json_and_safetensors(page: Page, shots: Shots, web_hub: HubServer) -> None:
    _, _, repo_id = _model_repo(web_hub)
    page.goto(f"{web_hub.url}/{repo_id}/blob/main/config.json")
    lines = page.locator("pre.numbered .line")
    expect(lines).to_have_count(4)  # {, two keys, }
    expect(lines.nth(1)).to_have_text('  "model_type": "bert",')
    shots("json-viewer")
    page.goto(f"{web_hub.url}/{repo_id}/blob/main/model.safetensors")
    stats = page.locator(".safetensors .stats")
    expect(stats).to_contain_text("Tensors2")
    expect(stats).to_contain_text("Parameters43")
    expect(stats).to_contain_text("F32 \u00d7 1")
    expect(stats).to_contain_text("F16 \u00d7 1")
    expect(page.locator(".tensor-table tbody tr")).to_have_count(2)
    expect(page.get_by_role("link", name="Download")).to_have_attribute(
        "href", f"/{repo_id}/raw/main/model.safetensors"
    )
    shots("safetensors-viewer")


def test_upload_a_file_in_the_browser(page: Page, shots: Shots, web_hub: HubServer, tmp_path: Path) -> None:
    user, token, repo_id = _model_repo(web_hub)
    sign_in(page, web_hub, user)
    page.goto(f"{web_hub.url}/{repo_id}/tree/main")
    page.get_by_role("link", name="Upload files").click()
    local = tmp_path / "tokenizer.json"
    local.write_text('{"version": "1.0"}\n')
    page.get_by_label("Files").set_input_files(str(local))
    page.get_by_label("Commit message").fill("Add the tokenizer from the browser")
    shots("upload-form")
    page.get_by_role("button", name="Commit changes").click()
    expect(page).to_have_url(f"{web_hub.url}/{repo_id}/tree/main")
    expect(page.locator(".file-table")).to_contain_text("tokenizer.json")
    expect(page.locator(".last-commit")).to_contain_text("Add the tokenizer from the browser")
    shots("uploaded")
    hf = api(web_hub, token)
    assert "tokenizer.json" in hf.list_repo_files(repo_id)
    assert hf.list_repo_commits(repo_id)[0].title == "Add the tokenizer from the browser"


def test_keyboard_and_labels(page: Page, shots: Shots, web_hub: HubServer) -> None:
    user, _, repo_id = _model_repo(web_hub)
    page.goto(f"{web_hub.url}/")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    for _ in range(20):  # Tab to the "Sign in" link; never with the mouse
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Sign in":
            break
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/login"))
    assert page.evaluate("document.activeElement.id") == "login-username"  # autofocus
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "login-password"
    page.keyboard.type(PASSWORD)
    shots("keyboard-login")
    page.keyboard.press("Enter")
    expect(page.locator(".nav-user")).to_have_text(user)
    for path in ("/new", "/models", f"/{repo_id}/upload/main", f"/{repo_id}/new/main"):
        page.goto(f"{web_hub.url}{path}")
        assert page.evaluate(UNLABELLED) == [], path
    page.get_by_role("button", name="Sign out").click()
    for path in ("/login", "/join", "/models"):
        page.goto(f"{web_hub.url}{path}")
        assert page.evaluate(UNLABELLED) == [], path
    # The revision menu opens and closes from the keyboard.
    page.goto(f"{web_hub.url}/{repo_id}/tree/main")
    page.locator(".rev-switcher summary").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".rev-menu")).to_be_visible()
    shots("keyboard-revisions")
    page.keyboard.press("Escape")
    expect(page.locator(".rev-menu")).to_be_hidden()


def test_phone_width_has_no_horizontal_scroll(browser: Browser, web_hub: HubServer) -> None:
    _, token, repo_id = _model_repo(web_hub)
    hf = api(web_hub, token)
    wide = "x" * 400
    header = " | ".join(f"column {i}" for i in range(12))
    card = f"# Wide\n\n| {header} |\n|{'---|' * 12}\n| {' | '.join('v' * 12)} |\n"
    hf.upload_file(
        path_or_fileobj=f"{card}\n```\n{wide}\n```\n\n{wide}\n".encode(),
        path_in_repo="README.md",
        repo_id=repo_id,
    )
    hf.upload_file(
        path_or_fileobj=f"print('{wide}')\n".encode(), path_in_repo="long_line.py", repo_id=repo_id
    )
    oid = hf.list_repo_commits(repo_id)[0].commit_id
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    shots = Shots(page, "phone")
    try:
        fits_phone_width(
            page,
            web_hub,
            (
                ("home", "/"),
                ("models", "/models"),
                ("repo", f"/{repo_id}"),
                ("tree", f"/{repo_id}/tree/main"),
                ("code", f"/{repo_id}/blob/main/long_line.py"),
                ("commit", f"/{repo_id}/commit/{oid}"),
                ("login", "/login"),
            ),
            shots,
        )
    finally:
        context.close()
