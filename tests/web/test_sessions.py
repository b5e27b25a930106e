"""Sessions of the web UI (docs/decisions/0007-web-sessions.md): cookie flags, a new session id at sign-in,
sign-out that revokes, CSRF on every form, the sign-in rate limit, registration modes, no open redirect."""

import re
from pathlib import Path

import httpx
import pytest

from tests.support.server import HubServer
from tests.web.support import PASSWORD, WebClient, unique

COOKIE = "omh_session"


@pytest.fixture
def web(web_hub: HubServer) -> WebClient:
    client = WebClient(web_hub)
    yield client
    client.close()


def _set_cookie(answer: httpx.Response) -> str:
    headers = [v for k, v in answer.headers.multi_items() if k.lower() == "set-cookie"]
    assert len(headers) == 1, headers
    return headers[0]


def test_session_cookie_flags(web: WebClient) -> None:
    anonymous = _set_cookie(web.get("/login"))
    assert anonymous.startswith(f"{COOKIE}=")
    assert "HttpOnly" in anonymous and "SameSite=lax" in anonymous and "Path=/" in anonymous
    assert "Secure" not in anonymous  # plain http: a Secure cookie would never come back
    assert "Max-Age" not in anonymous  # an anonymous visitor's cookie ends with the browser session
    name = unique("flags")
    signed_in = _set_cookie(web.sign_up(name))
    assert "HttpOnly" in signed_in and "SameSite=lax" in signed_in and "Max-Age=2592000" in signed_in


