"""A repo's settings in the browser (visibility, gating, rename or move, delete), the access requests of a
gated repo, and the gate a gated repo's card shows to readers without access.

Every decision is the services' (services/repos.py, services/access.py), so a page refuses what the API
refuses, with the same status: settings need ADMIN on the repo, access requests WRITE, and a private repo
the caller cannot read is a 404 on every page. The gate's form goes to `/{repo}/gate` (`/{repo}/ask-access`
is the API's own path, answered with JSON).
"""

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from starlette.responses import Response

from openmodelhub.db.models import Repo
from openmodelhub.protocol.names import DEFAULT_BRANCH, RepoType
from openmodelhub.services.access import REQUEST_STATUSES, GateForm, RequestView
from openmodelhub.services.auth import Access, granted_access
from openmodelhub.services.errors import BadRequest, HubError
from openmodelhub.web import urls
from openmodelhub.web.cards import render_markdown
from openmodelhub.web.context import Page
from openmodelhub.web.pages.repo import CARD_PANELS, REPO_TABS, RepoView, Tab, repo_view
from openmodelhub.web.routes import repo_page

REQUESTS_PAGE = 50
GATING: dict[str, str | bool] = {"off": False, "manual": "manual", "auto": "auto"}
DEFAULT_HEADING = "You need to agree to share your contact information to access this {kind}"
DEFAULT_BUTTON = "Agree and access repository"
SETTINGS_DONE = {
    "visibility": "Visibility saved.",
    "gating": "Gating saved.",
    "move": "The repo has a new id; links to the old one no longer work.",
}
REQUESTS_DONE = {
    "accepted": "Request accepted: the user can download the files now.",
    "rejected": "Request rejected.",
    "pending": "Request moved back to pending.",
    "granted": "Access granted.",
}

REPO_TABS.append(
    Tab("requests", "Access requests", urls.access_requests, lambda v: v.can_write and bool(v.repo.gated))
)
REPO_TABS.append(Tab("settings", "Settings", urls.settings, lambda v: v.is_admin))


def _kind(repo: Repo) -> str:
    return "dataset" if repo.type == RepoType.DATASET.value else "model"


# -- the gate ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateField:
    """One question of a gate form, as an input: `name` is the form field (`field-0`, ...)."""

    name: str
    label: str
    kind: str  # text | checkbox | date | country | select
    options: list[tuple[str, str]]  # (value, label) of a select
    value: str


@dataclass
class Gate:
    repo: Repo
    status: str | None  # None (never asked) | pending | accepted | rejected
    heading: str
    prompt_html: str | None
    description_html: str | None
    button: str
    licenses: list[tuple[str, str | None]]  # (text, link)
    fields: list[GateField]
    signed_in: bool
    error: str | None = None


def _field_kind(spec: Any) -> str:
    kind = spec if isinstance(spec, str) else spec.get("type") if isinstance(spec, dict) else None
    return {"checkbox": "checkbox", "date_picker": "date", "country": "country", "select": "select"}.get(
        str(kind), "text"
    )


def _options(spec: Any) -> list[tuple[str, str]]:
    """(value, label) pairs of a select field; the values are what services/access.py accepts."""
    out: list[tuple[str, str]] = []
    for o in (spec.get("options") if isinstance(spec, dict) else None) or []:
        if isinstance(o, dict):
            value = o.get("value", o.get("label"))
            if value is not None:
                out.append((str(value), str(o.get("label", value))))
        else:
            out.append((str(o), str(o)))
    return out


def _gate_fields(form: GateForm, answers: dict[str, str] | None = None) -> list[GateField]:
    answers = answers or {}
    return [
        GateField(
            name=f"field-{i}",
            label=label,
            kind=_field_kind(spec),
            options=_options(spec),
            value=answers.get(f"field-{i}", ""),
        )
        for i, (label, spec) in enumerate(form.fields.items())
    ]


