"""The authorization matrix: every API route x every kind of caller x public / private / gated repos.

The expected status of each cell comes from two tables below: what each caller may do with each kind of
repo (LEVEL, GATE_OPEN) and what each route needs (ROUTES). Then the leak checks: nothing an outsider gets
back reveals a private repo (names, counts, commits, sizes, error messages).
"""

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

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


def _commit(client: httpx.Client, repo_id: str, path: str, data: bytes) -> httpx.Response:
    body = ndjson([header_line(f"add {path}"), file_line(path, data)])
    return client.post(f"/api/models/{repo_id}/commit/main", content=body, headers={"Content-Type": NDJSON})


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
    Route(
        "security-release",
        W,
        _req("POST", "/api/models/{rid}/security/release", json={"path": "w.txt"}),
        only=frozenset({"admin"}),  # scans.release: the namespace's own user or a hub admin
    ),
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


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
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
]


@pytest.mark.parametrize("route", TOP_ROUTES, ids=lambda r: r.name)
def test_top_route_matrix(world: World, route: TopRoute) -> None:
    wrong = []
    for who in PRINCIPALS:
        if route.setup is not None:
            route.setup(world, who)
        c = route.call(world, who)
        r = world.client(who).request(c.method, c.url, json=c.json)
        want = route.ok if who in route.allowed else (route.anonymous if who == "anonymous" else 403)
        if r.status_code != want:
            wrong.append(f"{who:>17}: {r.status_code} (expected {want}) {r.text[:160]}")
    assert not wrong, f"{route.name}:\n" + "\n".join(wrong)


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
        {},
    ]
    for params in queries:
        assert private not in _ids(c.get("/api/models", params=params)), params
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
    for route in ROUTES:
        if route.name in ("repo-delete", "repo-move"):
            continue
        if expected(route, who, "priv") != 404:
            continue  # asking for access anonymously: 401 before the repo is looked up, the same for both
        call = route.call(world, "priv", who)
        ghost = call.url.replace(f"{world.org}/priv", f"{world.org}/no-such-repo")
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