def test_https_public_url_makes_the_cookie_secure_and_host_only(fresh_hub: HubServer) -> None:
    fresh_hub.env["OMH_PUBLIC_URL"] = "https://hub.example.org"
    fresh_hub.start()
    answer = httpx.get(f"{fresh_hub.url}/login")
    cookie = _set_cookie(answer)
    assert cookie.startswith("__Host-omh_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie and "Domain" not in cookie


def test_sign_in_issues_a_new_session_id_and_sign_out_revokes_it(web_hub: HubServer, web: WebClient) -> None:
    name = unique("rotate")
    web.sign_up(name)
    web.submit("/", "/logout", {})
    # An attacker plants a session id in the victim's browser before they sign in (session fixation).
    web.get("/login")
    planted = web.session
    assert planted
    assert web.sign_in(name).status_code == 303
    assert web.session != planted and web.whoami() == name
    attacker = httpx.Client(base_url=web_hub.url, cookies={COOKIE: planted})
    assert 'class="nav-user"' not in attacker.get("/").text
    # Signing out deletes the session on the server: a copy of the cookie is worth nothing afterwards.
    stolen = web.session
    assert web.submit("/", "/logout", {}).status_code == 303
    assert web.whoami() is None
    thief = httpx.Client(base_url=web_hub.url, cookies={COOKIE: stolen})
    assert 'class="nav-user"' not in thief.get("/").text
    assert thief.get("/new").status_code == 303  # to the sign-in page


def test_csrf_token_missing_or_wrong_is_a_403_page(web: WebClient) -> None:
    name = unique("csrf")
    web.sign_up(name)
    token = web.csrf("/new")
    for data in (
        {},
        {"csrf_token": ""},
        {"csrf_token": "0" * 64},
        {"csrf_token": token[:-1] + ("1" if token.endswith("0") else "0")},
    ):
        answer = web.http.post("/new", data={**data, "name": "x", "owner": name, "type": "model"})
        assert answer.status_code == 403, data
        assert answer.headers["X-Error-Code"] == "Forbidden"
        assert answer.headers["content-type"].startswith("text/html")
        assert "CSRF" in answer.text and "reload the page" in answer.text
    # The same form with the right token works, and nothing was created by the refused ones.
    assert 'href="/' + name + '/x"' not in web.get(f"/{name}").text
    ok = web.http.post(
        "/new",
        data={"csrf_token": token, "name": "x", "owner": name, "type": "model", "visibility": "public"},
    )
    assert ok.status_code == 303 and ok.headers["location"] == f"/{name}/x"


def test_a_token_of_another_session_is_refused(web_hub: HubServer, web: WebClient) -> None:
    other = WebClient(web_hub)
    foreign = other.csrf("/login")  # valid, but for the other browser's cookie
    answer = web.http.post("/login", data={"csrf_token": foreign, "username": "x", "password": "y"})
    assert answer.status_code == 403
    other.close()


def test_sign_in_failures_are_limited_per_user_and_ip_across_processes(tmp_path: Path) -> None:
    first = HubServer(tmp_path / "data", env={"OMH_REGISTRATION": "open"}).start()
    second = HubServer(tmp_path / "data", env={"OMH_REGISTRATION": "open"})
    try:
        web = WebClient(first)
        name = unique("limited")
        web.sign_up(name)
        web.submit("/", "/logout", {})
        for _ in range(5):
            assert web.sign_in(name, "wrong password").status_code == 401
        refused = web.sign_in(name, PASSWORD)  # even the right password waits now
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        assert "Too many failed sign-ins" in refused.text
        # The count is in the database: another server process on the same hub refuses too.
        second.start()
        other = WebClient(second)
        assert other.sign_in(name, PASSWORD).status_code == 429
        # Per user name: another account from the same address can still sign in.
        other_name = unique("neighbour")
        other.sign_up(other_name)
        other.submit("/", "/logout", {})
        assert other.sign_in(other_name, PASSWORD).status_code == 303
        web.close()
        other.close()
    finally:
        first.stop()
        second.stop()


def test_wrong_password_and_unknown_user_get_the_same_answer(web: WebClient) -> None:
    name = unique("same")
    web.sign_up(name)
    web.submit("/", "/logout", {})
    wrong = web.sign_in(name, "not the password")
    unknown = web.sign_in(unique("nobody"), "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Invalid username or password" in wrong.text and "Invalid username or password" in unknown.text


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_no_open_redirect_after_sign_in(web: WebClient, target: str) -> None:
    name = unique("next")
    web.sign_up(name)
    web.submit("/", "/logout", {})
    answer = web.submit(
        f"/login?next={target}", "/login", {"username": name, "password": PASSWORD, "next": target}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_sign_in_returns_to_the_page_asked_for(web: WebClient) -> None:
    name = unique("back")
    web.sign_up(name)
    web.submit("/", "/logout", {})
    to_login = web.get("/new?type=dataset")
    assert to_login.status_code == 303 and to_login.headers["location"].startswith("/login?next=")
    answer = web.submit(
        to_login.headers["location"],
        "/login",
        {"username": name, "password": PASSWORD, "next": "/new?type=dataset"},
    )
    assert answer.headers["location"] == "/new?type=dataset"


def test_secrets_stay_out_of_pages_urls_and_logs(web_hub: HubServer, web: WebClient) -> None:
    name = unique("secret")
    answer = web.sign_up(name)
    cookie = web.session
    assert cookie and cookie not in answer.headers["location"]
    home = web.get("/")
    assert cookie not in home.text
    tokens = re.findall(r'name="csrf_token" value="([0-9a-f]+)"', home.text)
    assert tokens and all(t != cookie for t in tokens)
    assert "csrf" not in home.text.split('action="', 1)[-1].split('"', 1)[0]  # never in a form URL
    log = web_hub.log()
    assert cookie not in log and PASSWORD not in log


def test_registration_modes(tmp_path: Path) -> None:
    closed = HubServer(tmp_path / "closed", env={"OMH_REGISTRATION": "admin"}).start()
    try:
        page = httpx.get(f"{closed.url}/join")
        assert page.status_code == 403 and "created by its administrators" in page.text
        assert 'href="/join"' not in httpx.get(f"{closed.url}/login").text
    finally:
        closed.stop()
    invite = HubServer(tmp_path / "invite", env={"OMH_REGISTRATION": "invite"}).start()
    try:
        web = WebClient(invite)
        form = {"username": unique("inv"), "password": PASSWORD, "password2": PASSWORD}
        assert 'name="invite"' in web.get("/join").text
        no_code = web.submit("/join", "/join", {**form, "invite": ""})
        assert no_code.status_code == 403 and "invite code" in no_code.text
        code = invite.cli("user", "invite").stdout.strip().splitlines()[-1]
        assert web.submit("/join", "/join", {**form, "invite": code}).status_code == 303
        assert web.whoami() == form["username"]
        web.close()
    finally:
        invite.stop()


def test_mismatched_passwords_and_taken_names_are_explained(web: WebClient) -> None:
    name = unique("taken")
    form = {"username": name, "password": PASSWORD, "password2": PASSWORD + "x"}
    mismatch = web.submit("/join", "/join", form)
    assert mismatch.status_code == 400 and "not the same" in mismatch.text
    web.sign_up(name)
    again = WebClient(web.hub)
    taken = again.submit("/join", "/join", {**form, "password2": PASSWORD})
    assert taken.status_code == 409 and "already taken" in taken.text
    again.close()