def _licenses(repo: Repo, metadata: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The licence(s) the card declares, with its `license_link` when that is a web or in-repo link."""
    raw = metadata.get("license")
    ids = [str(x) for x in (raw if isinstance(raw, list) else [raw]) if isinstance(x, str | int | float)]
    name = metadata.get("license_name")
    link = metadata.get("license_link")
    href: str | None = None
    if isinstance(link, str) and link.strip():
        link = link.strip()
        if link.startswith(("https://", "http://")):
            href = link
        elif ":" not in link and not link.startswith("//"):
            href = urls.blob(repo, DEFAULT_BRANCH, link.lstrip("./"))
    texts = [str(name)] if isinstance(name, str) and name else ids
    return [(t, href) for t in texts]


def _gate(p: Page, view: RepoView, metadata: dict[str, Any], status: str | None, form: GateForm) -> Gate:
    repo = view.repo
    blob_base, raw_base = urls.blob(repo, DEFAULT_BRANCH, ""), urls.raw(repo, DEFAULT_BRANCH, "")

    def markdown(text: str | None) -> str | None:
        return render_markdown(text, blob_base=blob_base, raw_base=raw_base) if text else None

    return Gate(
        repo=repo,
        status=status,
        heading=form.heading or DEFAULT_HEADING.format(kind=_kind(repo)),
        prompt_html=markdown(form.prompt),
        description_html=markdown(form.description),
        button=form.button or DEFAULT_BUTTON,
        licenses=_licenses(repo, metadata),
        fields=_gate_fields(form),
        signed_in=p.principal is not None,
    )


def _render_panel(p: Page, **values: Any) -> Markup:
    return Markup(p.env.get_template("gate_panel.html").render(page=p, **values))


def gate_panel(p: Page, view: RepoView, metadata: dict[str, Any]) -> Markup | None:
    """The box above a gated repo's card: the form for readers without access, their request's status,
    or (for the repo's writers) a link to the requests. Nothing for repos that are not gated."""
    repo = view.repo
    if not repo.gated:
        return None
    if granted_access(p.principal, repo) >= Access.READ:
        return _render_panel(p, gate=None, view=view) if view.can_write else None
    form, status = p.svc.access.gate(p.principal, RepoType(repo.type), view.repo_id)
    return _render_panel(p, gate=_gate(p, view, metadata, status, form), view=view)


CARD_PANELS.append(gate_panel)


@repo_page("gate", methods=("GET", "POST"), auth=True)
def request_access(p: Page, repo_type: RepoType, ns: str, name: str) -> Response:
    """The gate's form: an access request with the answers, then back to the repo page, which shows the
    request's status (accepted at once in "auto" mode). Refused answers are shown on the form again."""
    view = repo_view(p, repo_type, ns, name, tab="card")
    if p.request.method == "GET":
        return p.redirect(urls.repo(view.repo))
    p.require_user()
    form, status = p.svc.access.gate(p.principal, repo_type, view.repo_id)
    posted = {f"field-{i}": p.field(f"field-{i}") for i in range(len(form.fields))}
    answers: dict[str, Any] = {}
    for i, (label, spec) in enumerate(form.fields.items()):
        value = posted[f"field-{i}"]
        if _field_kind(spec) == "checkbox":
            if value:
                answers[label] = value
        else:
            answers[label] = value.strip()
    try:
        p.svc.access.request_access(p.principal, repo_type, view.repo_id, answers)
    except HubError as exc:
        gate = _gate(p, view, view.repo.card_data or {}, status, form)
        gate.fields = _gate_fields(form, posted)
        gate.error = exc.message
        return p.form_error("gate.html", exc, view=view, panel=_render_panel(p, gate=gate, view=view))
    return p.redirect(urls.repo(view.repo))


# -- settings ------------------------------------------------------------------------------------------------
def _admin_view(p: Page, repo_type: RepoType, ns: str, name: str, tab: str) -> RepoView:
    """The repo's header, once the caller is known to be an admin of it (404 / 403 / 401 otherwise, as the
    API answers the same caller)."""
    p.require_user()
    p.svc.repos.get_admin(p.principal, repo_type, f"{ns}/{name}")
    return repo_view(p, repo_type, ns, name, tab=tab)


def _settings_values(view: RepoView) -> dict[str, str]:
    return {
        "visibility": "private" if view.repo.private else "public",
        "gated": str(view.repo.gated or "off"),
        "new_id": view.repo_id,
        "confirm": "",
    }


@repo_page("settings", methods=("GET", "POST"), auth=True)
def settings(p: Page, repo_type: RepoType, ns: str, name: str) -> Response:
    view = _admin_view(p, repo_type, ns, name, "settings")
    form = _gate_fields(p.svc.access.form(view.repo))
    if p.request.method == "GET":
        done = SETTINGS_DONE.get(p.query("done"))
        return p.render(
            "repo_settings.html",
            view=view,
            values=_settings_values(view),
            failed=None,
            done=done,
            form=form,
            error=None,
        )
    action = p.field("action")
    values = {
        **_settings_values(view),
        # what this form sent; the other forms keep the repo's current values
        **{k: p.field(k) for k in ("visibility", "gated", "new_id", "confirm") if p.form and k in p.form},
    }
    repo_id = view.repo_id
    try:
        if action == "visibility":
            if values["visibility"] not in ("public", "private"):
                raise BadRequest("Choose public or private")
            p.svc.repos.update_settings(
                p.principal, repo_type, repo_id, private=values["visibility"] == "private", gated=None
            )
        elif action == "gating":
            if values["gated"] not in GATING:
                raise BadRequest("Choose off, manual or automatic approval")
            p.svc.repos.update_settings(
                p.principal, repo_type, repo_id, private=None, gated=GATING[values["gated"]]
            )
        elif action == "move":
            new_id = values["new_id"].strip()
            if new_id and "/" not in new_id:
                new_id = f"{view.repo.namespace}/{new_id}"  # a new name in the same namespace
            if new_id == repo_id:
                raise BadRequest(f"{repo_id} is already this repo's id: type a new one")
            moved = p.svc.repos.move(p.principal, repo_type, repo_id, new_id)
            return p.redirect(f"{urls.settings(moved)}?done=move")
        elif action == "delete":
            if values["confirm"].strip() != repo_id:
                raise BadRequest(f"Type {repo_id} exactly to confirm; nothing was deleted")
            p.svc.repos.delete(p.principal, repo_type, repo_id)
            return p.redirect(urls.namespace(view.repo.namespace))
        else:
            raise BadRequest("Unknown settings action: use the forms on this page")
    except HubError as exc:
        return p.form_error(
            "repo_settings.html", exc, view=view, values=values, failed=action, done=None, form=form
        )
    return p.redirect(f"{urls.settings(view.repo)}?done={action}")


# -- access requests -----------------------------------------------------------------------------------------
@dataclass
class RequestList:
    status: str
    items: list[RequestView] = field(default_factory=list)
    more: bool = False


def _requests(p: Page, view: RepoView, only: str | None, number: int) -> list[RequestList]:
    out = []
    for status in REQUEST_STATUSES if only is None else (only,):
        offset = (number - 1) * REQUESTS_PAGE if only else 0
        items, more = p.svc.access.list_requests(
            p.principal, RepoType(view.repo.type), view.repo_id, status, offset, REQUESTS_PAGE
        )
        out.append(RequestList(status, items, more))
    return out


@repo_page("access-requests", methods=("GET", "POST"), auth=True)
def access_requests(p: Page, repo_type: RepoType, ns: str, name: str) -> Response:
    """Pending, accepted and rejected requests with their answers; accept, reject, move back to pending,
    or grant access to a user by name. Open to the repo's writers, like the API."""
    p.require_user()
    p.svc.repos.get_writable(p.principal, repo_type, f"{ns}/{name}")
    view = repo_view(p, repo_type, ns, name, tab="requests")
    only = p.query("status") if p.query("status") in REQUEST_STATUSES else None
    number = int(p.query("p")) if p.query("p").isdigit() and int(p.query("p")) > 0 else 1
    grant_user = p.field("user").strip()

    def show(done: str | None = None) -> dict[str, Any]:
        lists = _requests(p, view, only, number) if view.repo.gated else []
        return {"view": view, "lists": lists, "only": only, "number": number, "grant_user": grant_user,
                "done": done}  # fmt: skip

    if p.request.method == "GET":
        return p.render(
            "repo_settings_requests.html", error=None, **show(done=REQUESTS_DONE.get(p.query("done")))
        )
    action = p.field("action")
    try:
        if action == "grant":
            if not grant_user:
                raise BadRequest("Type the name of the user to give access to")
            p.svc.access.grant(p.principal, repo_type, view.repo_id, grant_user)
            done = "granted"
        elif action in REQUEST_STATUSES:
            reason = p.field("reason").strip()
            p.svc.access.handle(
                p.principal,
                repo_type,
                view.repo_id,
                user=None,
                request=p.field("request_id"),
                status=action,
                rejection_reason=reason if reason and action == "rejected" else None,
            )
            done = action
        else:
            raise BadRequest("Unknown action: use the buttons on this page")
    except HubError as exc:
        return p.form_error("repo_settings_requests.html", exc, **show())
    back = urls.access_requests(view.repo, only, number)
    return p.redirect(f"{back}{'&' if '?' in back else '?'}done={done}")
