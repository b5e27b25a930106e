"""The authorization matrix: every API route x every kind of caller x public / private / gated repos.

The expected status of each cell comes from two tables below: what each caller may do with each kind of
repo (LEVEL, GATE_OPEN) and what each route needs (ROUTES). Then the leak checks: nothing an outsider gets
back reveals a private repo (names, counts, commits, sizes, error messages).
"""

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route as StarletteRoute

from tests.conftest import Accounts
from tests.support.rawhub import NDJSON, file_line, header_line, ndjson
from tests.support.server import HubServer

N, R, W, A = 0, 1, 2, 3  # no access (private: must look missing), read, write, admin
CONTENT = 4  # read, and the files of a gated repo
AUTH_READ = 5  # read, as an authenticated user (requesting access)
CONTRIB = 6  # read, through a token that may write to the repo (discussions, likes: services/discussions.py)

KINDS = ("pub", "priv", "gated")
PRINCIPALS = (
    "anonymous",
    "read-token",
    "write-token",
    "fine-grained-in",
    "fine-grained-out",
    "org-member",
    "org-writer",
    "non-member",
    "admin",
)
# What each caller may do with the org's public, private and gated repo. The org's admin owns the read and
# write tokens; "org-member" has role read, "org-writer" role write (its fine-grained tokens are scoped to
# the three repos, "in", or to another repo, "out").
LEVEL = {
    "anonymous": (R, N, R),
    "read-token": (R, R, R),
    "write-token": (A, A, A),
    "fine-grained-in": (W, W, W),
    "fine-grained-out": (R, N, R),
    "org-member": (R, R, R),
    "org-writer": (W, W, W),
    "non-member": (R, N, R),
    "admin": (A, A, A),
}
# Who reads the files of the gated repo without an access request of their own (their rights open it).
GATE_OPEN = {
    p: LEVEL[p][2] >= R and p not in ("anonymous", "fine-grained-out", "non-member") for p in PRINCIPALS
}
CLASSIC_WRITE = {"write-token", "org-member", "org-writer", "non-member", "admin"}  # write tokens


@dataclass
class World:
    hub: HubServer
    org: str
    users: dict[str, str]  # role in the world -> user name
    tokens: dict[str, str | None]
    owner: str  # the org admin's write token
    admin: str
    file_sha: str
    file_size: int
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=lambda: iter(range(1_000_000)))

    def rid(self, kind: str) -> str:
        return f"{self.org}/{kind}"

    def drid(self, kind: str) -> str:
        """The org's dataset of this kind (no fine-grained token of the world is scoped to datasets)."""
        return f"{self.org}/d{kind}"

    def client(self, who: str) -> httpx.Client:
        if who not in self.clients:
            token = self.tokens[who]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            self.clients[who] = httpx.Client(base_url=self.hub.url, headers=headers, timeout=60)
        return self.clients[who]

    def as_owner(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.client("write-token").request(method, url, **kwargs)

    def unique(self) -> int:
        return next(self.counter)


def _ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.content else None


def _commit(
    client: httpx.Client, repo_id: str, path: str, data: bytes, plural: str = "models"
) -> httpx.Response:
    body = ndjson([header_line(f"add {path}"), file_line(path, data)])
    return client.post(f"/api/{plural}/{repo_id}/commit/main", content=body, headers={"Content-Type": NDJSON})


@pytest.fixture(scope="module")
def world(hub: HubServer, accounts: Accounts) -> Iterator[World]:
    tag = uuid.uuid4().hex[:6]
    admin = httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {accounts.admin}"}, timeout=60)
    users = {r: f"mx{tag}-{r}" for r in ("owner", "member", "writer", "outsider", "requester", "extra")}
    for name in users.values():
        _ok(admin.post("/api/users", json={"username": name, "password": "matrix-password"}))
    org = f"mx{tag}-org"
    _ok(admin.post("/api/organizations/create", json={"name": org, "owner": users["owner"]}))

    def token(user: str, role: str, scopes: list[str] | None = None) -> str:
        body: dict[str, Any] = {"user": user, "role": role, "displayName": f"{role}-{user}"}
        if scopes:
            body["scopes"] = scopes
        secret = _ok(admin.post("/api/tokens", json=body))["token"]
        assert isinstance(secret, str)
        return secret

    owner = token(users["owner"], "write")
    owner_client = httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {owner}"}, timeout=60)
    for role, user in (("read", users["member"]), ("write", users["writer"])):
        _ok(owner_client.put(f"/api/organizations/{org}/members/{user}", json={"role": role}))
    tokens: dict[str, str | None] = {
        "anonymous": None,
        "read-token": token(users["owner"], "read"),
        "write-token": owner,
        "fine-grained-in": token(
            users["writer"], "fineGrained", [f"repo:model/{org}/{k}:write" for k in KINDS]
        ),
        "fine-grained-out": token(users["writer"], "fineGrained", [f"repo:model/{org}/elsewhere:write"]),
        "org-member": token(users["member"], "write"),
        "org-writer": token(users["writer"], "write"),
        "non-member": token(users["outsider"], "write"),
        "admin": accounts.admin,
    }
    data = b"matrix file\n"
    for kind in KINDS:
        body: dict[str, Any] = {"name": kind, "organization": org}
        if kind == "priv":
            body["visibility"] = "private"
        _ok(owner_client.post("/api/repos/create", json=body))
        _ok(_commit(owner_client, f"{org}/{kind}", "w.txt", data))
        _ok(_commit(owner_client, f"{org}/{kind}", "d/f.txt", data))
    _ok(owner_client.put(f"/api/models/{org}/gated/settings", json={"gated": "manual"}))
    for kind in KINDS:  # discussion #1 of each repo, opened by its owner
        _ok(owner_client.post(f"/api/models/{org}/{kind}/discussions", json={"title": "first"}))
        body = {"name": f"d{kind}", "organization": org, "type": "dataset"}
        if kind == "priv":
            body["visibility"] = "private"
        _ok(owner_client.post("/api/repos/create", json=body))
        _ok(_commit(owner_client, f"{org}/d{kind}", "w.txt", data, "datasets"))
    _ok(owner_client.put(f"/api/datasets/{org}/dgated/settings", json={"gated": "manual"}))
    requester = token(users["requester"], "read")
    _ok(
        httpx.post(
            f"{hub.url}/api/models/{org}/gated/ask-access",
            json={},
            headers={"Authorization": f"Bearer {requester}"},
        )
    )
    w = World(hub, org, users, tokens, owner, accounts.admin, hashlib.sha256(data).hexdigest(), len(data))
    yield w
    for c in (*w.clients.values(), admin, owner_client):
        c.close()


# -- the routes ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    method: str
    url: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] | None = None
    data: dict[str, str] | None = None


