"""The settings pages over HTTP: profile and password, access tokens (shown once, listed without secrets,
revoked for good), organizations and their members (who may change what, the last admin stays), sign-in and
CSRF checks on every form."""

import re
from collections.abc import Iterator
from html import unescape

import httpx
import pytest

from tests.support.server import HubServer
from tests.web.support import PASSWORD, WebClient, unique

NEW_PASSWORD = "a brand new passphrase"
SECRET = re.compile(r'id="new-token-secret">(omh_[A-Za-z0-9_-]+)<')


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def me(web_hub: HubServer) -> Iterator[tuple[str, WebClient]]:
    name = unique("settings")
    web = WebClient(web_hub)
    web.sign_up(name)
    yield name, web
    web.close()


def _whoami(hub: HubServer, token: str) -> httpx.Response:
    return httpx.get(f"{hub.url}/api/whoami-v2", headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _create_token(web: WebClient, **fields: str) -> httpx.Response:
    return web.submit("/settings/tokens", "/settings/tokens", fields)


def _token_ids(web: WebClient) -> dict[str, str]:
    """Token name -> id, as the revoke buttons of the token list carry them."""
    html = web.get("/settings/tokens").text
    rows = re.findall(r'class="token-name">([^<]+)<.*?name="token_id" value="(\d+)"', html, re.S)
    return {unescape(name): token_id for name, token_id in rows}


def _members(web: WebClient, org: str) -> dict[str, str]:
    """Member -> role, as the members page shows them (a role menu for admins, a badge for others)."""
    html = web.get(f"/organizations/{org}/members").text
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        name = re.search(r'<th scope="row"><a href="/[^"]+">([^<]+)</a>', row)
        if name is None:
            continue
        role = re.search(r'<option value="(\w+)" selected>', row) or re.search(
            r'class="badge role-(\w+)"', row
        )
        assert role, row
        out[name.group(1)] = role.group(1)
    return out


# -- sign-in and CSRF ----------------------------------------------------------------------------------------
PAGES = ["/settings/profile", "/settings/tokens", "/settings/organizations", "/organizations/new"]
FORMS = [
    "/settings/profile",
    "/settings/password",
    "/settings/tokens",
    "/settings/tokens/revoke",
    "/organizations/new",
    "/organizations/someorg/members",
    "/organizations/someorg/members/remove",
]


def test_every_settings_page_needs_a_signed_in_user(web_hub: HubServer, me: tuple[str, WebClient]) -> None:
    with httpx.Client(base_url=web_hub.url, timeout=60) as anonymous:
        for path in [*PAGES, "/organizations/someorg/members"]:
            answer = anonymous.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == f"/login?next={path.replace('/', '%2F')}"
        for path in FORMS:
            answer = anonymous.post(path, data={"name": "x", "username": "x"})
            assert answer.status_code == 303 and answer.headers["location"] == "/login", path
    _, web = me
    home = web.get("/").text
    assert 'href="/settings/profile"' in home and ">Settings</a>" in home
    for path in PAGES:
        page = web.get(path)
        assert page.status_code == 200, path
        # Every field a person fills in has a label: one naming its id, or one around it.
        fields = list(re.finditer(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*>', page.text))
        assert fields, path
        for field in fields:
            ident = re.search(r'\bid="([^"]+)"', field.group(0))
            wrapped = page.text[: field.start()].endswith('<label class="check">')
            assert wrapped or (ident and f'for="{ident.group(1)}"' in page.text), (path, field.group(0))


def test_forms_without_their_csrf_token_are_refused(web_hub: HubServer, me: tuple[str, WebClient]) -> None:
    name, web = me
    org = unique("csrforg")
    for path, data in [
        ("/settings/tokens", {"name": "forged", "role": "write"}),
        ("/organizations/new", {"name": org}),
        ("/settings/profile", {"fullname": "Forged Name"}),
        (
            "/settings/password",
            {"current_password": PASSWORD, "new_password": "x" * 10, "new_password2": "x" * 10},
        ),
    ]:
        for token in (None, "0" * 64):
            sent = web.http.post(path, data={**data, **({"csrf_token": token} if token else {})})
            assert sent.status_code == 403, (path, token)
            assert sent.headers["X-Error-Code"] == "Forbidden" and "CSRF" in sent.text
    assert _token_ids(web) == {}
    assert web.get(f"/{org}").status_code == 404
    assert "Forged Name" not in web.get("/settings/profile").text
    assert web.whoami() == name  # the password was not changed: the session still stands
    probe = WebClient(web_hub)
    assert probe.sign_in(name, PASSWORD).status_code == 303
    probe.close()


# -- tokens --------------------------------------------------------------------------------------------------
def test_a_token_is_shown_once_listed_without_its_secret_and_revoked(
    web_hub: HubServer, me: tuple[str, WebClient]
) -> None:
    name, web = me
    made = _create_token(web, name="laptop", role="write")
    assert made.status_code == 200, made.text[:2000]
    found = SECRET.search(made.text)
    assert found, made.text[:3000]
    secret = found.group(1)
    assert "shown only this once" in made.text and 'data-copy="new-token-secret"' in made.text
    assert made.headers["cache-control"] == "no-store"
    who = _whoami(web_hub, secret)
    assert who.status_code == 200 and who.json()["name"] == name
    assert who.json()["auth"]["accessToken"] == {
        "displayName": "laptop",
        "role": "write",
        "createdAt": who.json()["auth"]["accessToken"]["createdAt"],
    }
    listing = web.get("/settings/tokens")
    assert listing.status_code == 200
    assert secret not in listing.text and secret[4:] not in listing.text
    text = _text(listing.text)
    assert "laptop Write all your repos" in text
    # The list shows when a token was last used (the whoami call above used it).
    assert "never" not in text.split("laptop", 1)[1].split("Revoke", 1)[0]
    for page in ("/settings/profile", "/settings/organizations", "/"):
        assert secret not in web.get(page).text
    ids = _token_ids(web)
    assert list(ids) == ["laptop"]

    revoked = web.submit("/settings/tokens", "/settings/tokens/revoke", {"token_id": ids["laptop"]})
    assert revoked.status_code == 303 and revoked.headers["location"] == "/settings/tokens?revoked=1"
    gone = _whoami(web_hub, secret)
    assert gone.status_code == 401
    assert _token_ids(web) == {}
    assert "The token was revoked" in web.get(revoked.headers["location"]).text
    again = web.submit("/settings/tokens", "/settings/tokens/revoke", {"token_id": ids["laptop"]})
    assert again.status_code == 404 and again.headers["X-Error-Code"] == "NotFound"


def test_someone_elses_token_cannot_be_revoked(web_hub: HubServer, me: tuple[str, WebClient]) -> None:
    _, web = me
    other = WebClient(web_hub)
    other.sign_up(unique("victim"))
    secret = SECRET.search(_create_token(other, name="theirs", role="read").text)
    assert secret
    their_id = _token_ids(other)["theirs"]
    refused = web.submit("/settings/tokens", "/settings/tokens/revoke", {"token_id": their_id})
    assert refused.status_code == 404
    assert _whoami(web_hub, secret.group(1)).status_code == 200
    other.close()


def test_fine_grained_tokens_from_the_form(web_hub: HubServer, me: tuple[str, WebClient]) -> None:
    name, web = me
    made = _create_token(
        web,
        name="ci",
        role="fineGrained",
        scope1_target="model",
        scope1_name=f"{name}/bert",
        scope1_permission="write",
        scope3_target="namespace",
        scope3_name=name,
        scope3_permission="read",
        scope4_target="dataset",
        scope4_name=f"{name}/corpus",
        scope4_permission="read",
    )
    assert made.status_code == 200, made.text[:2000]
    secret = SECRET.search(made.text)
    assert secret
    scoped = _whoami(web_hub, secret.group(1)).json()["auth"]["accessToken"]["fineGrained"]["scoped"]
    assert [(s["entity"]["name"], s["permissions"]) for s in scoped] == [
        (f"{name}/bert", ["repo.content.read", "repo.write"]),
        (name, ["repo.content.read"]),
        (f"{name}/corpus", ["repo.content.read"]),
    ]
    text = _text(web.get("/settings/tokens").text)
    assert f"ci Fine-grained repo:model/{name}/bert:write namespace:{name}:read" in text
    assert f"repo:dataset/{name}/corpus:read" in text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "role": "write"}, "Give the token a name"),
        ({"name": "x", "role": "admin"}, "Choose a read, write or fine-grained token"),
        ({"name": "x", "role": "fineGrained"}, "needs at least one repo or namespace"),
        ({"name": "x", "role": "write", "scope1_name": "a/b"}, "only for fine-grained tokens"),
        ({"name": "x", "role": "fineGrained", "scope2_name": "not a repo"}, "Scope 2: invalid scope"),
        (
            {"name": "x", "role": "fineGrained", "scope1_name": "a/b", "scope1_permission": "admin"},
            "Scope 1: invalid scope permission",
        ),
        ({"name": "x" * 256, "role": "read"}, "1-255 characters"),
    ],
)
def test_bad_token_forms_are_refused_and_make_nothing(
    me: tuple[str, WebClient], fields: dict[str, str], message: str
) -> None:
    _, web = me
    answer = _create_token(web, **fields)
    assert answer.status_code == 400 and answer.headers["X-Error-Code"] == "BadRequest"
    assert message in unescape(answer.text) and 'role="alert"' in answer.text
    assert 'id="new-token-secret"' not in answer.text
    assert f'value="{fields["name"]}"' in answer.text  # the form keeps what was typed
    assert _token_ids(web) == {}


