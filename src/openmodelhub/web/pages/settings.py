"""A signed-in user's own settings: profile and password, API tokens, organizations and their members.

Every decision stays in the services: passwords are checked through `SessionService.check_password` (so
the sign-in throttle counts wrong current passwords too), tokens through `AuthService`, memberships through
`OrgService` (only org admins manage members; an org keeps one admin at least). A new token's secret is on
the page that answers the form that made it and nowhere else: the hub keeps only its hash.
"""

from typing import Any

from starlette.responses import Response

from openmodelhub.protocol.names import RepoType
from openmodelhub.services.auth import ORG_ROLES, Access, Principal, Scope, namespace_access
from openmodelhub.services.errors import BadRequest, Forbidden, HubError, InvalidCredentials
from openmodelhub.web import urls
from openmodelhub.web.context import Page
from openmodelhub.web.routes import page

SCOPE_ROWS = 5
# The kinds of target a fine-grained scope row can name: value -> (Scope kind, repo type, label).
SCOPE_TARGETS = {
    "model": ("repo", RepoType.MODEL.value, "Model repo"),
    "dataset": ("repo", RepoType.DATASET.value, "Dataset repo"),
    "namespace": ("namespace", None, "All repos of a user or organization"),
}
TOKEN_ROLES = {"read": "Read", "write": "Write", "fineGrained": "Fine-grained"}


# -- profile and password ----------------------------------------------------------------------------------
NOTICES = {
    "saved": "Your profile was saved.",
    "password": "Your password was changed; every other session of yours was signed out.",
}


def _profile_values(who: Principal, values: dict[str, str] | None = None) -> dict[str, Any]:
    return {"who": who, "profile": values or {"fullname": who.fullname, "email": who.email or ""}}


@page("/settings/profile", methods=("GET", "POST"), auth=True)
def profile(p: Page) -> Response:
    who = p.require_user()
    if p.request.method == "GET":
        notice = NOTICES.get(p.query("done"))
        return p.render(
            "settings_profile.html", error=None, section=None, notice=notice, **_profile_values(who)
        )
    values = {"fullname": p.field("fullname").strip(), "email": p.field("email").strip()}
    try:
        p.svc.auth.update_profile(who.name, fullname=values["fullname"], email=values["email"] or None)
    except HubError as exc:
        return p.form_error(
            "settings_profile.html", exc, section="profile", notice=None, **_profile_values(who, values)
        )
    return p.redirect(f"{urls.settings_profile()}?done=saved")


@page("/settings/password", methods=("POST",), auth=True)
def change_password(p: Page) -> Response:
    """A new password, given the current one. The current password is checked like a sign-in (wrong
    ones count towards the sign-in limit of this user and address)."""
    who = p.require_user()
    new = p.field("new_password")
    try:
        if new != p.field("new_password2"):
            raise BadRequest("The two new passwords are not the same; the password was not changed")
        try:
            p.svc.sessions.check_password(who.name, p.field("current_password"), p.client_ip)
        except InvalidCredentials:
            raise InvalidCredentials(
                "Your current password is not right; the password was not changed"
            ) from None
        p.svc.auth.set_password(who.name, new)
    except HubError as exc:
        return p.form_error(
            "settings_profile.html", exc, section="password", notice=None, **_profile_values(who)
        )
    # Whoever else held a session of this account is signed out; this browser gets a new session.
    p.svc.sessions.end_all(who.user_id)
    cookie, fresh = p.svc.sessions.start(who.user_id)
    p.set_session(cookie, fresh)
    return p.redirect(f"{urls.settings_profile()}?done=password")


# -- tokens ------------------------------------------------------------------------------------------------
def _blank_token_form() -> dict[str, Any]:
    row = {"target": "model", "name": "", "permission": "read"}
    return {"name": "", "role": "read", "scopes": [dict(row) for _ in range(SCOPE_ROWS)]}


def _posted_token_form(p: Page) -> dict[str, Any]:
    rows = [
        {
            "target": p.field(f"scope{i}_target", "model"),
            "name": p.field(f"scope{i}_name").strip(),
            "permission": p.field(f"scope{i}_permission", "read"),
        }
        for i in range(1, SCOPE_ROWS + 1)
    ]
    return {"name": p.field("name").strip(), "role": p.field("role", "read"), "scopes": rows}


def _scopes(rows: list[dict[str, str]]) -> list[Scope]:
    """The scopes of the rows that name something; BadRequest names the row that is wrong."""
    out = []
    for i, row in enumerate(rows, start=1):
        if not row["name"]:
            continue
        try:
            if row["target"] not in SCOPE_TARGETS:
                raise BadRequest("choose a model repo, a dataset repo or a namespace")
            kind, repo_type, _ = SCOPE_TARGETS[row["target"]]
            out.append(Scope.make(kind, row["name"], row["permission"], repo_type))
        except BadRequest as exc:
            raise BadRequest(f"Scope {i}: {exc.message}") from exc
    return out