@dataclass(frozen=True)
class Route:
    """A route, what it needs, and what it answers when allowed (`ok`: per repo kind, or one status)."""

    name: str
    need: int
    call: Callable[[World, str, str], Call]  # (world, repo kind, principal) -> the request
    ok: int | dict[str, int] = 200
    setup: Callable[[World, str, str], None] | None = None
    only: frozenset[str] | None = None  # when allowed, only these callers succeed (others: 403)
    fresh: bool = False  # acts on a repo made for the call: outside the "in" fine-grained token's scopes


def _api(kind_path: str) -> Callable[[World, str, str], Call]:
    def build(w: World, kind: str, who: str) -> Call:
        return Call("GET", f"/api/models/{w.rid(kind)}{kind_path}")

    return build


def _req(method: str, path: str, **extra: Any) -> Callable[[World, str, str], Call]:
    """`path` is formatted with rid, who and n (a fresh number per call)."""

    def build(w: World, kind: str, who: str) -> Call:
        n = w.unique()
        fmt = {"rid": w.rid(kind), "who": who, "n": n, "kind": kind, "org": w.org}
        args = {k: (v(w, kind, who, n) if callable(v) else v) for k, v in extra.items()}
        return Call(method, path.format(**fmt), **args)

    return build


def _lfs(operation: str) -> Callable[[World, str, str], Call]:
    def build(w: World, kind: str, who: str) -> Call:
        body = {"operation": operation, "transfers": ["basic"], "objects": [{"oid": w.file_sha, "size": 12}]}
        return Call("POST", f"/{w.rid(kind)}.git/info/lfs/objects/batch", json=body)

    return build


def _create_branch(prefix: str) -> Callable[[World, str, str], None]:
    def setup(w: World, kind: str, who: str) -> None:
        w.as_owner("POST", f"/api/models/{w.rid(kind)}/branch/{prefix}-{who}")

    return setup


def _create_tag(w: World, kind: str, who: str) -> None:
    w.as_owner("POST", f"/api/models/{w.rid(kind)}/tag/main", json={"tag": f"dt-{who}"})


def _reset_request(w: World, kind: str, who: str) -> None:
    # The requester's request goes back to pending (404 when it already is: fine).
    if kind == "gated":
        w.as_owner(
            "POST",
            f"/api/models/{w.rid(kind)}/user-access-request/handle",
            json={"user": w.users["requester"], "status": "pending"},
        )


def _fresh_repo(prefix: str) -> Callable[[World, str, str], None]:
    def setup(w: World, kind: str, who: str) -> None:
        body: dict[str, Any] = {"name": f"{prefix}-{kind}-{who}", "organization": w.org}
        if kind == "priv":
            body["visibility"] = "private"
        _ok(w.as_owner("POST", "/api/repos/create", json=body))
        if kind == "gated":
            _ok(
                w.as_owner(
                    "PUT", f"/api/models/{w.org}/{prefix}-{kind}-{who}/settings", json={"gated": "auto"}
                )
            )

    return setup


GATED_ONLY = {"pub": 400, "priv": 400, "gated": 200}  # access-request calls on repos that are not gated: 400

