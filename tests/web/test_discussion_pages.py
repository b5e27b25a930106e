"""The Community tab over HTTP, as a browser without JavaScript uses it: discussions opened, commented on,
renamed, closed and reopened through forms; pull requests opened by huggingface_hub or the editor, their
diff, merging from the page (a real commit on main), conflicts that change nothing, and who sees and may use
which form. Comments are Markdown rendered inert."""

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download

from tests.support.server import HubServer
from tests.web.support import Member, WebClient, unique


@pytest.fixture(scope="module")
def owner(web_hub: HubServer) -> Iterator[Member]:
    m = Member(web_hub, "downer")
    yield m
    m.web.close()


@pytest.fixture(scope="module")
def guest(web_hub: HubServer) -> Iterator[Member]:
    """Signed in, but with no rights on the owner's repos."""
    m = Member(web_hub, "dguest")
    yield m
    m.web.close()


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _repo(owner: Member, readme: str = "# Model\n\nfirst line\n") -> str:
    repo_id = f"{owner.name}/{unique('community')}"
    owner.hf.create_repo(repo_id)
    owner.hf.upload_file(path_or_fileobj=readme.encode(), path_in_repo="README.md", repo_id=repo_id)
    return repo_id


def _listed(web: WebClient, repo_id: str, query: str = "") -> list[tuple[int, str]]:
    """(number, title) of the discussions the Community tab lists with this query."""
    html = web.get(f"/{repo_id}/discussions{query}").text
    found = re.findall(rf'href="/{re.escape(repo_id)}/discussions/(\d+)">([^<]+)</a>', html)
    return [(int(n), unescape(t)) for n, t in found]


def _open_pr(hf: HfApi, repo_id: str, content: bytes, title: str) -> int:
    done = hf.create_commit(
        repo_id,
        [CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=content)],
        commit_message=title,
        create_pr=True,
    )
    assert done.pr_num is not None
    return int(done.pr_num)


def _readme(hub: HubServer, repo_id: str, token: str, cache: Path, revision: str = "main") -> str:
    path = hf_hub_download(
        repo_id, "README.md", revision=revision, endpoint=hub.url, token=token, cache_dir=cache
    )
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_discussion_opened_commented_renamed_closed_and_reopened(
    web_hub: HubServer, owner: Member, guest: Member
) -> None:
    repo_id = _repo(owner)
    web = guest.web
    home = web.get(f"/{repo_id}").text
    assert f'href="/{repo_id}/discussions">Community</a>' in home
    assert _listed(web, repo_id) == []
    assert "Nothing here yet" in web.get(f"/{repo_id}/discussions").text

    new = f"/{repo_id}/discussions/new"
    short = web.submit(new, new, {"title": "x", "description": "too short a title"})
    assert short.status_code == 400 and short.headers["X-Error-Code"] == "BadRequest"
    assert "3 to 200 characters" in _text(short.text) and "too short a title" in short.text  # kept
    made = web.submit(new, new, {"title": "Which licence?", "description": "Is this **MIT**?"})
    assert made.status_code == 303 and made.headers["location"] == f"/{repo_id}/discussions/1"
    page = web.get(f"/{repo_id}/discussions/1").text
    assert "Which licence?" in page and "<strong>MIT</strong>" in page
    assert _listed(web, repo_id) == [(1, "Which licence?")]

    thread = f"/{repo_id}/discussions/1"
    empty = web.submit(thread, f"{thread}/comment", {"comment": "   "})
    assert empty.status_code == 400 and "cannot be empty" in _text(empty.text)
    said = web.submit(thread, f"{thread}/comment", {"comment": "Answering *myself*"})
    assert said.status_code == 303 and re.fullmatch(
        rf"{thread}#event-[0-9a-f]{{24}}", said.headers["location"]
    )
    renamed = web.submit(thread, f"{thread}/title", {"title": "Which licence applies?"})
    assert renamed.status_code == 303
    listing = web.get(f"/{repo_id}/discussions").text
    assert "2 comments" in _text(listing) and "Which licence applies?" in listing

    closed = web.submit(thread, f"{thread}/status", {"status": "closed", "comment": "Found it."})
    assert closed.status_code == 303
    assert _listed(web, repo_id) == []  # the default filter: open
    assert _listed(web, repo_id, "?status=closed") == [(1, "Which licence applies?")]
    assert _listed(web, repo_id, "?status=all&type=pull_request") == []
    page = _text(web.get(thread).text)
    assert "Reopen discussion" in page and "Close discussion" not in page
    order = [page.index(s) for s in ("Is this", "Answering myself", "changed the title", "Found it.")]
    assert order == sorted(order)  # the events in the order they happened
    reopened = web.submit(thread, f"{thread}/status", {"status": "open", "comment": ""})
    assert reopened.status_code == 303  # the author closed it, so the author may reopen it

    # What huggingface_hub reads back is what the forms did.
    details = owner.hf.get_discussion_details(repo_id, 1)
    assert details.status == "open" and details.title == "Which licence applies?"
    kinds = [e.type for e in details.events]
    assert kinds == ["comment", "comment", "title-change", "comment", "status-change", "status-change"]

    # Closed by a writer: the author no longer sees "Reopen", and the service refuses it.
    assert owner.web.submit(thread, f"{thread}/status", {"status": "closed"}).status_code == 303
    assert "Reopen discussion" in owner.web.get(thread).text
    assert "Reopen discussion" not in web.get(thread).text
    refused = web.submit(thread, f"{thread}/status", {"status": "open"})
    assert refused.status_code == 403 and "closed by a maintainer" in _text(refused.text)
    assert owner.hf.get_discussion_details(repo_id, 1).status == "closed"