# -- profile and password ------------------------------------------------------------------------------------
def test_profile_edit(web_hub: HubServer, me: tuple[str, WebClient]) -> None:
    name, web = me
    page = web.get("/settings/profile")
    assert f'name="fullname" type="text" autocomplete="name" maxlength="255" value="{name}"' in page.text
    saved = web.submit(
        "/settings/profile", "/settings/profile", {"fullname": "Ada Lovelace", "email": "ada@example.org"}
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/settings/profile?done=saved"
    after = web.get(saved.headers["location"]).text
    assert (
        'value="Ada Lovelace"' in after
        and 'value="ada@example.org"' in after
        and "Your profile was saved" in after
    )
    secret = SECRET.search(_create_token(web, name="p", role="read").text)
    assert secret
    who = _whoami(web_hub, secret.group(1)).json()
    assert (who["fullname"], who["email"]) == ("Ada Lovelace", "ada@example.org")

    bad = web.submit(
        "/settings/profile", "/settings/profile", {"fullname": "Someone Else", "email": "not-an-address"}
    )
    assert bad.status_code == 400 and "is not an e-mail address" in unescape(bad.text)
    assert 'value="Someone Else"' in bad.text  # shown again as typed, but not saved
    assert 'value="Ada Lovelace"' in web.get("/settings/profile").text
    long = web.submit("/settings/profile", "/settings/profile", {"fullname": "x" * 300, "email": ""})
    assert long.status_code == 400 and "at most 255 characters" in long.text

    cleared = web.submit("/settings/profile", "/settings/profile", {"fullname": "", "email": ""})
    assert cleared.status_code == 303
    who = _whoami(web_hub, secret.group(1)).json()
    assert (who["fullname"], who["email"]) == (name, None)


def test_password_change_needs_the_current_password(web_hub: HubServer, me: tuple[str, WebClient]) -> None:
    name, web = me
    elsewhere = WebClient(web_hub)
    assert elsewhere.sign_in(name).status_code == 303

    wrong = web.submit(
        "/settings/profile",
        "/settings/password",
        {"current_password": "not my password", "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert wrong.status_code == 401 and wrong.headers["X-Error-Code"] == "InvalidCredentials"
    assert "Your current password is not right" in wrong.text and 'role="alert"' in wrong.text
    assert NEW_PASSWORD not in wrong.text and "not my password" not in wrong.text
    differ = web.submit(
        "/settings/profile",
        "/settings/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "!"},
    )
    assert differ.status_code == 400 and "not the same" in differ.text
    short = web.submit(
        "/settings/profile",
        "/settings/password",
        {"current_password": PASSWORD, "new_password": "short", "new_password2": "short"},
    )
    assert short.status_code == 400 and "8-1024 characters" in short.text
    probe = WebClient(web_hub)
    assert probe.sign_in(name, PASSWORD).status_code == 303  # nothing was changed so far
    probe.close()

    changed = web.submit(
        "/settings/profile",
        "/settings/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/settings/profile?done=password"
    assert web.whoami() == name  # this browser got a new session
    assert "Your password was changed" in web.get(changed.headers["location"]).text
    assert elsewhere.whoami() is None  # every other session ended
    fresh = WebClient(web_hub)
    assert fresh.sign_in(name, PASSWORD).status_code == 401
    assert fresh.sign_in(name, NEW_PASSWORD).status_code == 303
    fresh.close()
    elsewhere.close()


def test_wrong_current_passwords_count_towards_the_sign_in_limit(
    web_hub: HubServer, me: tuple[str, WebClient]
) -> None:
    name, web = me
    form = {"current_password": "guess", "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    statuses = [web.submit("/settings/profile", "/settings/password", form).status_code for _ in range(5)]
    assert statuses == [401] * 5
    limited = web.submit("/settings/profile", "/settings/password", {**form, "current_password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in limited.text
    probe = WebClient(web_hub)
    assert probe.sign_in(name, PASSWORD).status_code == 429  # the same limit as the sign-in form
    probe.close()


# -- organizations -------------------------------------------------------------------------------------------
def test_organizations_members_and_roles(web_hub: HubServer, me: tuple[str, WebClient]) -> None:
    name, web = me
    org = unique("org")
    made = web.submit("/organizations/new", "/organizations/new", {"name": org, "fullname": "Acme Research"})
    assert made.status_code == 303 and made.headers["location"] == f"/organizations/{org}/members"
    assert _members(web, org) == {name: "admin"}
    mine = _text(web.get("/settings/organizations").text)
    assert f"{org} Acme Research admin Manage members" in mine
    assert f'href="/organizations/{org}/members"' in web.get(f"/{org}").text  # the org's page links here
    taken = web.submit("/organizations/new", "/organizations/new", {"name": org})
    assert taken.status_code == 409 and "already taken" in taken.text
    bad = web.submit("/organizations/new", "/organizations/new", {"name": "no spaces"})
    assert bad.status_code == 400 and 'value="no spaces"' in bad.text

    bob = unique("bob")
    bob_web = WebClient(web_hub)
    bob_web.sign_up(bob)
    page = f"/organizations/{org}/members"
    added = web.submit(page, page, {"username": bob, "role": "read"})
    assert added.status_code == 303 and added.headers["location"] == page
    assert _members(web, org) == {name: "admin", bob: "read"}
    assert f"{org} Acme Research read See members" in _text(bob_web.get("/settings/organizations").text)

    # A member who is not an admin sees the list, without the forms, and cannot change it.
    seen = bob_web.get(page)
    assert seen.status_code == 200 and "Add a member" not in seen.text and "Change role" not in seen.text
    assert _members(bob_web, org) == {name: "admin", bob: "read"}
    carol = unique("carol")
    carol_web = WebClient(web_hub)
    carol_web.sign_up(carol)
    carol_web.close()
    refused = bob_web.submit(page, page, {"username": carol, "role": "admin"})
    assert refused.status_code == 403 and f"Only admins of {org}" in refused.text
    refused = bob_web.submit(page, f"{page}/remove", {"username": name})
    assert refused.status_code == 403
    assert _members(web, org) == {name: "admin", bob: "read"}

    promoted = web.submit(page, page, {"username": bob, "role": "write"})
    assert promoted.status_code == 303
    assert _members(web, org) == {name: "admin", bob: "write"}
    unknown = web.submit(page, page, {"username": unique("nobody"), "role": "read"})
    assert unknown.status_code == 404 and "no user named" in unknown.text
    wrong_role = web.submit(page, page, {"username": bob, "role": "owner"})
    assert wrong_role.status_code == 400 and "invalid role" in unescape(wrong_role.text)

    # The last admin stays: neither removed nor demoted, with the service's message.
    for action, data in (
        (f"{page}/remove", {"username": name}),
        (page, {"username": name, "role": "write", "row": "1"}),
    ):
        kept = web.submit(page, action, data)
        assert kept.status_code == 409 and kept.headers["X-Error-Code"] == "Conflict"
        assert "an organization needs at least one admin" in kept.text and 'role="alert"' in kept.text
        assert 'id="add-username" name="username" type="text" required value=""' in kept.text
    assert _members(web, org) == {name: "admin", bob: "write"}

    removed = web.submit(page, f"{page}/remove", {"username": bob})
    assert removed.status_code == 303
    assert _members(web, org) == {name: "admin"}
    assert org not in bob_web.get("/settings/organizations").text
    not_member = web.submit(page, f"{page}/remove", {"username": bob})
    assert not_member.status_code == 404 and "is not a member" in not_member.text
    assert web.get(f"/organizations/{unique('ghost')}/members").status_code == 404
    assert web.get(f"/organizations/{name}/members").status_code == 404  # a user is not an org
    bob_web.close()


def test_an_org_made_in_the_browser_owns_repos(web_hub: HubServer, me: tuple[str, WebClient]) -> None:
    _, web = me
    org = unique("labs")
    assert web.submit("/organizations/new", "/organizations/new", {"name": org}).status_code == 303
    assert f'<option value="{org}"' in web.get("/new").text
    made = web.submit("/new", "/new", {"owner": org, "name": "model", "type": "model"})
    assert made.status_code == 303 and made.headers["location"] == f"/{org}/model"
