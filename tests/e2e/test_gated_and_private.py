"""Private repos, gated repos and access requests, orgs and fine-grained tokens, with the stock client.

Accounts are made with the `omh` CLI (orgs, members, fine-grained tokens, passwords) and the API; every
repo call is the stock `huggingface_hub` client. Requesting access is a raw POST (the client has no call).
"""

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

from tests.conftest import Accounts
from tests.support.server import OMH, HubServer

HF_CLI = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "hf")
CARD = b"""---
license: mit
extra_gated_prompt: You agree to use this model responsibly.
extra_gated_fields:
  Company: text
  Country: country
  I agree to the terms: checkbox
---
# A gated model
"""
ANSWERS = {"Company": "Acme", "Country": "Iceland", "I agree to the terms": True}


@dataclass
class People:
    hub: HubServer
    org: str
    owner: str  # the org's admin (user name)
    member: str  # role read in the org
    outsiders: list[str]
    tokens: dict[str, str]  # user name -> write token
    admin: str

    def api(self, user: str) -> HfApi:
        return HfApi(token=self.tokens[user])


def _token(hub: HubServer, *args: str) -> str:
    return hub.cli("token", "create", *args).stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def people(hub: HubServer, accounts: Accounts) -> People:
    tag = uuid.uuid4().hex[:6]
    owner, member = f"gp{tag}-owner", f"gp{tag}-member"
    outsiders = [f"gp{tag}-out{i}" for i in range(3)]
    org = f"gp{tag}-org"
    hub.create_user(owner)
    hub.cli("org", "create", org, "--owner", owner)
    admin = httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {accounts.admin}"})
    with admin:
        for name in (member, *outsiders):  # the API path (admin-created accounts) is quicker than the CLI
            assert admin.post("/api/users", json={"username": name}).status_code == 200
        tokens = {}
        for name in (member, *outsiders):
            r = admin.post("/api/tokens", json={"user": name, "role": "write"})
            assert r.status_code == 200, r.text
            tokens[name] = r.json()["token"]
    hub.cli("org", "add-member", org, member, "--role", "read")
    tokens[owner] = _token(hub, "--user", owner, "--write")
    return People(hub, org, owner, member, outsiders, tokens, accounts.admin)


def _download(repo_id: str, filename: str, token: str | bool | None, cache: Path) -> bytes:
    return Path(hf_hub_download(repo_id, filename, token=token, cache_dir=cache)).read_bytes()


def _ask(hub: HubServer, repo_id: str, token: str, answers: dict[str, object]) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/{repo_id}/ask-access", json=answers, headers={"Authorization": f"Bearer {token}"}
    )


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "hf-cache"


def test_private_repos_with_the_stock_client(people: People, repo_name: str, cache: Path) -> None:
    owner, member, outsider = (
        people.api(people.owner),
        people.api(people.member),
        people.api(people.outsiders[0]),
    )
    repo_id = f"{people.org}/{repo_name}"
    owner.create_repo(repo_id, private=True)
    owner.upload_file(path_or_fileobj=b"weights", path_in_repo="w.bin", repo_id=repo_id)
    for client, token in ((outsider, people.tokens[people.outsiders[0]]), (HfApi(token=False), False)):
        with pytest.raises(RepositoryNotFoundError):
            client.model_info(repo_id)
        with pytest.raises(RepositoryNotFoundError):
            _download(repo_id, "w.bin", token, cache)
        with pytest.raises(RepositoryNotFoundError):
            client.list_repo_files(repo_id)
        assert client.repo_exists(repo_id) is False
        assert repo_id not in [m.id for m in client.list_models(author=people.org)]
    # an org member (role read) sees and downloads it, but cannot write to it
    assert member.model_info(repo_id).private is True
    assert _download(repo_id, "w.bin", people.tokens[people.member], cache) == b"weights"
    with pytest.raises(HfHubHTTPError, match="403"):
        member.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    owner.update_repo_settings(repo_id, private=False)
    assert outsider.model_info(repo_id).private is False
    assert repo_id in [m.id for m in outsider.list_models(author=people.org)]
    owner.update_repo_settings(repo_id, private=True)
    assert outsider.repo_exists(repo_id) is False
    with pytest.raises(HfHubHTTPError, match="403"):  # settings need admin rights in the org
        member.update_repo_settings(repo_id, private=False)
    owner.move_repo(repo_id, f"{repo_id}-moved")
    assert owner.repo_exists(repo_id) is False
    assert owner.list_repo_files(f"{repo_id}-moved") == [".gitattributes", "w.bin"]
    assert outsider.repo_exists(f"{repo_id}-moved") is False
    with pytest.raises(RepositoryNotFoundError):  # invisible to an outsider: not found, not forbidden
        outsider.delete_repo(f"{repo_id}-moved")
    with pytest.raises(HfHubHTTPError, match="403"):
        member.delete_repo(f"{repo_id}-moved")
    owner.delete_repo(f"{repo_id}-moved")
    assert owner.repo_exists(f"{repo_id}-moved") is False