ROUTES = [
    Route("info", R, _api("")),
    Route("info-revision", R, _api("/revision/main")),
    Route("tree", R, _api("/tree/main")),
    Route("tree-path", R, _api("/tree/main/d")),
    Route(
        "paths-info",
        R,
        _req(
            "POST",
            "/api/models/{rid}/paths-info/main",
            data={"paths": "w.txt"},
        ),
    ),
    Route("refs", R, _api("/refs")),
    Route("commits", R, _api("/commits/main")),
    Route("lineage", R, _api("/lineage")),
    Route("openness", R, _api("/openness")),
    Route("discussions-list", R, _api("/discussions")),
    Route(
        "discussions-create",
        CONTRIB,
        _req("POST", "/api/models/{rid}/discussions", json=lambda w, k, who, n: {"title": f"discussion {n}"}),
    ),
    Route("discussion-details", R, _api("/discussions/1")),
    Route(
        "discussion-comment",
        CONTRIB,
        _req(
            "POST",
            "/api/models/{rid}/discussions/1/comment",
            json=lambda w, k, who, n: {"comment": f"comment {n}"},
        ),
    ),
    # Renaming: the discussion's author (the owner) or the repo's writers, through a token that may write.
    Route(
        "discussion-title",
        W,
        _req(
            "POST", "/api/models/{rid}/discussions/1/title", json=lambda w, k, who, n: {"title": f"title {n}"}
        ),
    ),
    Route("like", CONTRIB, _req("POST", "/api/models/{rid}/like")),
    Route("unlike", CONTRIB, _req("DELETE", "/api/models/{rid}/like")),
    Route("likers", R, _api("/likers")),
    Route("storage", R, _api("/storage")),
    Route("xet-read-token", CONTENT, _api("/xet-read-token/main")),
    Route("xet-write-token", W, _api("/xet-write-token/main")),
    Route("auth-check", CONTENT, _api("/auth-check")),
    Route("auth-check-write", W, _api("/auth-check/write")),
    Route("branch-create", W, _req("POST", "/api/models/{rid}/branch/b-{who}-{n}")),
    Route("branch-delete", W, _req("DELETE", "/api/models/{rid}/branch/d-{who}"), setup=_create_branch("d")),
    Route(
        "tag-create",
        W,
        _req("POST", "/api/models/{rid}/tag/main", json=lambda w, k, who, n: {"tag": f"t{n}"}),
    ),
    Route("tag-delete", W, _req("DELETE", "/api/models/{rid}/tag/dt-{who}"), setup=_create_tag),
    Route(
        "settings",
        A,
        _req(
            "PUT",
            "/api/models/{rid}/settings",
            json=lambda w, k, who, n: {"gated": "manual" if k == "gated" else False},
        ),
    ),
    Route(
        "preupload",
        W,
        _req(
            "POST",
            "/api/models/{rid}/preupload/main",
            json={"files": [{"path": "p.txt", "size": 1, "sample": "eA=="}]},
        ),
    ),
    Route(
        "commit",
        W,
        _req(
            "POST",
            "/api/models/{rid}/commit/main",
            content=lambda w, k, who, n: ndjson([header_line("m"), file_line(f"c{n}.txt", b"x")]),
            headers={"Content-Type": NDJSON},
        ),
    ),
    # Repo admins (`repo_access` ADMIN): the org's admin with a write token, hub admins; not org writers.
    Route("security-release", A, _req("POST", "/api/models/{rid}/security/release", json={"path": "w.txt"})),
    Route("access-requests-list", W, _api("/user-access-request/pending"), ok=GATED_ONLY),
    Route(
        "access-requests-handle",
        W,
        _req(
            "POST",
            "/api/models/{rid}/user-access-request/handle",
            json=lambda w, k, who, n: {"user": w.users["requester"], "status": "accepted"},
        ),
        ok=GATED_ONLY,
        setup=_reset_request,
    ),
    Route(
        "access-requests-grant",
        W,
        _req(
            "POST",
            "/api/models/{rid}/user-access-request/grant",
            json=lambda w, k, who, n: {"user": w.users["requester"]},
        ),
        ok=GATED_ONLY,
        setup=_reset_request,
    ),
    Route("ask-access-form", R, _api("/ask-access")),
    Route("ask-access", AUTH_READ, _req("POST", "/api/models/{rid}/ask-access", json={}), ok=GATED_ONLY),
    Route("ask-access-web", AUTH_READ, _req("POST", "/{rid}/ask-access", json={}), ok=GATED_ONLY),
    Route("resolve-get", CONTENT, _req("GET", "/{rid}/resolve/main/w.txt")),
    Route("resolve-head", CONTENT, _req("HEAD", "/{rid}/resolve/main/w.txt")),
    Route("lfs-batch-download", CONTENT, _lfs("download")),
    Route("lfs-batch-upload", W, _lfs("upload")),
    Route(
        "lfs-verify",
        W,
        lambda w, k, who: Call(
            "POST", f"/{w.rid(k)}.git/info/lfs/verify", json={"oid": w.file_sha, "size": w.file_size}
        ),
    ),
    Route(
        "repo-delete",
        A,
        _req(
            "DELETE",
            "/api/repos/delete",
            json=lambda w, k, who, n: {"name": f"del-{k}-{who}", "organization": w.org},
        ),
        setup=_fresh_repo("del"),
        fresh=True,
    ),
    Route(
        "repo-move",
        A,
        _req(
            "POST",
            "/api/repos/move",
            json=lambda w, k, who, n: {
                "fromRepo": f"{w.org}/mv-{k}-{who}",
                "toRepo": f"{w.org}/moved-{k}-{who}",
                "type": "model",
            },
        ),
        setup=_fresh_repo("mv"),
        fresh=True,
    ),
]


def _dataset(method: str, path: str, **extra: Any) -> Callable[[World, str, str], Call]:
    """`path` is formatted with drid, the org's dataset of the kind."""

    def build(w: World, kind: str, who: str) -> Call:
        return Call(method, path.format(drid=w.drid(kind)), **extra)

    return build


# The same rules for datasets (their own URL prefixes); no fine-grained token of the world covers them.
DATASET_ROUTES = [
    Route("dataset-info", R, _dataset("GET", "/api/datasets/{drid}"), fresh=True),
    Route("dataset-tree", R, _dataset("GET", "/api/datasets/{drid}/tree/main"), fresh=True),
    Route("dataset-resolve", CONTENT, _dataset("GET", "/datasets/{drid}/resolve/main/w.txt"), fresh=True),
    Route(
        "dataset-ask-access",
        AUTH_READ,
        _dataset("POST", "/api/datasets/{drid}/ask-access", json={}),
        ok=GATED_ONLY,
        fresh=True,
    ),
    Route(
        "dataset-ask-access-web",
        AUTH_READ,
        _dataset("POST", "/datasets/{drid}/ask-access", json={}),
        ok=GATED_ONLY,
        fresh=True,
    ),
    Route(
        "dataset-settings",
        A,
        lambda w, k, who: Call(
            "PUT", f"/api/datasets/{w.drid(k)}/settings", json={"gated": "manual" if k == "gated" else False}
        ),
        fresh=True,
    ),
]


def expected(route: Route, who: str, kind: str) -> int:
    if route.fresh and who == "fine-grained-in":
        who = "fine-grained-out"
    level = LEVEL[who][KINDS.index(kind)]
    ok = route.ok[kind] if isinstance(route.ok, dict) else route.ok
    denied = 401 if who == "anonymous" else 403
    if route.need == AUTH_READ:
        return 401 if who == "anonymous" else (404 if level == N else ok)
    if level == N:
        return 404
    if route.need == CONTRIB:  # the caller's token must be able to write to the repo, not the caller
        return ok if who not in ("anonymous", "read-token", "fine-grained-out") else denied
    if route.need == CONTENT:
        return ok if kind != "gated" or GATE_OPEN[who] else denied
    if level < route.need:
        return denied
    if route.only is not None and who not in route.only:
        return 403
    return ok


