"""The Community tab: a repo's discussions and pull requests (docs/collaboration.md).

Pages: the list (filtered by status and type), a form for a new discussion, one discussion or pull request
with its events in order and the forms to act on it, and a pull request's "Files changed". Every action is
a POST form (CSRF-checked in web/app.py) that calls services/discussions.py or services/merge.py, which
decide who may do what; the page only hides the buttons a user could not use. A refused or failed action
(a merge conflict, an empty comment) shows the same page again with the error, and changes nothing.
"""

from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from openmodelhub.protocol.names import RepoType
from openmodelhub.services.discussions import (
    OPEN_STATES,
    PAGE_SIZE,
    CommentView,
    DiscussionView,
    EventView,
    comment_view,
)
from openmodelhub.services.errors import HubError, NotFound
from openmodelhub.services.repos import HEADS
from openmodelhub.web import urls
from openmodelhub.web.context import Page
from openmodelhub.web.pages.repo import REPO_TABS, RepoView, Tab, repo_view
from openmodelhub.web.routes import repo_page

STATUS_CHOICES = (("open", "Open"), ("closed", "Closed"), ("all", "All"))
KIND_CHOICES = (("all", "All"), ("discussion", "Discussions"), ("pull_request", "Pull requests"))
STATUS_LABELS = {"open": "Open", "closed": "Closed", "merged": "Merged", "draft": "Draft"}

# After "Commits", before the admin tabs (settings, access requests) whichever module registers first.
_admin = [i for i, t in enumerate(REPO_TABS) if t.key in ("settings", "requests")]
REPO_TABS.insert(_admin[0] if _admin else len(REPO_TABS), Tab("community", "Community", urls.discussions))


@dataclass(frozen=True)
class EventRow:
    """One event as the thread shows it, with what the viewer may do to it (comments only)."""

    event: EventView
    comment: CommentView | None = None
    can_edit: bool = False
    can_hide: bool = False


@dataclass(frozen=True)
class Allowed:
    """The forms a viewer sees on a discussion (the services check every action again)."""

    comment: bool = False
    rename: bool = False
    close: bool = False
    reopen: bool = False
    merge: bool = False


@dataclass
class FileDiff:
    """One file of a pull request's diff: (css class, text) lines, or a note for binary files."""

    path: str
    status: str = "modified"  # added | deleted | modified
    lines: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None


