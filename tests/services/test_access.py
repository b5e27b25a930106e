"""Accounts and access, at the service layer: the authorization function, its SQL twin for listings, token
kinds and scopes, org roles, passwords, registration modes and gated access requests."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from openmodelhub.db.models import Repo, Token, User
from openmodelhub.protocol.names import RepoType
from openmodelhub.services.auth import Access, AuthService, Principal, Scope, repo_access
from openmodelhub.services.container import Services
from openmodelhub.services.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GatedRepo,
    InvalidCredentials,
    NotFound,
    RepoNotFound,
    Unauthorized,
)
from openmodelhub.settings import Settings

R, W, A, N = Access.READ, Access.WRITE, Access.ADMIN, Access.NONE


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    services = Services.open(Settings(data_dir=tmp_path / "hub"))
    yield services
    services.close()


def login(svc: Services, token: str) -> Principal:
    who = svc.auth.authenticate(f"Bearer {token}")
    assert who is not None
    return who


class World:
    """org `acme` (owner: admin, wendy: write, rita: read), outsider `otto`, hub admin `root`; repos
    acme/pub (public), acme/priv (private), acme/gate (public, gated manual), otto/own (private)."""

    def __init__(self, svc: Services) -> None:
        for name in ("owner", "wendy", "rita", "otto"):
            svc.auth.create_user(name)
        svc.auth.create_user("root", admin=True)
        svc.orgs.create(None, "acme", owner="owner")
        svc.orgs.set_member(None, "acme", "wendy", "write")
        svc.orgs.set_member(None, "acme", "rita", "read")
        self.tokens = {
            "anonymous": None,
            "owner-read": svc.auth.create_token("owner"),
            "owner-write": svc.auth.create_token("owner", write=True),
            "fg-in": svc.auth.create_token(
                "wendy",
                role="fineGrained",
                scopes=[
                    Scope.parse("repo:model/acme/pub:write"),
                    Scope.parse("repo:model/acme/priv:write"),
                    Scope.parse("repo:model/acme/gate:write"),
                ],
            ),
            "fg-out": svc.auth.create_token(
                "wendy", role="fineGrained", scopes=[Scope.parse("repo:model/acme/elsewhere:write")]
            ),
            "fg-ns-read": svc.auth.create_token(
                "wendy", role="fineGrained", scopes=[Scope.parse("namespace:acme:read")]
            ),
            "fg-beyond-user": svc.auth.create_token(
                "otto", role="fineGrained", scopes=[Scope.parse("namespace:acme:write")]
            ),
            "member-read": svc.auth.create_token("rita", write=True),
            "member-write": svc.auth.create_token("wendy", write=True),
            "non-member": svc.auth.create_token("otto", write=True),
            "admin": svc.auth.create_token("root", write=True),
        }
        owner = login(svc, self.tokens["owner-write"])  # type: ignore[arg-type]
        self.repos = {
            "pub": svc.repos.create(owner, RepoType.MODEL, "pub", "acme"),
            "priv": svc.repos.create(owner, RepoType.MODEL, "priv", "acme", private=True),
            "gate": svc.repos.create(owner, RepoType.MODEL, "gate", "acme"),
        }
        svc.repos.update_settings(owner, RepoType.MODEL, "acme/gate", private=None, gated="manual")
        otto = login(svc, self.tokens["non-member"])  # type: ignore[arg-type]
        self.repos["otto"] = svc.repos.create(otto, RepoType.MODEL, "own", "otto", private=True)
        self.repos["gate"] = svc.repos.find(RepoType.MODEL, "acme/gate")  # type: ignore[assignment]

    def who(self, svc: Services, name: str) -> Principal | None:
        token = self.tokens[name]
        return None if token is None else login(svc, token)


@pytest.fixture
def world(svc: Services) -> World:
    return World(svc)


# principal -> expected access to (acme/pub, acme/priv, acme/gate, otto/own)
EXPECTED = {
    "anonymous": (R, N, R, N),
    "owner-read": (R, R, R, N),
    "owner-write": (A, A, A, N),
    "fg-in": (W, W, W, N),
    "fg-out": (R, N, R, N),
    "fg-ns-read": (R, R, R, N),
    "fg-beyond-user": (R, N, R, N),  # scoped to acme, but otto is no member: never more than the user
    "member-read": (R, R, R, N),
    "member-write": (W, W, W, N),
    "non-member": (R, N, R, A),
    "admin": (A, A, A, A),
}


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_repo_access_table(svc: Services, world: World, who: str) -> None:
    principal = world.who(svc, who)
    got = tuple(repo_access(principal, world.repos[k]) for k in ("pub", "priv", "gate", "otto"))
    assert got == EXPECTED[who]


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_listing_filter_is_the_same_decision(svc: Services, world: World, who: str) -> None:
    principal = world.who(svc, who)
    with svc.hub.read() as s:
        listed = set(s.scalars(select(Repo.id).where(AuthService.readable_clause(principal))).all())
        every = s.scalars(select(Repo)).all()
    assert listed == {r.id for r in every if AuthService.can_read(principal, r)}


def test_errors_reveal_nothing_about_private_repos(svc: Services, world: World) -> None:
    otto = world.who(svc, "non-member")
    with pytest.raises(RepoNotFound) as private:
        svc.repos.get_readable(otto, RepoType.MODEL, "acme/priv")
    with pytest.raises(RepoNotFound) as missing:
        svc.repos.get_readable(otto, RepoType.MODEL, "acme/nothing-here")
    assert private.value.message == missing.value.message
    with pytest.raises(Forbidden):  # a public repo: it exists, writing is refused
        svc.repos.get_writable(otto, RepoType.MODEL, "acme/pub")
    with pytest.raises(Unauthorized):
        svc.repos.get_writable(None, RepoType.MODEL, "acme/pub")
    with pytest.raises(Forbidden, match="read-only"):
        svc.repos.get_writable(world.who(svc, "owner-read"), RepoType.MODEL, "acme/pub")
    with pytest.raises(Forbidden, match="admin rights"):
        svc.repos.get_admin(world.who(svc, "member-write"), RepoType.MODEL, "acme/priv")
    with pytest.raises(Forbidden, match="fine-grained"):
        svc.repos.get_admin(world.who(svc, "fg-in"), RepoType.MODEL, "acme/priv")


def test_namespace_rights_for_creating_repos(svc: Services, world: World) -> None:
    for who in ("member-write", "owner-write", "admin"):
        svc.auth.require_write(world.who(svc, who), "acme")
    for who in ("member-read", "non-member", "fg-in", "fg-ns-read", "fg-beyond-user"):
        with pytest.raises(Forbidden):
            svc.auth.require_write(world.who(svc, who), "acme")
    ns_writer = svc.auth.create_token(
        "wendy", role="fineGrained", scopes=[Scope.parse("namespace:acme:write")]
    )
    svc.auth.require_write(login(svc, ns_writer), "acme")


def test_org_roles_follow_membership_changes(svc: Services, world: World) -> None:
    otto_token = world.tokens["non-member"]
    assert otto_token is not None
    assert not svc.auth.can_read(login(svc, otto_token), world.repos["priv"])
    svc.orgs.set_member(None, "acme", "otto", "read")
    svc.auth._cache.clear()  # the server drops it when the database changes (cache_version)
    assert repo_access(login(svc, otto_token), world.repos["priv"]) == R
    svc.orgs.set_member(world.who(svc, "owner-write"), "acme", "otto", "admin")
    svc.auth._cache.clear()
    assert repo_access(login(svc, otto_token), world.repos["priv"]) == A
    svc.orgs.remove_member(world.who(svc, "owner-write"), "acme", "otto")
    svc.auth._cache.clear()
    assert repo_access(login(svc, otto_token), world.repos["priv"]) == N


def test_member_management_needs_org_admin(svc: Services, world: World) -> None:
    for who in ("member-write", "member-read", "non-member", "owner-read", "fg-in"):
        with pytest.raises(Forbidden):
            svc.orgs.set_member(world.who(svc, who), "acme", "otto", "write")
    svc.orgs.set_member(world.who(svc, "admin"), "acme", "otto", "write")
    with pytest.raises(Conflict, match="at least one admin"):
        svc.orgs.remove_member(None, "acme", "owner")
    with pytest.raises(Conflict, match="at least one admin"):
        svc.orgs.set_member(None, "acme", "owner", "read")
    with pytest.raises(BadRequest, match="invalid role"):
        svc.orgs.set_member(None, "acme", "otto", "owner")
    assert [(m.name, m.role) for m in svc.orgs.members("acme")] == [
        ("otto", "write"),
        ("owner", "admin"),
        ("rita", "read"),
        ("wendy", "write"),
    ]


def test_names_are_unique_across_users_and_orgs(svc: Services, world: World) -> None:
    with pytest.raises(Conflict, match="already taken"):
        svc.orgs.create(None, "otto", owner="owner")
    with pytest.raises(Conflict, match="already taken"):
        svc.auth.create_user("acme")
    with pytest.raises(NotFound):
        svc.orgs.create(None, "newco", owner="nobody")


def test_counts_follow_what_the_caller_can_read(svc: Services, world: World) -> None:
    assert svc.orgs.overview(None, "acme").num_models == 2
    assert svc.orgs.overview(world.who(svc, "non-member"), "acme").num_models == 2
    assert svc.orgs.overview(world.who(svc, "member-read"), "acme").num_models == 3
    assert svc.orgs.overview(None, "otto").num_models == 0
    assert svc.orgs.overview(world.who(svc, "non-member"), "otto").num_models == 1


def test_tokens_are_stored_hashed_listed_and_revoked(svc: Services, world: World) -> None:
    secret, info = svc.auth.issue_token("otto", role="write", display_name="laptop")
    with svc.hub.read() as s:
        stored = s.scalars(select(Token.token_hash)).all()
    assert secret not in stored and all(len(h) == 64 for h in stored)
    assert login(svc, secret).token_name == "laptop"
    listed = {t.display_name: t for t in svc.auth.list_tokens("otto")}
    assert listed["laptop"].last_used_at is not None and listed["laptop"].role == "write"
    svc.auth.revoke_token("otto", "laptop")
    with pytest.raises(InvalidCredentials):
        svc.auth.authenticate(f"Bearer {secret}")
    with pytest.raises(NotFound):
        svc.auth.revoke_token("otto", info.id)


@pytest.mark.parametrize(
    ("role", "scopes", "message"),
    [
        ("fineGrained", [], "at least one scope"),
        ("read", ["namespace:acme:read"], "only for fine-grained"),
        ("admin", [], "invalid token role"),
    ],
)
def test_bad_token_requests(svc: Services, world: World, role: str, scopes: list[str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        svc.auth.issue_token("otto", role=role, scopes=[Scope.parse(s) for s in scopes])


@pytest.mark.parametrize(
    "text",
    ["repo:acme:write", "namespace:acme:admin", "bucket:x:read", "repo:space/a/b:read", "namespace::read"],
)
def test_bad_scopes(text: str) -> None:
    with pytest.raises(BadRequest):
        Scope.parse(text)


def test_scope_text_round_trips() -> None:
    for text in ("repo:model/a/b:write", "repo:dataset/a/b:read", "namespace:a:read"):
        assert str(Scope.parse(text)) == text
    assert Scope.parse("repo:a/b:read") == Scope("repo", "a/b", "read", "model")


def test_passwords_are_argon2_and_checked(svc: Services) -> None:
    svc.auth.create_user("pat", password="correct horse")
    with svc.hub.read() as s:
        stored = s.scalar(select(User.password_hash).where(User.name == "pat"))
    assert stored is not None and stored.startswith("$argon2id$") and "correct horse" not in stored
    assert svc.auth.verify_password("pat", "correct horse").name == "pat"
    for name, password in (("pat", "wrong horse"), ("nobody", "correct horse")):
        with pytest.raises(InvalidCredentials, match="Invalid username or password"):
            svc.auth.verify_password(name, password)
    with pytest.raises(BadRequest, match="8-1024 characters"):
        svc.auth.create_user("shorty", password="short")
    svc.auth.set_password("pat", "another horse")
    assert svc.sessions.password_principal("pat", "another horse", "127.0.0.1").can_write


def test_registration_modes(tmp_path: Path) -> None:
    for mode in ("admin", "invite", "open"):
        services = Services.open(Settings(data_dir=tmp_path / mode, registration=mode))
        try:
            services.auth.create_user("root", admin=True)
            admin = login(services, services.auth.create_token("root", write=True))
            assert services.auth.register(admin, "made", password=None).name == "made"
            if mode == "admin":
                with pytest.raises(Forbidden, match="Registration is closed"):
                    services.auth.register(None, "eve", password="password1")
            elif mode == "invite":
                with pytest.raises(Forbidden, match="invite code"):
                    services.auth.register(None, "eve", password="password1")
                code = services.auth.create_invite(admin)
                with pytest.raises(Forbidden, match="Only hub administrators"):
                    services.auth.create_invite(
                        login(services, services.auth.create_token("made", write=True))
                    )
                with pytest.raises(Conflict):  # a failed registration leaves the code usable
                    services.auth.register(None, "made", password="password1", invite=code)
                assert services.auth.register(None, "eve", password="password1", invite=code).name == "eve"
                with pytest.raises(Forbidden, match="already used"):
                    services.auth.register(None, "mallory", password="password1", invite=code)
            else:
                assert services.auth.register(None, "eve", password="password1").name == "eve"
                with pytest.raises(BadRequest, match="password"):
                    services.auth.register(None, "nopass", password=None)
            if mode != "admin":
                assert services.auth.verify_password("eve", "password1").name == "eve"
        finally:
            services.close()


# -- gating --------------------------------------------------------------------------------------------------
def _gated(svc: Services, world: World, mode: str, fields: dict[str, object] | None = None) -> Repo:
    owner = world.who(svc, "owner-write")
    repo = world.repos["gate"]
    svc.repos.update_settings(owner, RepoType.MODEL, "acme/gate", private=None, gated=mode)
    if fields is not None:
        with svc.hub.write.begin() as s:
            row = s.get(Repo, repo.id)
            assert row is not None
            row.card_data = {"extra_gated_prompt": "Agree?", "extra_gated_fields": fields}
    found = svc.repos.find(RepoType.MODEL, "acme/gate")
    assert found is not None
    return found


def _content_error(svc: Services, who: Principal | None, repo: Repo) -> GatedRepo | None:
    try:
        svc.access.check_content(who, repo)
    except GatedRepo as exc:
        return exc
    return None


def test_manual_gate_lifecycle(svc: Services, world: World) -> None:
    repo = _gated(svc, world, "manual", {"Company": "text", "I agree": "checkbox"})
    otto, owner = world.who(svc, "non-member"), world.who(svc, "owner-write")
    anonymous = _content_error(svc, None, repo)
    assert anonymous is not None and not anonymous.authenticated and "Please log in" in anonymous.message
    first = _content_error(svc, otto, repo)
    assert first is not None and first.ask and "not in the authorized list" in first.message
    for who in ("owner-read", "member-read", "fg-in", "admin"):  # their own rights open the gate
        assert _content_error(svc, world.who(svc, who), repo) is None
    with pytest.raises(BadRequest, match="'I agree' must be checked"):
        svc.access.request_access(otto, RepoType.MODEL, "acme/gate", {"Company": "X"})
    with pytest.raises(BadRequest, match="unknown field 'Age'"):
        svc.access.request_access(
            otto, RepoType.MODEL, "acme/gate", {"Company": "X", "I agree": True, "Age": 3}
        )
    view = svc.access.request_access(otto, RepoType.MODEL, "acme/gate", {"Company": "X", "I agree": "on"})
    assert view.status == "pending" and view.fields == {"Company": "X", "I agree": True}
    pending = _content_error(svc, otto, repo)
    assert pending is not None and "awaiting a review" in pending.message
    with pytest.raises(Forbidden):  # a reader cannot handle requests
        svc.access.list_requests(world.who(svc, "member-read"), RepoType.MODEL, "acme/gate", "pending", 0, 10)
    listed, more = svc.access.list_requests(owner, RepoType.MODEL, "acme/gate", "pending", 0, 10)
    assert [v.username for v in listed] == ["otto"] and not more
    svc.access.handle(owner, RepoType.MODEL, "acme/gate", user="otto", request=None, status="accepted")
    assert _content_error(svc, otto, repo) is None
    with pytest.raises(NotFound, match="already accepted"):
        svc.access.handle(owner, RepoType.MODEL, "acme/gate", user="otto", request=None, status="accepted")
    svc.access.handle(
        owner,
        RepoType.MODEL,
        "acme/gate",
        user=None,
        request=view.request_id,
        status="rejected",
        rejection_reason="no",
    )
    rejected = _content_error(svc, otto, repo)
    assert rejected is not None and "rejected" in rejected.message
    with pytest.raises(Forbidden, match="rejected"):
        svc.access.request_access(otto, RepoType.MODEL, "acme/gate", {"Company": "X", "I agree": True})
    svc.access.handle(owner, RepoType.MODEL, "acme/gate", user="otto", request=None, status="pending")
    assert [
        v.username for v in svc.access.list_requests(owner, RepoType.MODEL, "acme/gate", "pending", 0, 9)[0]
    ] == ["otto"]


def test_auto_gate_accepts_on_request_and_tokens_must_reach_the_repo(svc: Services, world: World) -> None:
    repo = _gated(svc, world, "auto")
    otto = world.who(svc, "non-member")
    assert svc.access.request_access(otto, RepoType.MODEL, "acme/gate", None).status == "accepted"
    assert _content_error(svc, otto, repo) is None
    assert _content_error(svc, world.who(svc, "fg-beyond-user"), repo) is None  # scoped to acme: reaches it
    elsewhere = svc.auth.create_token("otto", role="fineGrained", scopes=[Scope.parse("namespace:otto:read")])
    blocked = _content_error(svc, login(svc, elsewhere), repo)
    assert blocked is not None and "does not cover it" in blocked.message
    fg_out = _content_error(svc, world.who(svc, "fg-out"), repo)  # wendy is a member, but not via this token
    assert fg_out is not None


def test_access_request_calls_on_repos_that_are_not_gated(svc: Services, world: World) -> None:
    owner = world.who(svc, "owner-write")
    with pytest.raises(BadRequest, match="not gated"):
        svc.access.list_requests(owner, RepoType.MODEL, "acme/pub", "pending", 0, 10)
    with pytest.raises(BadRequest, match="not gated"):
        svc.access.request_access(world.who(svc, "non-member"), RepoType.MODEL, "acme/pub", {})
    with pytest.raises(RepoNotFound):
        svc.access.request_access(world.who(svc, "non-member"), RepoType.MODEL, "acme/priv", {})
    with pytest.raises(Unauthorized):
        svc.access.request_access(None, RepoType.MODEL, "acme/gate", {})
    _gated(svc, world, "manual")
    with pytest.raises(BadRequest, match="exactly one"):
        svc.access.handle(owner, RepoType.MODEL, "acme/gate", user="otto", request="1", status="accepted")
    with pytest.raises(BadRequest, match="unknown status"):
        svc.access.list_requests(owner, RepoType.MODEL, "acme/gate", "maybe", 0, 10)
    with pytest.raises(NotFound, match="No access request"):
        svc.access.handle(owner, RepoType.MODEL, "acme/gate", user="otto", request=None, status="accepted")
    svc.access.grant(owner, RepoType.MODEL, "acme/gate", "otto")
    with pytest.raises(BadRequest, match="already has access"):
        svc.access.grant(owner, RepoType.MODEL, "acme/gate", "otto")
    with pytest.raises(NotFound):
        svc.access.grant(owner, RepoType.MODEL, "acme/gate", "nobody")
