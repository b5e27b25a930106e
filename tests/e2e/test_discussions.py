"""Pull requests and discussions with the stock `huggingface_hub` client against a real `omh serve`.

alice owns the repos; bob is any other registered user (he can read alice's public repos, not write them).
"""

import subprocess
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download
from huggingface_hub.errors import BadRequestError, HfHubHTTPError, RepositoryNotFoundError

from tests.conftest import Accounts
from tests.support.server import HubServer


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"git {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def alice(hub: HubServer, accounts: Accounts) -> HfApi:
    return HfApi(token=accounts.alice)


@pytest.fixture
def bob(hub: HubServer, accounts: Accounts) -> HfApi:
    return HfApi(token=accounts.bob)


def _repo(alice: HfApi, name: str, *, private: bool = False) -> str:
    repo_id = f"alice/{name}"
    alice.create_repo(repo_id, private=private)
    alice.create_commit(
        repo_id,
        [
            CommitOperationAdd("config.json", b'{"model_type": "bert"}'),
            CommitOperationAdd("a.txt", b"a\n"),
            CommitOperationAdd("docs/b.txt", b"b\n"),
        ],
        commit_message="First files",
    )
    return repo_id


def _status(exc: pytest.ExceptionInfo[HfHubHTTPError]) -> int:
    assert exc.value.response is not None
    return exc.value.response.status_code


def test_pull_request_from_a_non_writer_end_to_end(
    hub: HubServer, alice: HfApi, bob: HfApi, repo_name: str, tmp_path: Path
) -> None:
    repo_id = _repo(alice, repo_name)
    main_before = alice.model_info(repo_id).sha

    # bob cannot write to main, but he can open a pull request with his change
    with pytest.raises(HfHubHTTPError) as denied:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert _status(denied) == 403
    info = bob.create_commit(
        repo_id,
        [CommitOperationAdd("new.txt", b"hello\n"), CommitOperationAdd("a.txt", b"a from bob\n")],
        commit_message="Add new.txt",
        commit_description="Please merge",
        create_pr=True,
    )
    assert (info.pr_revision, info.pr_num) == ("refs/pr/1", 1)
    assert info.pr_url is not None and info.pr_url.endswith(f"/{repo_id}/discussions/1")
    assert alice.model_info(repo_id).sha == main_before  # main did not move

    # refs/pr/1 is listed and resolvable (percent-encoded as refs%2Fpr%2F1)
    refs = bob.list_repo_refs(repo_id, include_pull_requests=True)
    assert [(r.ref, r.target_commit) for r in refs.pull_requests] == [("refs/pr/1", info.oid)]
    assert [b.name for b in refs.branches] == ["main"]
    path = hf_hub_download(repo_id, "new.txt", revision="refs/pr/1", cache_dir=tmp_path / "c", token=False)
    assert Path(path).read_bytes() == b"hello\n"
    assert "new.txt" in bob.list_repo_files(repo_id, revision="refs/pr/1")
    assert "new.txt" not in bob.list_repo_files(repo_id)

    # bob pushes a second commit into his pull request
    bob.create_commit(
        repo_id,
        [CommitOperationAdd("more.txt", b"more\n"), CommitOperationDelete("docs/b.txt")],
        commit_message="More changes",
        revision="refs/pr/1",
    )
    details = bob.get_discussion_details(repo_id, 1)
    assert details.is_pull_request and details.status == "open" and details.author == "bob"
    assert details.title == "Add new.txt"
    assert details.target_branch == "refs/heads/main"
    assert details.conflicting_files == []
    assert details.merge_commit_oid is None
    assert [e.type for e in details.events] == ["comment", "commit", "commit"]
    assert details.events[0].content == "Please merge"
    assert [e.summary for e in details.events[1:]] == ["Add new.txt", "More changes"]
    assert details.diff is not None
    assert "+++ b/new.txt\n@@ -0,0 +1 @@\n+hello\n" in details.diff
    assert "-a\n+a from bob\n" in details.diff and "deleted file mode" in details.diff

    # the conversation: comment, edit, rename, close, reopen
    comment = alice.comment_discussion(repo_id, 1, "Looks **good**")
    assert comment.content == "Looks **good**" and "<strong>good</strong>" in comment.rendered
    edited = alice.edit_discussion_comment(repo_id, 1, comment.id, "Looks great")
    assert (edited.content, edited.edited, edited.number_of_edits) == ("Looks great", True, 2)
    assert [h["raw"] for h in edited.edit_history] == ["Looks great", "Looks **good**"]
    with pytest.raises(HfHubHTTPError) as not_his:
        bob.edit_discussion_comment(repo_id, 1, comment.id, "bob was here")
    assert _status(not_his) == 403
    renamed = bob.rename_discussion(repo_id, 1, "Add new.txt and more")
    assert (renamed.old_title, renamed.new_title) == ("Add new.txt", "Add new.txt and more")
    closed = bob.change_discussion_status(repo_id, 1, "closed", comment="Not ready")
    assert closed.new_status == "closed"
    reopened = bob.change_discussion_status(repo_id, 1, "open")  # he closed it himself
    assert reopened.new_status == "open"

    # only writers merge
    with pytest.raises(HfHubHTTPError) as no_merge:
        bob.merge_pull_request(repo_id, 1)
    assert _status(no_merge) == 403
    alice.merge_pull_request(repo_id, 1, comment="Thanks!")

    files = set(alice.list_repo_files(repo_id))
    assert {"new.txt", "more.txt", "a.txt", "config.json"} <= files and "docs/b.txt" not in files
    merged = alice.get_discussion_details(repo_id, 1)
    head = alice.model_info(repo_id).sha
    assert (merged.status, merged.merge_commit_oid) == ("merged", head)
    assert [e.type for e in merged.events][-2:] == ["comment", "status-change"]
    assert merged.events[-1].new_status == "merged"
    commits = alice.list_repo_commits(repo_id)
    assert commits[0].commit_id == head
    assert commits[0].title == "Merge pull request #1: Add new.txt and more"
    assert commits[1].commit_id == main_before
    with pytest.raises(HfHubHTTPError) as again:
        alice.merge_pull_request(repo_id, 1)
    assert _status(again) == 409

    # the merge is a real two-parent git commit
    dest = tmp_path / "export.git"
    hub.cli("export", repo_id, str(dest))
    parents = git("-C", str(dest), "rev-list", "--parents", "-n", "1", "main").split()
    pr_head = bob.list_repo_refs(repo_id, include_pull_requests=True).pull_requests[0].target_commit
    assert parents == [head, main_before, pr_head]
    assert git("-C", str(dest), "show", "main:new.txt") == "hello\n"

    # listing with the client's filters
    assert [d.num for d in alice.get_repo_discussions(repo_id, discussion_type="pull_request")] == [1]
    assert [d.num for d in alice.get_repo_discussions(repo_id, discussion_status="closed")] == [1]
    assert list(alice.get_repo_discussions(repo_id, discussion_status="open")) == []
    assert [d.num for d in alice.get_repo_discussions(repo_id, author="bob")] == [1]
    assert list(alice.get_repo_discussions(repo_id, author="alice")) == []