def test_manual_gating_with_access_requests(people: People, repo_name: str, cache: Path) -> None:
    owner = people.api(people.owner)
    first, second, third = people.outsiders
    repo_id = f"{people.org}/{repo_name}"
    owner.create_repo(repo_id)
    owner.upload_file(path_or_fileobj=CARD, path_in_repo="README.md", repo_id=repo_id)
    owner.upload_file(path_or_fileobj=b"gated weights", path_in_repo="w.bin", repo_id=repo_id)
    owner.update_repo_settings(repo_id, gated="manual")
    reader = people.api(first)
    assert reader.model_info(repo_id).gated == "manual"  # metadata stays visible, like the Hub
    assert "w.bin" in reader.list_repo_files(repo_id)
    assert reader.repo_exists(repo_id) is True
    for token in (people.tokens[first], False):
        with pytest.raises(GatedRepoError):
            _download(repo_id, "w.bin", token, cache)
    with pytest.raises(GatedRepoError):
        reader.auth_check(repo_id)
    # a member reads it (into a cache of its own: the client answers a gated error from a cached copy)
    assert _download(repo_id, "w.bin", people.tokens[people.member], cache / "member") == b"gated weights"

    # the request, with the form's answers (bad answers are refused with a reason)
    bad = _ask(people.hub, repo_id, people.tokens[first], {"Company": "Acme"})
    assert bad.status_code == 400 and "Country" in bad.json()["error"]
    assert _ask(people.hub, repo_id, people.tokens[first], ANSWERS).json()["status"] == "pending"
    with pytest.raises(GatedRepoError, match="awaiting a review"):
        _download(repo_id, "w.bin", people.tokens[first], cache)
    with pytest.raises(HfHubHTTPError, match="403"):  # a reader cannot see the requests
        list(people.api(people.member).list_pending_access_requests(repo_id))
    (pending,) = owner.list_pending_access_requests(repo_id)
    assert pending.username == first and pending.status == "pending"
    assert pending.fields == {"Company": "Acme", "Country": "Iceland", "I agree to the terms": True}
    owner.accept_access_request(repo_id, first)
    assert _download(repo_id, "w.bin", people.tokens[first], cache) == b"gated weights"
    assert [r.username for r in owner.list_accepted_access_requests(repo_id)] == [first]
    assert list(owner.list_pending_access_requests(repo_id)) == []

    # reject, cancel back to pending, and grant without a request
    assert _ask(people.hub, repo_id, people.tokens[second], ANSWERS).status_code == 200
    owner.reject_access_request(repo_id, second, rejection_reason="Not this time")
    with pytest.raises(GatedRepoError, match="rejected"):
        _download(repo_id, "w.bin", people.tokens[second], cache / second)
    (rejected,) = owner.list_rejected_access_requests(repo_id)
    assert rejected.username == second
    owner.cancel_access_request(repo_id, request_id=rejected.request_id)
    assert [r.username for r in owner.list_pending_access_requests(repo_id)] == [second]
    with pytest.raises(HfHubHTTPError, match="404"):  # already pending
        owner.cancel_access_request(repo_id, second)
    owner.grant_access(repo_id, third)
    assert _download(repo_id, "w.bin", people.tokens[third], cache / third) == b"gated weights"
    owner.reject_access_request(repo_id, first, rejection_reason=None)  # access can be taken back
    with pytest.raises(GatedRepoError):
        _download(repo_id, "w.bin", people.tokens[first], cache / "again")


def test_automatic_approval(people: People, repo_name: str, cache: Path) -> None:
    owner = people.api(people.owner)
    repo_id = f"{people.org}/{repo_name}"
    owner.create_repo(repo_id)
    owner.upload_file(path_or_fileobj=b"auto", path_in_repo="w.bin", repo_id=repo_id)
    owner.update_repo_settings(repo_id, gated="auto")
    user = people.outsiders[1]
    with pytest.raises(GatedRepoError):
        _download(repo_id, "w.bin", people.tokens[user], cache)
    assert _ask(people.hub, repo_id, people.tokens[user], {}).json()["status"] == "accepted"
    assert _download(repo_id, "w.bin", people.tokens[user], cache) == b"auto"
    assert [r.username for r in owner.list_accepted_access_requests(repo_id)] == [user]
    assert list(owner.list_pending_access_requests(repo_id)) == []
    owner.update_repo_settings(repo_id, gated=False)
    assert _download(repo_id, "w.bin", False, cache) == b"auto"


