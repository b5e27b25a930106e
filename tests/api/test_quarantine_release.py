"""Who may release a quarantined file: repo admins, as `repo_access` decides (services/auth.py).

The repo's owner and the admins of its organization (with a write token), and hub admins; not the org's
writers or readers, not outsiders, not read tokens. The same rule holds for `omh release --by USER`.
"""

import pickle
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Accounts
from tests.support.rawhub import NDJSON, file_line, header_line, ndjson
from tests.support.server import HubServer


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo released",))


EVIL = pickle.dumps({"w": [1.0], "x": _Payload()}, protocol=4)


@dataclass
class Org:
    hub: HubServer
    name: str
    users: dict[str, str]
    tokens: dict[str, str]

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.hub.url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=60
        )


def _ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


@pytest.fixture(scope="module")
def org(hub: HubServer, accounts: Accounts) -> Iterator[Org]:
    tag = uuid.uuid4().hex[:6]
    users = {role: f"qr{tag}-{role}" for role in ("admin", "writer", "reader", "outsider")}
    with httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {accounts.admin}"}) as root:
        for name in users.values():
            _ok(root.post("/api/users", json={"username": name, "password": "release-password"}))
        name = f"qr{tag}-org"
        _ok(root.post("/api/organizations/create", json={"name": name, "owner": users["admin"]}))
        tokens = {
            role: _ok(root.post("/api/tokens", json={"user": user, "role": "write"}))["token"]
            for role, user in users.items()
        }
        tokens["admin-read"] = _ok(root.post("/api/tokens", json={"user": users["admin"], "role": "read"}))[
            "token"
        ]
    tokens["site-admin"] = accounts.admin
    o = Org(hub, name, users, tokens)
    with o.client("admin") as c:
        for user, role in ((users["writer"], "write"), (users["reader"], "read")):
            _ok(c.put(f"/api/organizations/{name}/members/{user}", json={"role": role}))
    yield o


def _quarantined_repo(org: Org, private: bool) -> str:
    name = f"q-{uuid.uuid4().hex[:8]}"
    with org.client("admin") as c:
        body: dict[str, Any] = {"name": name, "organization": org.name}
        if private:
            body["visibility"] = "private"
        _ok(c.post("/api/repos/create", json=body))
        commit = ndjson([header_line("add a model"), file_line("model.pkl", EVIL)])
        _ok(
            c.post(
                f"/api/models/{org.name}/{name}/commit/main", content=commit, headers={"Content-Type": NDJSON}
            )
        )
        r = c.get(f"/{org.name}/{name}/resolve/main/model.pkl")
        assert r.status_code == 403 and r.headers["X-Error-Code"] == "FileQuarantined"
    return f"{org.name}/{name}"


def _release(org: Org, who: str, repo_id: str) -> httpx.Response:
    with org.client(who) as c:
        return c.post(f"/api/models/{repo_id}/security/release", json={"path": "model.pkl", "reason": who})


def _served(org: Org, repo_id: str) -> int:
    """The status of a download of the file, following the hub's redirect to its object store (S3)."""
    with org.client("admin") as c:
        return c.get(f"/{repo_id}/resolve/main/model.pkl", follow_redirects=True).status_code


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
@pytest.mark.parametrize("who", ["admin", "site-admin"])
def test_org_admins_and_hub_admins_release(org: Org, who: str, private: bool) -> None:
    repo_id = _quarantined_repo(org, private)
    r = _release(org, who, repo_id)
    assert r.status_code == 200, r.text
    assert _served(org, repo_id) == 200


@pytest.mark.parametrize(
    ("who", "public", "private"),
    [
        ("writer", 403, 403),  # writes to the org's repos, but is no admin of them
        ("reader", 403, 403),
        ("admin-read", 403, 403),  # the org's admin, through a read-only token
        ("outsider", 403, 404),  # a private repo they cannot read does not exist for them
    ],
)
def test_others_cannot_release(org: Org, who: str, public: int, private: int) -> None:
    for is_private, status in ((False, public), (True, private)):
        repo_id = _quarantined_repo(org, is_private)
        r = _release(org, who, repo_id)
        assert r.status_code == status, (who, is_private, r.text)
        assert r.headers["X-Error-Code"] == ("RepoNotFound" if status == 404 else "Forbidden")
        assert _served(org, repo_id) == 403  # still quarantined


def test_cli_release_follows_the_same_rule(org: Org) -> None:
    repo_id = _quarantined_repo(org, private=True)
    refused = org.hub.cli("release", repo_id, "model.pkl", "--by", org.users["writer"], check=False)
    assert refused.returncode == 1 and "repo admin" in refused.stderr, refused.stderr
    assert _served(org, repo_id) == 403
    org.hub.cli("release", repo_id, "model.pkl", "--by", org.users["admin"], "--reason", "reviewed")
    assert _served(org, repo_id) == 200