def test_a_conflicting_pull_request_is_refused_and_changes_nothing(
    alice: HfApi, bob: HfApi, repo_name: str
) -> None:
    repo_id = _repo(alice, repo_name)
    bob.create_commit(
        repo_id, [CommitOperationAdd("a.txt", b"bob's a\n")], commit_message="Change a", create_pr=True
    )
    alice.upload_file(path_or_fileobj=b"alice's a\n", path_in_repo="a.txt", repo_id=repo_id)
    main_head = alice.model_info(repo_id).sha
    assert alice.get_discussion_details(repo_id, 1).conflicting_files == ["a.txt"]

    with pytest.raises(HfHubHTTPError) as refused:
        alice.merge_pull_request(repo_id, 1)
    assert _status(refused) == 409
    assert refused.value.response is not None
    assert refused.value.response.headers["X-Error-Code"] == "MergeConflict"
    assert "a.txt" in str(refused.value) and "changed on both sides" in str(refused.value)
    assert alice.model_info(repo_id).sha == main_head
    assert alice.get_discussion_details(repo_id, 1).status == "open"

    # bob resolves it by taking alice's version, then it merges
    bob.upload_file(
        path_or_fileobj=b"alice's a\n", path_in_repo="a.txt", repo_id=repo_id, revision="refs/pr/1"
    )
    bob.upload_file(path_or_fileobj=b"c\n", path_in_repo="c.txt", repo_id=repo_id, revision="refs/pr/1")
    assert alice.get_discussion_details(repo_id, 1).conflicting_files == []
    alice.merge_pull_request(repo_id, 1)
    assert "c.txt" in alice.list_repo_files(repo_id)


def test_upload_folder_with_create_pr(alice: HfApi, bob: HfApi, repo_name: str, tmp_path: Path) -> None:
    # With hf_xet installed, upload_folder(create_pr=True) opens the pull request through the discussions
    # API (a draft), reads it back, then commits into refs/pr/1.
    repo_id = _repo(alice, repo_name)
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "one.txt").write_bytes(b"one\n")
    (folder / "two.txt").write_bytes(b"two\n")
    info = bob.upload_folder(repo_id=repo_id, folder_path=folder, create_pr=True, commit_message="A folder")
    assert info.pr_revision == "refs/pr/1"
    assert set(bob.list_repo_files(repo_id, revision="refs/pr/1")) >= {"sub/one.txt", "two.txt"}
    details = bob.get_discussion_details(repo_id, 1)
    assert details.status == "open"  # the first commit opened the draft
    assert [e.type for e in details.events][-1] == "commit"
    # a pull request opened empty, by hand
    pr = bob.create_pull_request(repo_id, "Empty for now", description="I will push later")
    assert (pr.num, pr.status, pr.is_pull_request, pr.git_reference) == (2, "draft", True, "refs/pr/2")
    with pytest.raises(BadRequestError):
        alice.merge_pull_request(repo_id, 2)  # nothing to merge


