"""Repo administration and identity endpoints, driven with the stock client and raw HTTP."""

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from tests.conftest import Accounts
from tests.support.server import HubServer


def test_whoami_reports_user_token_role_and_orgs(hub: HubServer, accounts: Accounts) -> None:
    me = HfApi(token=accounts.alice_read).whoami()
    assert me["name"] == "alice"
    assert me["orgs"] == []
    assert me["auth"]["accessToken"]["role"] == "read"
    assert me["auth"]["accessToken"]["createdAt"].endswith("Z")
    r = httpx.get(f"{hub.url}/api/whoami-v2")
    assert r.status_code == 401
    assert r.headers["X-Error-Code"] == "Unauthorized"


def test_validate_yaml_rejects_bad_card_metadata(hub: HubServer, accounts: Accounts, repo_name: str) -> None:
    api = HfApi(token=accounts.alice)
    repo_id = f"alice/{repo_name}"
    api.create_repo(repo_id)
    with pytest.raises(ValueError, match=r"Invalid metadata in README\.md"):
        api.upload_file(
            path_or_fileobj=b"---\nlicense: [unclosed\n---\n# x\n", path_in_repo="README.md", repo_id=repo_id
        )
    with pytest.raises(ValueError, match="must be a string"):
        api.upload_file(
            path_or_fileobj=b"---\nlicense: {a: 1}\n---\n", path_in_repo="README.md", repo_id=repo_id
        )
    assert [f for f in api.list_repo_files(repo_id) if f == "README.md"] == []
    api.upload_file(
        path_or_fileobj=b"---\nlicense: mit\ntags: [t1]\n---\n# ok\n",
        path_in_repo="README.md",
        repo_id=repo_id,
    )
    info = api.model_info(repo_id)
    assert info.card_data is not None and info.card_data["license"] == "mit"
    assert "t1" in (info.tags or []) and "license:mit" in (info.tags or [])
    r = httpx.post(f"{hub.url}/api/validate-yaml", json={"content": "---\n: : :\n---\n", "repoType": "model"})
    assert r.status_code == 400
    assert r.headers["X-Error-Code"] == "InvalidCardMetadata"
    assert r.json()["errors"][0]["message"]


def test_create_existing_repo_answers_409_with_url(
    hub: HubServer, accounts: Accounts, repo_name: str
) -> None:
    api = HfApi(token=accounts.alice)
    url = api.create_repo(f"alice/{repo_name}")
    assert api.create_repo(f"alice/{repo_name}", exist_ok=True) == url
    r = httpx.post(
        f"{hub.url}/api/repos/create",
        json={"name": repo_name, "organization": "alice"},
        headers={"Authorization": f"Bearer {accounts.alice}"},
    )
    assert r.status_code == 409
    assert r.json()["url"] == f"{hub.url}/alice/{repo_name}"
    assert r.headers["X-Error-Code"] == "RepoExists"


def test_private_repo_is_invisible_to_others(hub: HubServer, accounts: Accounts, repo_name: str) -> None:
    alice, bob = HfApi(token=accounts.alice), HfApi(token=accounts.bob)
    repo_id = f"alice/{repo_name}"
    alice.create_repo(repo_id, private=True)
    alice.upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id=repo_id)
    assert alice.model_info(repo_id).private is True
    for client in (bob, HfApi(token=False)):
        with pytest.raises(RepositoryNotFoundError):
            client.model_info(repo_id)
        assert client.repo_exists(repo_id) is False
        assert repo_id not in [m.id for m in client.list_models(search=repo_name)]
    r = httpx.get(f"{hub.url}/{repo_id}/resolve/main/s.txt")
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound"
    assert HfApi(token=accounts.admin).model_info(repo_id).id == repo_id
    alice.update_repo_settings(repo_id, private=False)
    assert bob.model_info(repo_id).private is False


def test_move_and_delete_repo(hub: HubServer, accounts: Accounts, repo_name: str) -> None:
    api = HfApi(token=accounts.alice)
    api.create_repo(f"alice/{repo_name}")
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=f"alice/{repo_name}")
    api.move_repo(f"alice/{repo_name}", f"alice/{repo_name}-moved")
    assert api.repo_exists(f"alice/{repo_name}") is False
    assert "x.txt" in api.list_repo_files(f"alice/{repo_name}-moved")
    with pytest.raises(Exception, match="403"):
        HfApi(token=accounts.bob).delete_repo(f"alice/{repo_name}-moved")
    api.delete_repo(f"alice/{repo_name}-moved")
    assert api.repo_exists(f"alice/{repo_name}-moved") is False
    api.delete_repo(f"alice/{repo_name}-moved", missing_ok=True)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(f"alice/{repo_name}-moved")


def test_agent_harnesses_side_call(hub: HubServer) -> None:
    r = httpx.get(f"{hub.url}/api/agent-harnesses")
    assert r.status_code == 200
    assert r.json() == {"standardEnvVars": [], "harnesses": {}}


def test_listing_paginates_with_absolute_links(hub: HubServer, accounts: Accounts, repo_name: str) -> None:
    api = HfApi(token=accounts.bob)
    for i in range(3):
        api.create_repo(f"bob/{repo_name}-{i}")
    r = httpx.get(f"{hub.url}/api/models", params={"author": "bob", "search": repo_name, "limit": 2})
    assert r.status_code == 200 and len(r.json()) == 2
    link = r.headers["Link"]
    assert link.startswith(f"<{hub.url}/api/models?") and 'rel="next"' in link
    nxt = httpx.get(link[1 : link.index(">")])
    assert [m["id"] for m in r.json()] == [f"bob/{repo_name}-0", f"bob/{repo_name}-1"]
    assert [m["id"] for m in nxt.json()] == [f"bob/{repo_name}-2"]
    assert "Link" not in nxt.headers
    ids = [m.id for m in api.list_models(author="bob", search=repo_name)]
    assert sorted(ids) == [f"bob/{repo_name}-{i}" for i in range(3)]