def run(w: World, route: Route, who: str, kind: str) -> httpx.Response:
    if route.setup is not None:
        route.setup(w, kind, who)
    c = route.call(w, kind, who)
    return w.client(who).request(
        c.method, c.url, json=c.json, content=c.content, headers=c.headers, data=c.data
    )


@pytest.mark.parametrize("route", ROUTES + DATASET_ROUTES, ids=lambda r: r.name)
def test_repo_route_matrix(world: World, route: Route) -> None:
    wrong = []
    for who in PRINCIPALS:
        for kind in KINDS:
            r = run(world, route, who, kind)
            want = expected(route, who, kind)
            if r.status_code != want:
                wrong.append(f"{who:>17} x {kind:<5}: {r.status_code} (expected {want}) {r.text[:160]}")
            elif want == 404:
                assert r.headers["X-Error-Code"] == "RepoNotFound", (who, kind, r.headers)
            elif want in (401, 403) and route.need == CONTENT and r.request.method != "HEAD":
                assert r.headers["X-Error-Code"] == "GatedRepo", (who, kind, r.text)
    assert not wrong, f"{route.name}:\n" + "\n".join(wrong)


# -- routes outside a repo -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopRoute:
    name: str
    call: Callable[[World, str], Call]
    allowed: frozenset[str]  # callers answered `ok`; anonymous gets 401 (or `anonymous`), the others 403
    ok: int = 200
    anonymous: int = 401
    setup: Callable[[World, str], None] | None = None
    denied: int = 403  # the answer to authenticated callers outside `allowed`
    code: str | None = None  # the X-Error-Code of every refusal, when it is always the same


EVERYONE = frozenset(PRINCIPALS)
AUTHENTICATED = EVERYONE - {"anonymous"}
ORG_ADMINS = frozenset({"write-token", "admin"})
TOKEN_MANAGERS = frozenset(CLASSIC_WRITE)


def _extra_member(w: World, who: str) -> None:
    w.as_owner("PUT", f"/api/organizations/{w.org}/members/{w.users['extra']}", json={"role": "read"})


def _own_token(w: World, who: str) -> int:
    user = {
        "read-token": w.users["owner"],
        "write-token": w.users["owner"],
        "fine-grained-in": w.users["writer"],
        "fine-grained-out": w.users["writer"],
        "org-member": w.users["member"],
        "org-writer": w.users["writer"],
        "non-member": w.users["outsider"],
        "admin": "root",
    }.get(who, w.users["owner"])
    admin = httpx.Client(base_url=w.hub.url, headers={"Authorization": f"Bearer {w.admin}"})
    with admin:
        made = _ok(admin.post("/api/tokens", json={"user": user, "role": "read", "displayName": "to-revoke"}))
    return int(made["id"])


_revoke_ids: dict[str, int] = {}


def _prepare_revoke(w: World, who: str) -> None:
    _revoke_ids[who] = _own_token(w, who)


TOP_ROUTES = [
    TopRoute("whoami", lambda w, who: Call("GET", "/api/whoami-v2"), AUTHENTICATED),
    TopRoute(
        "validate-yaml",
        lambda w, who: Call("POST", "/api/validate-yaml", json={"content": "---\nlicense: mit\n---\n"}),
        EVERYONE,
    ),
    TopRoute(
        "repo-create-in-org",
        lambda w, who: Call("POST", "/api/repos/create", json={"name": f"new-{who}", "organization": w.org}),
        frozenset({"write-token", "org-writer", "admin"}),
    ),
    TopRoute("list-models", lambda w, who: Call("GET", f"/api/models?author={w.org}"), EVERYONE),
    TopRoute("list-datasets", lambda w, who: Call("GET", f"/api/datasets?author={w.org}"), EVERYONE),
    TopRoute("agent-harnesses", lambda w, who: Call("GET", "/api/agent-harnesses"), EVERYONE),
    TopRoute("org-overview", lambda w, who: Call("GET", f"/api/organizations/{w.org}/overview"), EVERYONE),
    TopRoute("org-members", lambda w, who: Call("GET", f"/api/organizations/{w.org}/members"), EVERYONE),
    TopRoute(
        "user-overview",
        lambda w, who: Call("GET", f"/api/users/{w.users['outsider']}/overview"),
        EVERYONE,
    ),
    TopRoute(
        "org-member-set",
        lambda w, who: Call(
            "PUT", f"/api/organizations/{w.org}/members/{w.users['extra']}", json={"role": "write"}
        ),
        ORG_ADMINS,
    ),
    TopRoute(
        "org-member-remove",
        lambda w, who: Call("DELETE", f"/api/organizations/{w.org}/members/{w.users['extra']}"),
        ORG_ADMINS,
        setup=_extra_member,
    ),
    TopRoute(
        "org-create",
        lambda w, who: Call("POST", "/api/organizations/create", json={"name": f"{w.org}-{who}"}),
        TOKEN_MANAGERS,
    ),
    TopRoute("tokens-list", lambda w, who: Call("GET", "/api/tokens"), TOKEN_MANAGERS | {"read-token"}),
    TopRoute(
        "tokens-create", lambda w, who: Call("POST", "/api/tokens", json={"role": "read"}), TOKEN_MANAGERS
    ),
    TopRoute(
        "tokens-revoke",
        lambda w, who: Call("DELETE", f"/api/tokens/{_revoke_ids.get(who, 999999)}"),
        TOKEN_MANAGERS,
        setup=_prepare_revoke,
    ),
    TopRoute(
        "register",  # registration mode "admin" (the default): only hub admins create accounts
        lambda w, who: Call(
            "POST", "/api/users", json={"username": f"reg-{w.org}-{who}", "password": "long-enough"}
        ),
        frozenset({"admin"}),
        anonymous=403,
    ),
    TopRoute("invites", lambda w, who: Call("POST", "/api/invites", json={}), frozenset({"admin"})),
    TopRoute("user-likes", lambda w, who: Call("GET", f"/api/users/{w.users['member']}/likes"), EVERYONE),
    TopRoute("storage-hub", lambda w, who: Call("GET", "/api/storage"), frozenset({"admin"})),
    # A namespace's storage: who may write there (the org's admin and writers, write tokens), hub admins.
    TopRoute(
        "storage-namespace",
        lambda w, who: Call("GET", f"/api/storage/{w.org}"),
        frozenset({"write-token", "org-writer", "admin"}),
    ),
    # Transfer URLs authorise themselves with their signature: no caller's token opens an unsigned one.
    *(
        TopRoute(
            name,
            call,
            frozenset(),
            anonymous=403,
            denied=403,
            code="Forbidden",
        )
        for name, call in (
            ("lfs-put-unsigned", lambda w, who: Call("PUT", f"/lfs/objects/{w.file_sha}/{w.file_size}")),
            ("lfs-get-unsigned", lambda w, who: Call("GET", f"/lfs/objects/{w.file_sha}")),
            ("lfs-head-unsigned", lambda w, who: Call("HEAD", f"/lfs/objects/{w.file_sha}")),
            ("lfs-part-unsigned", lambda w, who: Call("PUT", "/lfs/multipart/0123abcd/1")),
            ("lfs-complete-unsigned", lambda w, who: Call("POST", "/lfs/multipart/0123abcd/complete")),
            ("xorb-data-unsigned", lambda w, who: Call("GET", "/xet/xorb-data/" + w.file_sha)),
            ("xorb-data-head-unsigned", lambda w, who: Call("HEAD", "/xet/xorb-data/" + w.file_sha)),
        )
    ),
    # The Xet CAS takes Xet access tokens only (from .../xet-*-token): a hub token is no key to it.
    *(
        TopRoute(name, call, frozenset(), anonymous=401, denied=401, code="XetTokenInvalid")
        for name, call in (
            ("xet-xorb-upload", lambda w, who: Call("POST", f"/xet/v1/xorbs/default/{w.file_sha}")),
            ("xet-shard-upload-v1", lambda w, who: Call("POST", "/xet/v1/shards")),
            ("xet-shard-upload-v2", lambda w, who: Call("POST", "/xet/v2/shards")),
            ("xet-dedup", lambda w, who: Call("GET", f"/xet/v1/chunks/default/{w.file_sha}")),
            ("xet-reconstruction-v1", lambda w, who: Call("GET", f"/xet/v1/reconstructions/{w.file_sha}")),
            ("xet-reconstruction-v2", lambda w, who: Call("GET", f"/xet/v2/reconstructions/{w.file_sha}")),
        )
    ),
]