def test_discussions_permissions_and_bad_input(
    hub: HubServer, accounts: Accounts, alice: HfApi, bob: HfApi, repo_name: str
) -> None:
    repo_id = _repo(alice, repo_name)
    disc = bob.create_discussion(repo_id, "A question", description="How was this trained?")
    assert (disc.num, disc.is_pull_request, disc.status, disc.author) == (1, False, "open", "bob")
    anonymous = HfApi(token=False)
    assert [d.title for d in anonymous.get_repo_discussions(repo_id)] == ["A question"]
    assert anonymous.get_discussion_details(repo_id, 1).events[0].content == "How was this trained?"

    # posting needs a token that may write (read tokens stay read-only), and an account
    with pytest.raises(HfHubHTTPError) as read_only:
        HfApi(token=accounts.alice_read).comment_discussion(repo_id, 1, "hi")
    assert _status(read_only) == 403
    with pytest.raises(HfHubHTTPError) as nobody:
        anonymous.comment_discussion(repo_id, 1, "hi")
    assert _status(nobody) == 401

    # the repo owner hides bob's description; bob's own comment stays his to edit
    hidden = alice.hide_discussion_comment(repo_id, 1, disc.events[0].id)
    assert hidden.hidden and hidden.content == ""
    assert bob.get_discussion_details(repo_id, 1).events[0].hidden
    with pytest.raises(BadRequestError):
        bob.edit_discussion_comment(repo_id, 1, disc.events[0].id, "again")

    # bob may not close alice's discussion; alice closes bob's, and then he cannot reopen it
    alices = alice.create_discussion(repo_id, "Roadmap")
    with pytest.raises(HfHubHTTPError) as not_yours:
        bob.change_discussion_status(repo_id, alices.num, "closed")
    assert _status(not_yours) == 403
    alice.change_discussion_status(repo_id, 1, "closed")
    with pytest.raises(HfHubHTTPError) as maintainer_closed:
        bob.change_discussion_status(repo_id, 1, "open")
    assert _status(maintainer_closed) == 403
    with pytest.raises(HfHubHTTPError):
        bob.rename_discussion(repo_id, alices.num, "Mine now")
    with pytest.raises(BadRequestError):
        alice.merge_pull_request(repo_id, alices.num)  # a discussion, not a pull request

    # bad input: clear 400s and 404s
    with pytest.raises(BadRequestError, match="3 to 200 characters"):
        bob.create_discussion(repo_id, "ab")
    with pytest.raises(BadRequestError, match="cannot be empty"):
        bob.comment_discussion(repo_id, 1, "   ")
    with pytest.raises(HfHubHTTPError) as missing:
        bob.get_discussion_details(repo_id, 99)
    assert _status(missing) == 404
    with pytest.raises(HfHubHTTPError) as no_comment:
        alice.edit_discussion_comment(repo_id, 1, "ffffffffffffffffffffffff", "x")
    assert _status(no_comment) == 404
    r = httpx.get(f"{hub.url}/api/models/{repo_id}/discussions", params={"status": "weird"})
    assert r.status_code == 400 and r.headers["X-Error-Code"] == "BadRequest"

    # a private repo is invisible to outsiders, discussions included
    private_id = _repo(alice, f"{repo_name}-private", private=True)
    alice.create_discussion(private_id, "Internal")
    with pytest.raises(RepositoryNotFoundError):
        list(bob.get_repo_discussions(private_id))
    with pytest.raises(RepositoryNotFoundError):
        bob.get_discussion_details(private_id, 1)
    with pytest.raises(RepositoryNotFoundError):
        bob.create_discussion(private_id, "Let me in")
    with pytest.raises(RepositoryNotFoundError):
        bob.create_commit(
            private_id, [CommitOperationAdd("x.txt", b"x")], commit_message="sneaky", create_pr=True
        )
    assert [d.title for d in alice.get_repo_discussions(private_id)] == ["Internal"]


def test_a_gated_repo_shows_no_diff_to_those_without_access(
    accounts: Accounts, alice: HfApi, bob: HfApi, repo_name: str
) -> None:
    repo_id = _repo(alice, repo_name)
    alice.create_commit(
        repo_id, [CommitOperationAdd("secret.txt", b"secret\n")], commit_message="Secret", create_pr=True
    )
    alice.update_repo_settings(repo_id, gated="manual")
    assert bob.get_discussion_details(repo_id, 1).diff is None
    assert "+secret" in (alice.get_discussion_details(repo_id, 1).diff or "")
    # the discussion itself stays open to readers of the repo
    assert bob.comment_discussion(repo_id, 1, "Can I see?").content == "Can I see?"
