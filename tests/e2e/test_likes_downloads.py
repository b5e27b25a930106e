"""Likes and download counts with the stock client: counted as documented, in info and listings, sortable.

The client has no `like` call (the Hub refuses likes from scripts), so liking is a raw POST; `unlike`,
`list_liked_repos` and `list_repo_likers` are the client's own.
"""

import time
import uuid
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import RepositoryNotFoundError

from tests.conftest import Accounts
from tests.support.server import HubServer


def _like(hub: HubServer, token: str | None, repo_id: str, method: str = "POST") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{hub.url}/api/models/{repo_id}/like", headers=headers, timeout=30)


def test_likes(hub: HubServer, accounts: Accounts, repo_name: str) -> None:
    alice, bob = HfApi(token=accounts.alice), HfApi(token=accounts.bob)
    liked, other = f"alice/{repo_name}-liked", f"alice/{repo_name}-other"
    for repo_id in (liked, other):
        alice.create_repo(repo_id)

    for token in (accounts.bob, accounts.bob, accounts.alice):  # liking twice changes nothing
        r = _like(hub, token, liked)
        assert r.status_code == 200, r.text
    assert alice.model_info(liked).likes == 2
    assert sorted(u.username for u in alice.list_repo_likers(liked)) == ["alice", "bob"]
    assert liked in bob.list_liked_repos("bob").models
    assert liked in HfApi(token=False).list_liked_repos("bob").models  # public, like on the Hub

    # the listing shows likes and sorts on them (most liked first)
    listed = [m for m in alice.list_models(author="alice", sort="likes") if m.id in (liked, other)]
    assert [(m.id, m.likes) for m in listed] == [(liked, 2), (other, 0)]

    bob.unlike(liked)
    bob.unlike(liked)  # idempotent
    assert alice.model_info(liked).likes == 1
    assert liked not in bob.list_liked_repos("bob").models
    assert [u.username for u in alice.list_repo_likers(liked)] == ["alice"]

    # who may like
    assert _like(hub, None, liked).status_code == 401
    read_only = _like(hub, accounts.alice_read, liked)
    assert read_only.status_code == 403 and read_only.headers["X-Error-Code"] == "Forbidden"
    assert _like(hub, accounts.bob, f"alice/{repo_name}-missing").headers["X-Error-Code"] == "RepoNotFound"

    # a private repo: its owner may like it, nobody else sees it or the like
    private = f"alice/{repo_name}-private"
    alice.create_repo(private, private=True)
    assert _like(hub, accounts.alice, private).status_code == 200
    denied = _like(hub, accounts.bob, private)
    assert (denied.status_code, denied.headers["X-Error-Code"]) == (404, "RepoNotFound")
    assert private in alice.list_liked_repos("alice").models
    assert private not in bob.list_liked_repos("alice").models
    with pytest.raises(RepositoryNotFoundError):
        list(bob.list_repo_likers(private))
    assert httpx.get(f"{hub.url}/api/users/nobody-{uuid.uuid4().hex[:6]}/likes").status_code == 404


def _downloads(api: HfApi, repo_id: str, repo_type: str = "model") -> int:
    value = api.repo_info(repo_id, repo_type=repo_type).downloads
    assert value is not None
    return value


def test_download_counts(fresh_hub: HubServer, tmp_path: Path) -> None:
    hub = fresh_hub.start()
    hub.create_user("dora")
    api = HfApi(endpoint=hub.url, token=hub.create_token("dora"))
    model, quiet, dataset = "dora/model", "dora/quiet", "dora/data"
    for repo_id in (model, quiet):
        api.create_repo(repo_id)
        api.create_commit(
            repo_id,
            [
                CommitOperationAdd("config.json", b'{"model_type": "bert"}'),
                CommitOperationAdd("model.safetensors", b"\0" * 64),
            ],
            commit_message="files",
        )
    api.create_repo(dataset, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=b"# data\n", path_in_repo="README.md", repo_id=dataset, repo_type="dataset"
    )
    url = f"{hub.url}/{model}/resolve/main/config.json"

    # counted: one GET of config.json per download, however the client asks for it
    hf_hub_download(model, "config.json", cache_dir=tmp_path / "c1", endpoint=hub.url)  # HEAD + GET: 1
    hf_hub_download(model, "config.json", cache_dir=tmp_path / "c1", endpoint=hub.url)  # cached, HEAD: 0
    snapshot_download(model, cache_dir=tmp_path / "c2", endpoint=hub.url)  # every file: 1
    assert httpx.get(url, headers={"Range": "bytes=0-3"}).status_code == 206  # a download starting: 1
    # not counted: HEAD, a Range continuing a download, a 304, other files
    assert httpx.head(url).status_code == 200
    assert httpx.get(url, headers={"Range": "bytes=4-"}).status_code == 206
    etag = httpx.head(url).headers["ETag"]
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(f"{hub.url}/{model}/resolve/main/model.safetensors").status_code == 200
    # datasets count their README.md
    hf_hub_download(dataset, "README.md", repo_type="dataset", cache_dir=tmp_path / "c3", endpoint=hub.url)

    # counts are written in batches by the server, within seconds
    deadline = time.monotonic() + 60
    while (_downloads(api, model), _downloads(api, dataset, "dataset")) != (3, 1):
        assert time.monotonic() < deadline, "download counts were never written"
        time.sleep(0.5)
    # a restart writes what is pending and loses nothing: still exactly 3 and 1
    hf_hub_download(model, "config.json", cache_dir=tmp_path / "c4", endpoint=hub.url)  # 4
    hub.stop()
    hub.start()
    assert (_downloads(api, model), _downloads(api, quiet), _downloads(api, dataset, "dataset")) == (4, 0, 1)
    listed = [(m.id, m.downloads) for m in api.list_models(sort="downloads") if m.id in (model, quiet)]
    assert listed == [(model, 4), (quiet, 0)]