@pytest.mark.parametrize("route", TOP_ROUTES, ids=lambda r: r.name)
def test_top_route_matrix(world: World, route: TopRoute) -> None:
    wrong = []
    for who in PRINCIPALS:
        if route.setup is not None:
            route.setup(world, who)
        c = route.call(world, who)
        r = world.client(who).request(c.method, c.url, json=c.json)
        want = route.ok if who in route.allowed else (route.anonymous if who == "anonymous" else route.denied)
        if r.status_code != want:
            wrong.append(f"{who:>17}: {r.status_code} (expected {want}) {r.text[:160]}")
        elif want != route.ok and route.code is not None and r.headers.get("X-Error-Code") != route.code:
            wrong.append(f"{who:>17}: X-Error-Code {r.headers.get('X-Error-Code')} (expected {route.code})")
    assert not wrong, f"{route.name}:\n" + "\n".join(wrong)


# Every fixed route of the app (api/app.py, api/xet_routes.py) -> the matrix cells that cover it.
APP_ROUTES = {
    ("GET", "/api/whoami-v2"): "whoami",
    ("POST", "/api/users"): "register",
    ("GET", "/api/users/{name:str}/overview"): "user-overview",
    ("GET", "/api/users/{name:str}/likes"): "user-likes",
    ("POST", "/api/invites"): "invites",
    ("POST", "/api/organizations/create"): "org-create",
    ("GET", "/api/organizations/{name:str}/overview"): "org-overview",
    ("GET", "/api/organizations/{name:str}/members"): "org-members",
    ("PUT", "/api/organizations/{name:str}/members/{user:str}"): "org-member-set",
    ("DELETE", "/api/organizations/{name:str}/members/{user:str}"): "org-member-remove",
    ("GET", "/api/tokens"): "tokens-list",
    ("POST", "/api/tokens"): "tokens-create",
    ("DELETE", "/api/tokens/{token_id:str}"): "tokens-revoke",
    ("POST", "/{ns:str}/{name:str}/ask-access"): "ask-access-web",
    ("POST", "/datasets/{ns:str}/{name:str}/ask-access"): "dataset-ask-access-web",
    ("POST", "/api/validate-yaml"): "validate-yaml",
    ("POST", "/api/repos/create"): "repo-create-in-org",
    ("DELETE", "/api/repos/delete"): "repo-delete",
    ("POST", "/api/repos/move"): "repo-move",
    ("GET", "/api/models"): "list-models",
    ("GET", "/api/datasets"): "list-datasets",
    ("GET", "/api/agent-harnesses"): "agent-harnesses",
    ("PUT", "/lfs/objects/{oid:str}/{size:int}"): "lfs-put-unsigned",
    ("GET", "/lfs/objects/{oid:str}"): "lfs-get-unsigned",
    ("POST", "/lfs/multipart/{upload_id:str}/complete"): "lfs-complete-unsigned",
    ("PUT", "/lfs/multipart/{upload_id:str}/{part:int}"): "lfs-part-unsigned",
    ("POST", "/xet/v1/xorbs/{prefix:str}/{hash:str}"): "xet-xorb-upload",
    ("POST", "/xet/v1/shards"): "xet-shard-upload-v1",
    ("POST", "/xet/v2/shards"): "xet-shard-upload-v2",
    ("GET", "/xet/v1/chunks/{prefix:str}/{hash:str}"): "xet-dedup",
    ("GET", "/xet/v1/reconstructions/{file:str}"): "xet-reconstruction-v1",
    ("GET", "/xet/v2/reconstructions/{file:str}"): "xet-reconstruction-v2",
    ("GET", "/xet/xorb-data/{sha:str}"): "xorb-data-unsigned",
    ("GET", "/api/storage"): "storage-hub",
    ("GET", "/api/storage/{namespace:str}"): "storage-namespace",
}


