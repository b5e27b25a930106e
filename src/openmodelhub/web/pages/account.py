"""Sign in, sign out and sign up."""

from starlette.responses import Response

from openmodelhub.services.errors import HubError, InvalidCredentials, TooManyRequests
from openmodelhub.web import urls
from openmodelhub.web.context import Page
from openmodelhub.web.routes import page


@page("/login", methods=("GET", "POST"))
def login(p: Page) -> Response:
    next_url = urls.safe_next(p.field("next") or p.query("next"))
    if p.request.method == "GET":
        if p.principal is not None:
            return p.redirect(next_url)
        return p.render("login.html", next=next_url, error=None, username="")
    username = p.field("username").strip()
    try:
        cookie, who = p.svc.sessions.sign_in(username, p.field("password"), p.client_ip)
    except (InvalidCredentials, TooManyRequests) as exc:
        return p.form_error("login.html", exc, next=next_url, username=username)
    # A new session id at every sign-in: whatever cookie the browser had (planted or stale) is dropped.
    p.svc.sessions.end(p.cookie)
    p.set_session(cookie, who)
    return p.redirect(next_url)


@page("/logout", methods=("GET", "POST"))
def logout(p: Page) -> Response:
    if p.request.method == "GET":
        if p.principal is None:
            return p.redirect("/")
        return p.render("logout.html")
    p.svc.sessions.end(p.cookie)
    p.set_session(p.svc.sessions.new_cookie_value(), None)
    return p.redirect("/")


@page("/join", methods=("GET", "POST"))
def join(p: Page) -> Response:
    mode = p.svc.hub.settings.registration
    values = {"username": "", "email": "", "fullname": "", "invite": p.query("invite")}
    if p.principal is not None:
        return p.redirect("/")
    if p.request.method == "GET" or mode == "admin":
        return p.render(
            "join.html", mode=mode, error=None, values=values, status=200 if mode != "admin" else 403
        )
    values = {k: p.field(k).strip() for k in values}
    password = p.field("password")
    if password != p.field("password2"):
        return p.render(
            "join.html", status=400, mode=mode, error="The two passwords are not the same", values=values
        )
    try:
        user = p.svc.auth.register(
            None,
            values["username"],
            password=password,
            email=values["email"] or None,
            fullname=values["fullname"],
            invite=values["invite"] or None,
        )
    except HubError as exc:
        return p.form_error("join.html", exc, mode=mode, values=values)
    cookie, who = p.svc.sessions.start(user.id)
    p.svc.sessions.end(p.cookie)
    p.set_session(cookie, who)
    return p.redirect("/")