def split_diff(text: str) -> tuple[list[FileDiff], bool]:
    """The services' git-style diff as files (header lines dropped), and whether it was truncated."""
    files: list[FileDiff] = []
    truncated = False
    current: FileDiff | None = None
    in_hunks = False
    for line in text.splitlines():
        if line.startswith("diff --git a/"):
            rest = line[len("diff --git ") :]  # "a/PATH b/PATH", the same PATH twice
            current = FileDiff(path=rest[2 : 2 + (len(rest) - 5) // 2])
            files.append(current)
            in_hunks = False
        elif line.startswith("# diff truncated"):
            truncated = True
        elif current is None:
            continue
        elif in_hunks:
            kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
            current.lines.append((kind, line))
        elif line.startswith("new file mode"):
            current.status = "added"
        elif line.startswith("deleted file mode"):
            current.status = "deleted"
        elif line.startswith("Binary files"):
            current.note = "Binary or large file: not shown."
        elif line.startswith("@@"):
            in_hunks = True
            current.lines.append(("hunk", line))
    return files, truncated


def _num(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 1 << 31:
        raise NotFound(f"No discussion {text!r}: discussions are numbered 1, 2, 3...")
    return int(text)


def _short_branch(ref: str | None) -> str:
    return (ref or "").removeprefix(HEADS)


def _what(d: DiscussionView) -> str:
    return "pull request" if d.is_pull_request else "discussion"


# -- the list ----------------------------------------------------------------------------------------------
@repo_page("discussions")
def community(p: Page, repo_type: RepoType, ns: str, name: str) -> Response:
    view = repo_view(p, repo_type, ns, name, tab="community")
    status = p.query("status") or "open"
    kind = p.query("type") or "all"
    number = int(p.query("p")) if p.query("p").isdigit() and int(p.query("p")) > 0 else 1
    items, total = p.svc.discussions.list_discussions(
        p.principal, view.repo, kind=kind, status=status, page=number - 1
    )
    return p.render(
        "discussions.html",
        view=view,
        items=items,
        total=total,
        state=status,  # not `status`: that is the answer's HTTP status
        kind=kind,
        number=number,
        more=number * PAGE_SIZE < total,
        status_choices=STATUS_CHOICES,
        kind_choices=KIND_CHOICES,
        labels=STATUS_LABELS,
    )


@repo_page("discussions/new", methods=("GET", "POST"), auth=True)
def new_discussion(p: Page, repo_type: RepoType, ns: str, name: str) -> Response:
    who = p.require_user()
    view = repo_view(p, repo_type, ns, name, tab="community")
    p.svc.discussions.require_contribute(who, view.repo)
    values = {"title": p.field("title"), "description": p.field("description")}
    if p.request.method == "GET":
        return p.render("discussion_new.html", view=view, values=values, error=None)
    try:
        d = p.svc.discussions.create(who, view.repo, values["title"], values["description"])
    except HubError as exc:
        return p.form_error("discussion_new.html", exc, view=view, values=values)
    return p.redirect(urls.discussion(view.repo, d.num))


# -- one discussion ----------------------------------------------------------------------------------------
@repo_page("discussions/{num}")
def discussion(p: Page, repo_type: RepoType, ns: str, name: str, num: str) -> Response:
    view = repo_view(p, repo_type, ns, name, tab="community")
    return p.render("discussion.html", **_thread(p, view, _num(num), files=False))


@repo_page("discussions/{num}/files")
def files_changed(p: Page, repo_type: RepoType, ns: str, name: str, num: str) -> Response:
    view = repo_view(p, repo_type, ns, name, tab="community")
    values = _thread(p, view, _num(num), files=True)
    if not values["d"].is_pull_request:
        return p.redirect(urls.discussion(view.repo, values["d"].num))
    return p.render("discussion.html", **values)


def _may_contribute(p: Page, view: RepoView) -> bool:
    if p.principal is None:
        return False
    try:
        p.svc.discussions.require_contribute(p.principal, view.repo)
    except HubError:
        return False
    return True


def _thread(
    p: Page, view: RepoView, num: int, *, files: bool, values: dict[str, str] | None = None
) -> dict[str, Any]:
    """What discussion.html shows: the discussion, its events, the allowed forms, the diff (`files`)."""
    d = p.svc.discussions.get(p.principal, view.repo, num, diff=files)
    me = p.principal.name if p.principal is not None else None
    contributor = _may_contribute(p, view)
    writer = view.can_write
    mine = me is not None and d.author == me
    status_changes = [e for e in d.events if e.type == "status-change"]
    closed_by = status_changes[-1].author if status_changes else None
    allowed = Allowed(
        comment=contributor,
        rename=contributor and (writer or mine),
        close=contributor and d.status in OPEN_STATES and (writer or mine),
        reopen=contributor and d.status == "closed" and (writer or (mine and closed_by == me)),
        merge=writer and d.is_pull_request and d.status in OPEN_STATES,
    )
    rows: list[EventRow] = []
    for e in d.events:
        if e.type != "comment":
            rows.append(EventRow(e))
            continue
        c = comment_view(e)
        own = me is not None and e.author == me
        rows.append(
            EventRow(
                e,
                c,
                can_edit=contributor and own and not c.hidden,
                can_hide=contributor and (own or writer) and not c.hidden,
            )
        )
    diff_files: list[FileDiff] = []
    truncated = False
    if files and d.diff is not None:
        diff_files, truncated = split_diff(d.diff)
    commits = [e for e in d.events if e.type == "commit"]
    return {
        "view": view,
        "d": d,
        "what": _what(d),
        "rows": rows,
        "allowed": allowed,
        "commits": commits,
        "target": _short_branch(d.target_branch),
        "labels": STATUS_LABELS,
        "files": files,
        "diff_files": diff_files,
        "diff_truncated": truncated,
        "values": values or {"comment": "", "title": d.title},
        "error": None,
    }


def _again(p: Page, view: RepoView, num: int, exc: HubError, values: dict[str, str]) -> Response:
    """The discussion shown again with what went wrong (the status and X-Error-Code the API gives)."""
    context = _thread(p, view, num, files=False, values=values)
    context.pop("error")
    return p.form_error("discussion.html", exc, **context)


@repo_page("discussions/{num}/{action}", methods=("POST",), auth=True)
def act(p: Page, repo_type: RepoType, ns: str, name: str, num: str, action: str) -> Response:
    """comment, status (close or reopen, with an optional comment), title, merge."""
    who = p.require_user()
    view = repo_view(p, repo_type, ns, name, tab="community")
    n = _num(num)
    svc = p.svc.discussions
    values = {"comment": p.field("comment"), "title": p.field("title")}
    anchor = ""
    try:
        if action == "comment":
            anchor = svc.comment(who, view.repo, n, values["comment"]).id
        elif action == "status":
            comment = values["comment"].strip() or None
            anchor = svc.change_status(who, view.repo, n, p.field("status"), comment).id
        elif action == "title":
            anchor = svc.rename(who, view.repo, n, values["title"]).id
        elif action == "merge":
            anchor = p.svc.merges.merge(who, view.repo, n, values["comment"].strip() or None).event.id
        else:
            raise NotFound(f"No action {action!r} on discussions")
    except HubError as exc:
        if action not in ("comment", "status", "title", "merge"):
            raise
        if action != "title":
            values["title"] = ""
        return _again(p, view, n, exc, values)
    return p.redirect(urls.discussion(view.repo, n) + (f"#event-{anchor}" if anchor else ""))


@repo_page("discussions/{num}/comment/{comment_id}/{action}", methods=("POST",), auth=True)
def comment_action(
    p: Page, repo_type: RepoType, ns: str, name: str, num: str, comment_id: str, action: str
) -> Response:
    """Edit (the author) or hide (the author and the repo's writers) one comment."""
    who = p.require_user()
    view = repo_view(p, repo_type, ns, name, tab="community")
    n = _num(num)
    if action not in ("edit", "hide"):
        raise NotFound(f"No action {action!r} on comments")
    try:
        if action == "edit":
            p.svc.discussions.edit_comment(who, view.repo, n, comment_id, p.field("content"))
        else:
            p.svc.discussions.hide_comment(who, view.repo, n, comment_id)
    except HubError as exc:
        if isinstance(exc, NotFound):
            raise
        return _again(p, view, n, exc, {"comment": "", "title": ""})
    return p.redirect(f"{urls.discussion(view.repo, n)}#event-{comment_id}")