def test_every_route_of_the_app_is_in_the_matrix(tmp_path: Path) -> None:
    """The app's own route table, read from a real app: a route added without a matrix cell fails here."""
    from openmodelhub.api.app import create_app
    from openmodelhub.services.container import Services
    from openmodelhub.settings import Settings

    svc = Services.open(Settings(data_dir=tmp_path / "hub"))
    try:
        app = create_app(svc)
    finally:
        svc.close()
    found = set()
    for r in app.router.routes:
        assert isinstance(r, StarletteRoute), f"a route the matrix cannot read: {r!r}"
        methods = set(r.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")  # the GET handler answers HEAD too (its own cell where one exists)
        found |= {(m, r.path) for m in methods}
    assert found, "no routes read"
    missing = sorted(found - set(APP_ROUTES))
    assert not missing, f"add these routes to the authorization matrix (APP_ROUTES and a cell): {missing}"
    stale = sorted(set(APP_ROUTES) - found)
    assert not stale, f"these APP_ROUTES are no longer routes of the app: {stale}"
    cells = {r.name for r in ROUTES + DATASET_ROUTES} | {r.name for r in TOP_ROUTES}
    assert set(APP_ROUTES.values()) <= cells, set(APP_ROUTES.values()) - cells
    # The raw-path dispatcher (repo API, resolve, LFS batch) is the app's fallback: covered route by route
    # below and in ROUTES (resolve-get/-head, lfs-batch-*, lfs-verify).
    assert {"resolve-get", "resolve-head", "lfs-batch-download", "lfs-batch-upload", "lfs-verify"} <= cells


def test_every_repo_api_route_is_in_the_matrix() -> None:
    from openmodelhub.api.repo_routes import API_ROUTES

    covered = {
        ("GET", ""),
        ("GET", "revision"),
        ("GET", "tree"),
        ("POST", "paths-info"),
        ("GET", "refs"),
        ("GET", "commits"),
        ("GET", "auth-check"),
        ("POST", "branch"),
        ("DELETE", "branch"),
        ("POST", "tag"),
        ("DELETE", "tag"),
        ("PUT", "settings"),
        ("POST", "preupload"),
        ("POST", "commit"),
        ("POST", "security"),
        ("GET", "discussions"),
        ("POST", "discussions"),
        ("POST", "like"),
        ("DELETE", "like"),
        ("GET", "likers"),
        ("GET", "storage"),
        ("GET", "xet-write-token"),
        ("GET", "xet-read-token"),
        ("GET", "lineage"),
        ("GET", "openness"),
        ("GET", "user-access-request"),
        ("POST", "user-access-request"),
        ("GET", "ask-access"),
        ("POST", "ask-access"),
    }
    assert set(API_ROUTES) <= covered, f"add these routes to the matrix: {set(API_ROUTES) - covered}"


# -- leaks ---------------------------------------------------------------------------------------------------
OUTSIDERS = ("anonymous", "non-member", "fine-grained-out")


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()]


@pytest.mark.parametrize("who", OUTSIDERS)
def test_outsiders_never_see_private_repos_in_listings_or_counts(world: World, who: str) -> None:
    c, private = world.client(who), world.rid("priv")
    queries = [
        {"author": world.org},
        {"search": "priv"},
        {"search": world.org},
        {"search": private},
        {"author": world.org, "full": "true"},
        {"expand": "usedStorage", "author": world.org},
        {"sort": "downloads", "author": world.org},
        {"sort": "likes", "author": world.org},
        {"sort": "lastModified", "limit": 1000},
        {},
    ]
    for params in queries:
        assert private not in _ids(c.get("/api/models", params=params)), params
        assert world.drid("priv") not in _ids(c.get("/api/datasets", params=params)), params
    assert world.drid("priv") in _ids(world.client("org-member").get("/api/datasets", params=queries[0]))
    everything = _ids(world.client("admin").get("/api/models", params={"author": world.org}))
    public = [i for i in everything if not world.client("admin").get(f"/api/models/{i}").json()["private"]]
    assert sorted(_ids(c.get("/api/models", params={"author": world.org}))) == sorted(public)
    overview = c.get(f"/api/organizations/{world.org}/overview").json()
    assert overview["numModels"] == len(public) < len(everything)
    member_view = world.client("org-member").get(f"/api/organizations/{world.org}/overview").json()
    assert member_view["numModels"] == len(everything)


def _same_as_missing(world: World, who: str, call: Call, missing: Call) -> None:
    c = world.client(who)
    a = c.request(
        call.method, call.url, json=call.json, content=call.content, headers=call.headers, data=call.data
    )
    b = c.request(
        missing.method,
        missing.url,
        json=missing.json,
        content=missing.content,
        headers=missing.headers,
        data=missing.data,
    )
    assert a.status_code == b.status_code == 404, (call.url, a.status_code, a.text, b.status_code)
    for header in ("X-Error-Code", "X-Error-Message", "Content-Type", "Content-Length"):
        assert a.headers.get(header) == b.headers.get(header), (call.url, header)
    assert a.content == b.content, (call.url, a.text, b.text)
    assert world.org + "/priv" not in a.text


