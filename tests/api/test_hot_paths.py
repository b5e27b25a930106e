"""Cached fast paths (resolve, repo info) never serve an answer older than the database."""

from pathlib import Path

import httpx
from huggingface_hub import HfApi

from tests.conftest import Accounts
from tests.support.server import HubServer


def test_resolve_and_info_follow_every_change(hub: HubServer, accounts: Accounts, repo_name: str) -> None:
    api = HfApi(token=accounts.alice)
    repo_id = f"alice/{repo_name}"
    api.create_repo(repo_id)
    url = f"{hub.url}/{repo_id}/resolve/main/a.txt"
    for i in range(5):
        content = f"version {i}".encode()
        api.upload_file(path_or_fileobj=content, path_in_repo="a.txt", repo_id=repo_id)
        sha = api.model_info(repo_id).sha
        for _ in range(3):  # the second and third answers come from the cache
            r = httpx.get(url)
            assert r.status_code == 200 and r.content == content
            assert r.headers["X-Repo-Commit"] == sha
            assert httpx.get(f"{hub.url}/api/models/{repo_id}").json()["sha"] == sha
    api.update_repo_settings(repo_id, private=True)
    r = httpx.get(url)
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound"
    assert httpx.get(f"{hub.url}/api/models/{repo_id}").status_code == 404
    owner = {"Authorization": f"Bearer {accounts.alice}"}
    assert httpx.get(url, headers=owner).content == b"version 4"
    api.delete_file("a.txt", repo_id)
    r = httpx.get(url, headers=owner)
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "EntryNotFound"


def test_conditional_get_answers_304(hub: HubServer, accounts: Accounts, repo_name: str) -> None:
    api = HfApi(token=accounts.alice)
    repo_id = f"alice/{repo_name}"
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="h.txt", repo_id=repo_id)
    first = httpx.get(f"{hub.url}/{repo_id}/resolve/main/h.txt")
    etag = first.headers["ETag"]
    again = httpx.get(f"{hub.url}/{repo_id}/resolve/main/h.txt", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["X-Repo-Commit"] == first.headers["X-Repo-Commit"]
    other = httpx.get(f"{hub.url}/{repo_id}/resolve/main/h.txt", headers={"If-None-Match": '"nope"'})
    assert other.status_code == 200 and other.content == b"hello"


def test_a_write_from_another_process_is_seen_at_once(hub: HubServer, tmp_path: Path, repo_name: str) -> None:
    repo_id = f"carol/{repo_name}"
    folder = tmp_path / "m"
    folder.mkdir()
    url = f"{hub.url}/{repo_id}/resolve/main/f.txt"
    for i in range(3):
        (folder / "f.txt").write_text(f"cli {i}")
        hub.cli("import", str(folder), repo_id)  # the CLI writes the database from its own process
        assert httpx.get(url).text == f"cli {i}"
        assert httpx.get(url).text == f"cli {i}"