def test_comment_edit_and_hide(web_hub: HubServer, owner: Member, guest: Member) -> None:
    repo_id = _repo(owner)
    new = f"/{repo_id}/discussions/new"
    guest.web.submit(new, new, {"title": "Typos", "description": "teh first version"})
    thread = f"/{repo_id}/discussions/1"
    comment_id = owner.hf.get_discussion_details(repo_id, 1).events[0].id
    # Only the author gets the edit form; others are refused.
    assert f"comment/{comment_id}/edit" in guest.web.get(thread).text
    assert f"comment/{comment_id}/edit" not in owner.web.get(thread).text
    action = f"{thread}/comment/{comment_id}/edit"
    assert owner.web.submit(thread, action, {"content": "hijacked"}).status_code == 403
    assert guest.web.submit(thread, action, {"content": "the fixed version"}).status_code == 303
    page = _text(guest.web.get(thread).text)
    assert "the fixed version" in page and "edited" in page and "teh first" not in page
    # The repo's writers may hide it; its text is gone for good.
    hidden = owner.web.submit(thread, f"{thread}/comment/{comment_id}/hide", {})
    assert hidden.status_code == 303
    page = _text(guest.web.get(thread).text)
    assert f"This comment was hidden by {owner.name}" in page and "the fixed version" not in page


def test_pull_request_from_huggingface_hub_shows_commits_and_diff(
    web_hub: HubServer, owner: Member, guest: Member
) -> None:
    repo_id = _repo(owner)
    num = _open_pr(guest.hf, repo_id, b"# Model\n\nsecond line\n", "Reword the card")
    assert _listed(owner.web, repo_id, "?type=pull_request") == [(num, "Reword the card")]
    assert _listed(owner.web, repo_id, "?type=discussion") == []
    page = owner.web.get(f"/{repo_id}/discussions/{num}").text
    text = _text(page)
    assert f"wants to merge refs/pr/{num} into main" in text
    head = owner.hf.list_repo_commits(repo_id, revision=f"refs/pr/{num}")[0].commit_id
    assert f'href="/{repo_id}/commit/{head}">Reword the card</a>' in page  # its commit
    assert "No conflicts with main" in text and "Merge pull request" in text
    files = owner.web.get(f"/{repo_id}/discussions/{num}/files")
    assert files.status_code == 200
    assert re.search(r'<span class="del">-first line</span>', files.text)
    assert re.search(r'<span class="add">\+second line</span>', files.text)
    assert '<span class="ctx"> # Model</span>' in files.text
    assert "1 changed file" in _text(files.text)
    # A discussion has no "Files changed": its URL leads back to the thread.
    new = f"/{repo_id}/discussions/new"
    owner.web.submit(new, new, {"title": "Plain discussion"})
    back = owner.web.get(f"/{repo_id}/discussions/{num + 1}/files")
    assert back.status_code == 303 and back.headers["location"] == f"/{repo_id}/discussions/{num + 1}"
    assert owner.web.get(f"/{repo_id}/discussions/99").status_code == 404
    assert owner.web.get(f"/{repo_id}/discussions/0").status_code == 404