@pytest.mark.parametrize("who", OUTSIDERS)
def test_a_private_repo_answers_exactly_like_a_missing_one(world: World, who: str) -> None:
    for route in ROUTES + DATASET_ROUTES:
        if route.name in ("repo-delete", "repo-move"):
            continue
        if expected(route, who, "priv") != 404:
            continue  # asking for access anonymously: 401 before the repo is looked up, the same for both
        call = route.call(world, "priv", who)
        ghost = re.sub(f"{world.org}/d?priv(?=/|\\.git/|$)", f"{world.org}/no-such-repo", call.url)
        assert ghost != call.url, route.name
        missing = Call(call.method, ghost, call.json, call.content, call.headers, call.data)
        if call.method == "HEAD":
            continue  # no body: covered by resolve-get
        _same_as_missing(world, who, call, missing)
    for body in (
        {"name": "priv", "organization": world.org},
        {"name": "no-such-repo", "organization": world.org},
    ):
        r = world.client(who).request("DELETE", "/api/repos/delete", json=body)
        assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound", r.text


@pytest.mark.parametrize("who", ("non-member", "fine-grained-out"))
def test_name_collisions_do_not_reveal_private_repos(world: World, who: str) -> None:
    c = world.client(who)
    answers = []
    for name in ("priv", "never-created"):
        r = c.post("/api/repos/create", json={"name": name, "organization": world.org})
        answers.append((r.status_code, r.headers.get("X-Error-Code"), r.json()["error"].replace(name, "N")))
    assert answers[0] == answers[1] and answers[0][0] == 403
    own = f"{world.users['outsider']}/mv-src-{who}"
    if who == "non-member":
        _ok(
            c.post(
                "/api/repos/create", json={"name": f"mv-src-{who}", "organization": world.users["outsider"]}
            )
        )
        moves = []
        for target in ("priv", "never-created"):
            r = c.post(
                "/api/repos/move", json={"fromRepo": own, "toRepo": f"{world.org}/{target}", "type": "model"}
            )
            moves.append((r.status_code, r.json()["error"].replace(target, "N")))
        assert moves[0] == moves[1] and moves[0][0] == 403


def test_user_counts_hide_private_repos(world: World) -> None:
    outsider = world.users["outsider"]
    c = world.client("non-member")
    _ok(
        c.post(
            "/api/repos/create", json={"name": "hidden", "organization": outsider, "visibility": "private"}
        )
    )
    mine = c.get(f"/api/users/{outsider}/overview").json()["numModels"]
    for who in ("anonymous", "org-member", "fine-grained-out"):
        seen = world.client(who).get(f"/api/users/{outsider}/overview").json()["numModels"]
        assert seen == mine - 1, who
    assert world.client("admin").get(f"/api/users/{outsider}/overview").json()["numModels"] == mine


def test_lfs_downloads_only_hand_out_content_of_the_repo_they_go_through(world: World) -> None:
    """Stored content is shared by all repos: knowing a gated file's sha256 (its tree shows it) must not let
    anyone fetch it through another repo."""
    secret = f"only in the gated repo {uuid.uuid4()}".encode()
    _ok(_commit(world.client("write-token"), world.rid("gated"), "secret.bin", secret))
    oid = hashlib.sha256(secret).hexdigest()
    outsider = world.client("non-member")
    own = f"{world.users['outsider']}/lfs-probe"
    _ok(
        outsider.post(
            "/api/repos/create", json={"name": "lfs-probe", "organization": world.users["outsider"]}
        )
    )
    body = {"operation": "download", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(secret)}]}
    for repo_id in (own, world.rid("pub")):
        (obj,) = _ok(outsider.post(f"/{repo_id}.git/info/lfs/objects/batch", json=body))["objects"]
        assert "actions" not in obj and obj["error"]["code"] == 404, (repo_id, obj)
    gated = outsider.post(f"/{world.rid('gated')}.git/info/lfs/objects/batch", json=body)
    assert gated.status_code == 403 and gated.headers["X-Error-Code"] == "GatedRepo"
    (obj,) = _ok(
        world.client("org-member").post(f"/{world.rid('gated')}.git/info/lfs/objects/batch", json=body)
    )["objects"]
    # On S3 (OMH_S3_DOWNLOAD=redirect) the hub's signed download URL redirects to a presigned one.
    assert httpx.get(obj["actions"]["download"]["href"], follow_redirects=True).content == secret


def test_likes_of_private_repos_stay_private(world: World) -> None:
    """A member's likes list shows the private repos they liked only to those who can read them."""
    member = world.client("org-member")
    for kind in ("pub", "priv"):
        _ok(member.post(f"/api/models/{world.rid(kind)}/like"))
    try:
        url = f"/api/users/{world.users['member']}/likes"

        def liked(who: str) -> set[str]:
            return {x["repo"]["name"] for x in _ok(world.client(who).get(url))}

        assert {world.rid("pub"), world.rid("priv")} <= liked("org-member") == liked("admin")
        for who in OUTSIDERS:
            seen = liked(who)
            assert world.rid("pub") in seen and world.rid("priv") not in seen, who
        # The repo's own likers list and like count are as hidden as the repo.
        for who in OUTSIDERS:
            r = world.client(who).get(f"/api/models/{world.rid('priv')}/likers")
            assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound"
    finally:
        for kind in ("pub", "priv"):
            member.delete(f"/api/models/{world.rid(kind)}/like")


def _private_commit(world: World) -> str:
    """A commit only the private repo has (the world's repos start with identical commits)."""
    owner = world.client("write-token")
    secret = f"only in the private repo {uuid.uuid4()}".encode()
    oid = _ok(_commit(owner, world.rid("priv"), f"secret-{uuid.uuid4().hex[:6]}.txt", secret))["commitOid"]
    assert isinstance(oid, str) and len(oid) == 40
    return oid