def test_fine_grained_tokens_in_and_out_of_scope(people: People, repo_name: str, cache: Path) -> None:
    owner = people.api(people.owner)
    inside, outside = f"{people.org}/{repo_name}-in", f"{people.org}/{repo_name}-out"
    for repo_id in (inside, outside):
        owner.create_repo(repo_id, private=True)
        owner.upload_file(path_or_fileobj=repo_id.encode(), path_in_repo="id.txt", repo_id=repo_id)
    writer = _token(
        people.hub, "--user", people.owner, "--role", "fine-grained", "--scope", f"repo:model/{inside}:write"
    )
    reader = _token(
        people.hub, "--user", people.owner, "--role", "fine-grained", "--scope", f"repo:model/{inside}:read"
    )
    assert _download(inside, "id.txt", writer, cache) == inside.encode()
    HfApi(token=writer).upload_file(path_or_fileobj=b"new", path_in_repo="new.txt", repo_id=inside)
    with pytest.raises(RepositoryNotFoundError):  # out of scope: the private repo does not exist for it
        _download(outside, "id.txt", writer, cache)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=writer).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=outside)
    assert _download(inside, "new.txt", reader, cache) == b"new"
    with pytest.raises(HfHubHTTPError, match="403"):
        HfApi(token=reader).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=inside)
    with pytest.raises(HfHubHTTPError, match="403"):  # the scope is a repo, not the namespace
        HfApi(token=writer).create_repo(f"{people.org}/{repo_name}-new")
    # a token can never exceed its user: an outsider's token scoped to the org still sees nothing private
    stranger = _token(
        people.hub,
        "--user",
        people.outsiders[0],
        "--role",
        "fine-grained",
        "--scope",
        f"namespace:{people.org}:write",
    )
    with pytest.raises(RepositoryNotFoundError):
        _download(inside, "id.txt", stranger, cache)
    me = HfApi(token=writer).whoami()
    assert me["name"] == people.owner and me["auth"]["accessToken"]["role"] == "fineGrained"
    assert me["auth"]["accessToken"]["fineGrained"]["scoped"] == [
        {"entity": {"type": "model", "name": inside}, "permissions": ["repo.content.read", "repo.write"]}
    ]
    ns = HfApi(token=stranger).whoami()["auth"]["accessToken"]["fineGrained"]["scoped"]
    assert ns == [
        {"entity": {"type": "org", "name": people.org}, "permissions": ["repo.content.read", "repo.write"]}
    ]


def test_whoami_reports_orgs_and_token_role(people: People) -> None:
    me = people.api(people.member).whoami()
    assert me["name"] == people.member
    assert [(o["name"], o["roleInOrg"]) for o in me["orgs"]] == [(people.org, "read")]
    assert me["auth"]["accessToken"]["role"] == "write"
    owner = people.api(people.owner).whoami()
    assert [(o["name"], o["roleInOrg"], o["type"]) for o in owner["orgs"]] == [(people.org, "admin", "org")]
    assert people.api(people.outsiders[2]).whoami()["orgs"] == []
    out = subprocess.run(
        [HF_CLI, "auth", "whoami", "--format", "json"],
        capture_output=True,
        text=True,
        env={**people.hub.env, "HF_TOKEN": people.tokens[people.member]},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"user": people.member, "orgs": people.org, "endpoint": people.hub.url}


def test_token_cli_list_and_revoke(people: People) -> None:
    token = _token(people.hub, "--user", people.outsiders[2], "--role", "read", "--name", "laptop")
    access = HfApi(token=token).whoami()["auth"]["accessToken"]
    assert (access["displayName"], access["role"]) == ("laptop", "read")
    listed = people.hub.cli("token", "list", "--user", people.outsiders[2]).stdout
    line = next(line for line in listed.splitlines() if "\tlaptop\t" in line)
    assert "\tread\t" in line and "never used" not in line  # last-used time recorded
    people.hub.cli("token", "revoke", "laptop", "--user", people.outsiders[2])
    with pytest.raises(HfHubHTTPError, match="Invalid user token"):
        HfApi(token=token).whoami()
    assert "\tlaptop\t" not in people.hub.cli("token", "list", "--user", people.outsiders[2]).stdout


def test_user_with_password_gets_tokens_through_the_api(people: People) -> None:
    name = f"{people.org}-pw"
    created = subprocess.run(
        [*OMH, "user", "create", name, "--password-stdin", "--data-dir", str(people.hub.data_dir)],
        input="a long enough password\n",
        capture_output=True,
        text=True,
        env=people.hub.env,
        timeout=300,
    )
    assert created.returncode == 0, created.stderr
    url = f"{people.hub.url}/api/tokens"
    wrong = httpx.post(url, json={"username": name, "password": "not the password", "role": "write"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "Invalid username or password"
    r = httpx.post(
        url,
        json={"username": name, "password": "a long enough password", "role": "write", "displayName": "ui"},
    )
    assert r.status_code == 200, r.text
    made = r.json()
    assert made["token"].startswith("omh_") and made["role"] == "write"
    assert HfApi(token=made["token"]).whoami()["name"] == name
    listed = httpx.get(url, headers={"Authorization": f"Bearer {made['token']}"}).json()
    assert [t["displayName"] for t in listed] == ["ui"] and "token" not in listed[0]  # shown once only
    revoke = httpx.delete(f"{url}/{made['id']}", headers={"Authorization": f"Bearer {made['token']}"})
    assert revoke.status_code == 200
    with pytest.raises(HfHubHTTPError, match="Invalid user token"):
        HfApi(token=made["token"]).whoami()