def test_merge_from_the_page_makes_a_commit_on_main(
    web_hub: HubServer, owner: Member, guest: Member, tmp_path: Path
) -> None:
    repo_id = _repo(owner)
    num = _open_pr(guest.hf, repo_id, b"# Model\n\nmerged line\n", "Better card")
    before = owner.hf.list_repo_commits(repo_id)[0].commit_id
    thread = f"/{repo_id}/discussions/{num}"
    merged = owner.web.submit(thread, f"{thread}/merge", {})
    assert merged.status_code == 303, merged.text[:2000]
    commits = owner.hf.list_repo_commits(repo_id)
    assert commits[0].title == f"Merge pull request #{num}: Better card"
    assert commits[1].commit_id == before
    assert _readme(web_hub, repo_id, owner.token, tmp_path) == "# Model\n\nmerged line\n"
    page = owner.web.get(thread).text
    text = _text(page)
    assert 'id="discussion-status">Merged<' in page and "was merged into main as commit" in text
    assert f"/{repo_id}/commit/{commits[0].commit_id}" in page
    assert "Merge pull request" not in re.sub(r"<title>.*?</title>", "", page)  # no button any more
    assert owner.hf.get_discussion_details(repo_id, num).status == "merged"
    again = owner.web.submit(thread, f"{thread}/merge", {})
    assert again.status_code == 409 and "already merged" in _text(again.text)
    assert _listed(owner.web, repo_id, "?status=closed") == [(num, "Better card")]


def test_a_conflicting_merge_shows_the_error_and_changes_nothing(
    web_hub: HubServer, owner: Member, guest: Member, tmp_path: Path
) -> None:
    repo_id = _repo(owner)
    num = _open_pr(guest.hf, repo_id, b"# Model\n\nthe guest's line\n", "Guest edit")
    owner.hf.upload_file(
        path_or_fileobj=b"# Model\n\nthe owner's line\n", path_in_repo="README.md", repo_id=repo_id
    )
    main_before = owner.hf.list_repo_commits(repo_id)[0].commit_id
    pr_before = owner.hf.list_repo_commits(repo_id, revision=f"refs/pr/{num}")[0].commit_id
    thread = f"/{repo_id}/discussions/{num}"
    shown = _text(owner.web.get(thread).text)
    assert re.search(r"These files were changed differently on main ?: README\.md\. Push", shown)
    refused = owner.web.submit(thread, f"{thread}/merge", {})
    assert refused.status_code == 409 and refused.headers["X-Error-Code"] == "MergeConflict"
    text = _text(refused.text)
    assert f"Pull request #{num} cannot be merged into 'main'" in text and "README.md" in text
    assert "Guest edit" in text  # the pull request's page, with the error on it
    assert owner.hf.list_repo_commits(repo_id)[0].commit_id == main_before
    assert owner.hf.list_repo_commits(repo_id, revision=f"refs/pr/{num}")[0].commit_id == pr_before
    assert owner.hf.get_discussion_details(repo_id, num).status == "open"
    assert _readme(web_hub, repo_id, owner.token, tmp_path) == "# Model\n\nthe owner's line\n"


def test_only_writers_see_and_use_merge(web_hub: HubServer, owner: Member, guest: Member) -> None:
    repo_id = _repo(owner)
    num = _open_pr(guest.hf, repo_id, b"# Model\n\nproposal\n", "Proposal")
    thread = f"/{repo_id}/discussions/{num}"
    as_guest = guest.web.get(thread).text
    assert "Merge pull request</button>" not in as_guest
    assert "Only the repo's writers can merge it" in _text(as_guest)
    assert "Close pull request" in as_guest  # the author may still close it
    assert "Merge pull request</button>" in owner.web.get(thread).text
    main_before = owner.hf.list_repo_commits(repo_id)[0].commit_id
    refused = guest.web.submit(thread, f"{thread}/merge", {})
    assert refused.status_code == 403 and refused.headers["X-Error-Code"] == "Forbidden"
    anonymous = WebClient(web_hub)
    try:
        page = anonymous.get(thread).text
        assert "Merge pull request</button>" not in page and "Sign in</a> to comment" in page
        assert "comment-text" not in page
        token = anonymous.csrf("/login")
        gone = anonymous.http.post(f"{thread}/merge", data={"csrf_token": token})
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
        forged = guest.web.http.post(f"{thread}/merge", data={"csrf_token": "forged"})
        assert forged.status_code == 403
    finally:
        anonymous.close()
    assert owner.hf.list_repo_commits(repo_id)[0].commit_id == main_before
    assert owner.hf.get_discussion_details(repo_id, num).status == "open"