@pytest.mark.parametrize("who", ("anonymous", "non-member", "org-member"))
def test_private_commits_do_not_resolve_through_other_repos(world: World, who: str) -> None:
    """Git objects are shared by all repos (ADR 0002); a revision resolves only within its own repo, so the
    commit id of a private repo opens nothing through a public one, even for those who may read both."""
    private, ghost = _private_commit(world), "0123456789abcdef0123456789abcdef01234567"
    c, pub = world.client(who), world.rid("pub")
    for template in (
        "/api/models/{repo}/revision/{rev}",
        "/api/models/{repo}/tree/{rev}",
        "/api/models/{repo}/tree/{rev}/d",
        "/api/models/{repo}/commits/{rev}",
        "/{repo}/resolve/{rev}/w.txt",
    ):
        a = c.get(template.format(repo=pub, rev=private))
        b = c.get(template.format(repo=pub, rev=ghost))
        assert a.status_code == b.status_code == 404, (template, a.status_code, a.text)
        assert a.headers["X-Error-Code"] == b.headers["X-Error-Code"] == "RevisionNotFound"
        assert a.text.replace(private, "R") == b.text.replace(ghost, "R"), template
    # Nor through a branch or tag made on it, or as the parent of a commit.
    r = c.post(f"/api/models/{pub}/branch/from-priv-{who}", json={"startingPoint": private})
    assert r.status_code in (401, 403, 404), r.text
    if r.status_code == 404:
        assert r.headers["X-Error-Code"] == "RevisionNotFound"


def _count(html: str, heading: str) -> int:
    found = re.search(rf">{heading} <span class=\"count\">\((\d+)\)</span>", html)
    assert found, f"no {heading} count on the page"
    return int(found.group(1))


def _browser(world: World, user: str | None) -> httpx.Client:
    """A web UI client, signed in as `user` with their password (None: anonymous)."""
    c = httpx.Client(base_url=world.hub.url, timeout=60)
    if user is not None:
        form = c.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form)
        assert csrf, form[:500]
        data = {"csrf_token": csrf.group(1), "username": user, "password": "matrix-password"}
        assert c.post("/login", data=data).status_code == 303
    return c


@pytest.mark.parametrize("who", ("anonymous", "non-member"))
def test_web_pages_do_not_reveal_private_repos(world: World, who: str) -> None:
    """The namespace page (its counts and lists), search and the listings of the web UI follow the same
    rules as the API: an outsider's pages name no private repo and count none."""
    outsider = _browser(world, None if who == "anonymous" else world.users["outsider"])
    member = _browser(world, world.users["member"])
    world.clients[f"web-{who}"] = outsider  # closed with the world
    world.clients[f"web-member-{who}"] = member
    pages = [
        f"/{world.org}",
        f"/models?search={world.org}",
        f"/models?author={world.org}",
        f"/datasets?author={world.org}",
        "/models?search=priv&sort=likes",
        "/",
    ]
    for url in pages:
        r = outsider.get(url)
        assert r.status_code == 200, (url, r.status_code)
        assert f"{world.org}/priv" not in r.text and f"{world.org}/dpriv" not in r.text, url
    # The member sees them (so the check above can fail), and the counts differ by exactly the private repos.
    mine, theirs = member.get(f"/{world.org}").text, outsider.get(f"/{world.org}").text
    assert f"{world.org}/priv" in mine and f"{world.org}/dpriv" in mine
    everything = _ids(world.client("admin").get("/api/models", params={"author": world.org}))
    hidden = sum(1 for i in everything if world.client("admin").get(f"/api/models/{i}").json()["private"])
    assert _count(mine, "Models") - _count(theirs, "Models") == hidden > 0
    assert _count(mine, "Datasets") - _count(theirs, "Datasets") == 1
    # Its page for the private repo itself: the same answer as a repo that does not exist.
    a, b = outsider.get(f"/{world.org}/priv"), outsider.get(f"/{world.org}/no-such-repo")
    assert a.status_code == b.status_code == 404
    assert _scrub(a.text, "priv") == _scrub(b.text, "no-such-repo")


def _scrub(html: str, name: str) -> str:
    """A page without what changes from one request to the next (CSRF tokens) and the name asked for."""
    html = re.sub(r'name="csrf_token" value="[0-9a-f]+"', "", html).replace("%2F", "/")
    return re.sub(rf"(?<![A-Za-z0-9-]){re.escape(name)}(?![A-Za-z0-9-])", "N", html)


def _card_repo(world: World, name: str, base: str, dataset: str) -> str:
    owner = world.client("write-token")
    _ok(owner.post("/api/repos/create", json={"name": name, "organization": world.org}))
    card = f"---\nlicense: apache-2.0\nbase_model: {base}\ndatasets:\n- {dataset}\n---\n# {name}\n"
    _ok(_commit(owner, f"{world.org}/{name}", "README.md", card.encode()))
    return f"{world.org}/{name}"


@pytest.mark.parametrize("who", OUTSIDERS)
def test_lineage_and_openness_do_not_reveal_private_repos(world: World, who: str) -> None:
    """A public model whose card names a private base model and a private dataset answers an outsider
    exactly like one naming repos that do not exist (no license, no 'on this hub', no verdict of them)."""
    suffix = uuid.uuid4().hex[:6]
    real = _card_repo(world, f"cites-priv-{suffix}", world.rid("priv"), world.drid("priv"))
    ghost_base, ghost_ds = f"{world.org}/ghost-model-{suffix}", f"{world.org}/ghost-data-{suffix}"
    fake = _card_repo(world, f"cites-ghost-{suffix}", ghost_base, ghost_ds)
    c = world.client(who)

    def same(path: str) -> None:
        a = _ok(c.get(f"/api/models/{real}/{path}"))
        b = _ok(c.get(f"/api/models/{fake}/{path}"))
        a.pop("revision", None)  # the two repos' own commits
        b.pop("revision", None)
        text = json.dumps(a, sort_keys=True)
        for private, missing in (
            (world.drid("priv"), ghost_ds),
            (world.rid("priv"), ghost_base),
            (real, fake),
        ):
            text = text.replace(private, missing)
        assert json.loads(text) == b, f"{path} for {who}:\n{json.dumps(a, indent=1)}\n{b}"

    same("lineage")
    same("openness")