def _token_values(p: Page, who: Principal, form: dict[str, Any]) -> dict[str, Any]:
    return {
        "who": who,
        "form": form,
        "tokens": p.svc.auth.list_tokens(who.name),
        "targets": SCOPE_TARGETS,
        "roles": TOKEN_ROLES,
    }


@page("/settings/tokens", methods=("GET", "POST"), auth=True)
def tokens(p: Page) -> Response:
    who = p.require_user()
    if p.request.method == "GET":
        notice = "The token was revoked: it no longer works." if p.query("revoked") else None
        return p.render(
            "settings_tokens.html", error=None, notice=notice, **_token_values(p, who, _blank_token_form())
        )
    form = _posted_token_form(p)
    try:
        if not form["name"]:
            raise BadRequest("Give the token a name, to tell it apart from your other tokens")
        if form["role"] not in TOKEN_ROLES:
            raise BadRequest("Choose a read, write or fine-grained token")
        scopes = _scopes(form["scopes"])
        if form["role"] != "fineGrained" and scopes:
            raise BadRequest(
                "Repos and namespaces are only for fine-grained tokens: choose Fine-grained, "
                "or empty the scope rows"
            )
        if form["role"] == "fineGrained" and not scopes:
            raise BadRequest("A fine-grained token needs at least one repo or namespace")
        secret, info = p.svc.auth.issue_token(
            who.name, role=form["role"], display_name=form["name"], scopes=scopes
        )
    except HubError as exc:
        return p.form_error("settings_tokens.html", exc, notice=None, **_token_values(p, who, form))
    return p.render("settings_token_created.html", secret=secret, token=info, roles=TOKEN_ROLES)


@page("/settings/tokens/revoke", methods=("POST",), auth=True)
def revoke_token(p: Page) -> Response:
    who = p.require_user()
    token_id = p.field("token_id")
    try:
        if not token_id.isdigit():
            raise BadRequest("Choose a token to revoke")
        p.svc.auth.revoke_token(who.name, int(token_id))
    except HubError as exc:
        return p.form_error(
            "settings_tokens.html", exc, notice=None, **_token_values(p, who, _blank_token_form())
        )
    return p.redirect(f"{urls.settings_tokens()}?revoked=1")


# -- organizations -----------------------------------------------------------------------------------------
@page("/settings/organizations", auth=True)
def organizations(p: Page) -> Response:
    who = p.require_user()
    return p.render("settings_orgs.html", memberships=p.svc.orgs.memberships(who.user_id))


@page("/organizations/new", methods=("GET", "POST"), auth=True)
def new_org(p: Page) -> Response:
    who = p.require_user()
    values = {"name": p.field("name").strip(), "fullname": p.field("fullname").strip()}
    if p.request.method == "GET":
        return p.render("org_new.html", values=values, error=None)
    try:
        org = p.svc.orgs.create(who, values["name"], fullname=values["fullname"])
    except HubError as exc:
        return p.form_error("org_new.html", exc, values=values)
    return p.redirect(urls.org_members(org.name))


def _member_values(p: Page, who: Principal, org: str, add: dict[str, str]) -> dict[str, Any]:
    return {
        "org": p.svc.orgs.get(org),
        "members": p.svc.orgs.members(org),
        "is_admin": namespace_access(who, org) >= Access.ADMIN,
        "me": who.name,
        "roles": ORG_ROLES,
        "add": add,
    }


def _require_org_admin(who: Principal, org: str) -> None:
    """The service decides (and checks again); this only words its refusal for a signed-in person, whose
    session has every right of their account."""
    if namespace_access(who, org) < Access.ADMIN:
        raise Forbidden(f"Only admins of {org} can add, change or remove its members")


@page("/organizations/{ns}/members", methods=("GET", "POST"), auth=True)
def members(p: Page, ns: str) -> Response:
    """An org's members. Anyone signed in reads the list (the API's members list is public too); org admins
    add a member or change a role by posting a user name and a role."""
    who = p.require_user()
    add = {"username": p.field("username").strip(), "role": p.field("role", "read")}
    if p.request.method == "GET":
        return p.render("org_members.html", error=None, **_member_values(p, who, ns, add))
    try:
        _require_org_admin(who, ns)
        if not add["username"]:
            raise BadRequest("Give the user name of the member")
        p.svc.orgs.set_member(who, ns, add["username"], add["role"])
    except HubError as exc:
        if p.field("row"):  # a role menu of the list was sent: the "add" form stays empty
            add = {"username": "", "role": "read"}
        return p.form_error("org_members.html", exc, **_member_values(p, who, ns, add))
    return p.redirect(urls.org_members(ns))


@page("/organizations/{ns}/members/remove", methods=("POST",), auth=True)
def remove_member(p: Page, ns: str) -> Response:
    who = p.require_user()
    username = p.field("username").strip()
    try:
        _require_org_admin(who, ns)
        if not username:
            raise BadRequest("Choose the member to remove")
        p.svc.orgs.remove_member(who, ns, username)
    except HubError as exc:
        blank = {"username": "", "role": "read"}
        return p.form_error("org_members.html", exc, **_member_values(p, who, ns, blank))
    return p.redirect(urls.org_members(ns))