def test_a_comment_with_script_renders_inert(web_hub: HubServer, owner: Member, guest: Member) -> None:
    repo_id = _repo(owner)
    new = f"/{repo_id}/discussions/new"
    evil = (
        "<script>window.__pwned = 1</script>\n\n"
        '<img src=x onerror="window.__pwned = 2">\n\n'
        "[click](javascript:alert(1)) and **bold**\n"
    )
    made = guest.web.submit(new, new, {"title": "<b>Title</b> <script>x</script>", "description": evil})
    assert made.status_code == 303
    page = guest.web.get(made.headers["location"]).text
    body = page.split('<ol class="thread">', 1)[1]
    assert "<script" not in body
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", body)  # no event handler attributes
    assert not re.search(r'href="\s*javascript:', body, re.I)
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in body  # shown as text, never run
    assert "<strong>bold</strong>" in body
    assert "&lt;b&gt;Title&lt;/b&gt; &lt;script&gt;x&lt;/script&gt;" in page  # the title is escaped too
    assert "<b>Title</b>" not in page


def test_the_editor_opens_pull_requests(
    web_hub: HubServer, owner: Member, guest: Member, tmp_path: Path
) -> None:
    repo_id = _repo(owner)
    edit_page = f"/{repo_id}/edit/main/README.md"
    # A writer who ticks "Open a pull request" lands on the pull request's page; main does not move.
    form = owner.web.get(edit_page).text
    assert 'name="create_pr" value="1"' in form
    parent = re.search(r'name="parent" value="([0-9a-f]{40})"', form).group(1)
    sent = owner.web.submit(
        edit_page, edit_page, {"content": "# Model\n\nby the owner\n", "parent": parent, "create_pr": "1"}
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"/{repo_id}/discussions/1"
    assert _readme(web_hub, repo_id, owner.token, tmp_path) == "# Model\n\nfirst line\n"
    assert _readme(web_hub, repo_id, owner.token, tmp_path, "refs/pr/1") == "# Model\n\nby the owner\n"
    # Someone who may not write to the repo gets the editor too, and it can only open a pull request.
    page = guest.web.get(edit_page)
    assert page.status_code == 200 and "saving opens a pull request" in _text(page.text)
    sent = guest.web.submit(
        edit_page, edit_page, {"content": "# Model\n\nby a guest\n", "summary": "Guest edit"}
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"/{repo_id}/discussions/2"
    assert _readme(web_hub, repo_id, owner.token, tmp_path) == "# Model\n\nfirst line\n"
    details = owner.hf.get_discussion_details(repo_id, 2)
    assert details.is_pull_request and details.author == guest.name and details.title == "Guest edit"
    new_file = f"/{repo_id}/new/main"
    made = guest.web.submit(new_file, new_file, {"path": "notes.md", "content": "notes\n"})
    assert made.status_code == 303 and made.headers["location"] == f"/{repo_id}/discussions/3"
    assert "notes.md" not in owner.hf.list_repo_files(repo_id)
    # Uploads stay with the writers; a writer's upload as a pull request also lands on its page.
    assert guest.web.get(f"/{repo_id}/upload/main").status_code == 403
    upload = f"/{repo_id}/upload/main"
    up = owner.web.http.post(
        upload,
        data={"csrf_token": owner.web.csrf(upload), "summary": "Add data", "create_pr": "1"},
        files=[("files", ("data.csv", b"a,b\n", "text/csv"))],
    )
    assert up.status_code == 303 and up.headers["location"] == f"/{repo_id}/discussions/4"
    assert "data.csv" in owner.hf.list_repo_files(repo_id, revision="refs/pr/4")
