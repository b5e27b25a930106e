"""Repo pages: the card with its metadata sidebar and 'Use this model' snippets, the file tree, the file
viewer, browser downloads, and the commit history with diffs.

`REPO_TABS` is the tab bar of every repo page; other page modules append their tabs (discussions,
settings) with a visibility test.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from starlette.responses import FileResponse, Response, StreamingResponse

from openmodelhub.db.models import Repo
from openmodelhub.protocol.names import DEFAULT_BRANCH, NameError_, RepoId, RepoType
from openmodelhub.services.auth import Access, repo_access
from openmodelhub.services.browse import EDIT_LIMIT
from openmodelhub.services.repos import HEADS, TAGS, RefInfo
from openmodelhub.web import urls
from openmodelhub.web.cards import render_markdown
from openmodelhub.web.context import Page
from openmodelhub.web.highlight import highlight_lines
from openmodelhub.web.routes import repo_page
from openmodelhub.web.snippets import snippets

HISTORY_PAGE = 50
# Raster images a card may show from its own repo (served inline; never SVG, which can hold script).
INLINE_IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    url: Callable[[Repo], str]
    visible: Callable[["RepoView"], bool] = lambda view: True


REPO_TABS: list[Tab] = [
    Tab("card", "Card", urls.repo),
    Tab("files", "Files and versions", lambda r: urls.tree(r)),
    Tab("commits", "Commits", lambda r: urls.commits(r)),
]
# Boxes shown above the card, as HTML (None: nothing to show); pages/repo_settings.py adds the access gate
# of gated repos. Each gets the page, the view and the card's metadata.
CARD_PANELS: list[Callable[[Page, "RepoView", dict[str, Any]], Markup | None]] = []


@dataclass
class RepoView:
    """What every repo page shows around its content: the header, the tabs, the revision switcher."""

    repo: Repo
    access: Access
    tab: str
    rev: str
    branches: list[RefInfo]
    tags: list[RefInfo]
    switch: Callable[[str], str]  # the same page at another revision
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def repo_id(self) -> str:
        return f"{self.repo.namespace}/{self.repo.name}"

    @property
    def can_write(self) -> bool:
        return self.access >= Access.WRITE

    @property
    def is_admin(self) -> bool:
        return self.access >= Access.ADMIN

    @property
    def tabs(self) -> list[Tab]:
        return [t for t in REPO_TABS if t.visible(self)]


def repo_view(
    p: Page, repo_type: RepoType, ns: str, name: str, *, tab: str, rev: str = DEFAULT_BRANCH,
    switch: Callable[[Repo, str], str] | None = None,
) -> RepoView:  # fmt: skip
    repo = p.svc.repos.get_readable(p.principal, repo_type, f"{ns}/{name}")
    refs = p.svc.repos.refs(repo)
    to = switch or (lambda r, ref: urls.tree(r, ref))
    return RepoView(
        repo=repo,
        access=repo_access(p.principal, repo),
        tab=tab,
        rev=rev,
        branches=[r for r in refs if r.name.startswith(HEADS)],
        tags=[r for r in refs if r.name.startswith(TAGS)],
        switch=lambda ref: to(repo, ref),
    )


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if v is not None and not isinstance(v, dict | list)]


def _repo_link(repo_type: str, repo_id: str) -> str | None:
    try:
        RepoId.parse(repo_id)
    except NameError_:
        return None
    return urls.repo_by_id(repo_type, repo_id)


def sidebar(metadata: dict[str, Any], repo: Repo) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """(label, [(text, link or None)]) rows of the metadata sidebar, from the card's YAML."""
    rows: list[tuple[str, list[tuple[str, str | None]]]] = []

    def add(label: str, items: list[tuple[str, str | None]]) -> None:
        if items:
            rows.append((label, items))

    licenses = _strings(metadata.get("license"))
    add("License", [(x, urls.listing(repo.type, license=x)) for x in licenses])
    if metadata.get("license_name"):
        add("License name", [(str(metadata["license_name"]), None)])
    add("Base model", [(x, _repo_link("model", x)) for x in _strings(metadata.get("base_model"))])
    add("Datasets", [(x, _repo_link("dataset", x)) for x in _strings(metadata.get("datasets"))])
    if repo.pipeline_tag:
        add("Task", [(repo.pipeline_tag, urls.listing(repo.type, task=repo.pipeline_tag))])
    if repo.library_name:
        add("Library", [(repo.library_name, urls.listing(repo.type, library=repo.library_name))])
    add("Languages", [(x, None) for x in _strings(metadata.get("language"))])
    plain = [t for t in (repo.tags or []) if ":" not in t and t not in (repo.pipeline_tag, repo.library_name)]
    add("Tags", [(t, urls.listing(repo.type, tag=t)) for t in plain])
    return rows


def _card_html(p: Page, repo: Repo, rev: str, commit: str) -> tuple[Any, str | None]:
    card = p.svc.browse.card(repo, commit)
    if card is None:
        return None, None
    html = render_markdown(card.body, blob_base=urls.blob(repo, rev, ""), raw_base=urls.raw(repo, rev, ""))
    return card, html


@repo_page("")
def repo_home(p: Page, repo_type: RepoType, ns: str, name: str) -> Response:
    view = repo_view(p, repo_type, ns, name, tab="card")
    repo = view.repo
    commit = p.svc.repos.resolve(repo, DEFAULT_BRANCH)
    card, card_html = _card_html(p, repo, DEFAULT_BRANCH, commit)
    metadata = card.metadata if card is not None else (repo.card_data or {})
    code = snippets(repo.type, view.repo_id, p.base_url, private=repo.private, pipeline_tag=repo.pipeline_tag)
    return p.render(
        "repo.html",
        view=view,
        card=card,
        card_html=card_html,
        sidebar=sidebar(metadata, repo),
        snippets=[(s, highlight_lines(s.code, lang=s.language)) for s in code],
        last=p.svc.files.commit_info(commit),
        panels=[x for x in (panel(p, view, metadata) for panel in CARD_PANELS) if x is not None],
    )


def _breadcrumbs(repo: Repo, rev: str, path: str) -> list[tuple[str, str]]:
    crumbs = [(repo.name, urls.tree(repo, rev))]
    parts = [x for x in path.split("/") if x]
    for i, part in enumerate(parts):
        crumbs.append((part, urls.tree(repo, rev, "/".join(parts[: i + 1]))))
    return crumbs


@repo_page("tree/{rev}/{*path}")
def tree(p: Page, repo_type: RepoType, ns: str, name: str, rev: str, path: str) -> Response:
    view = repo_view(
        p, repo_type, ns, name, tab="files", rev=rev, switch=lambda r, ref: urls.tree(r, ref, path)
    )
    repo = view.repo
    commit, items = p.svc.files.list_tree(repo, rev, path, False)
    items.sort(key=lambda i: (i.meta is not None, i.entry.path.lower()))
    xet = p.svc.browse.xet_stored([i.meta.sha256 for i in items if i.meta is not None and i.meta.is_lfs])
    card_html = None
    if not path.strip("/"):
        _, card_html = _card_html(p, repo, rev, commit)
    return p.render(
        "tree.html",
        view=view,
        path=path.strip("/"),
        commit=commit,
        last=p.svc.files.commit_info(commit),
        items=items,
        xet=xet,
        crumbs=_breadcrumbs(repo, rev, path),
        card_html=card_html,
        on_branch=any(b.short == rev for b in view.branches),
    )


@repo_page("blob/{rev}/{*path}")
def blob(p: Page, repo_type: RepoType, ns: str, name: str, rev: str, path: str) -> Response:
    view = repo_view(
        p, repo_type, ns, name, tab="files", rev=rev, switch=lambda r, ref: urls.blob(r, ref, path)
    )
    if not path:
        return p.redirect(urls.tree(view.repo, rev))
    preview = p.svc.browse.preview(p.principal, view.repo, rev, path)
    lines: list[str] = []
    if preview.text is not None:
        lines = highlight_lines(preview.text, filename=path, lang="json" if preview.kind == "json" else None)
    on_branch = any(b.short == rev for b in view.branches)
    return p.render(
        "blob.html",
        view=view,
        path=path,
        preview=preview,
        lines=lines,
        crumbs=_breadcrumbs(view.repo, rev, path),
        # Readers who are signed in may edit too: their change opens a pull request (web/pages/edit.py).
        can_edit=(view.can_write or p.principal is not None)
        and on_branch
        and preview.kind in ("text", "json")
        and preview.size <= EDIT_LIMIT,
    )


@repo_page("raw/{rev}/{*path}")
def raw(p: Page, repo_type: RepoType, ns: str, name: str, rev: str, path: str) -> Response:
    """A download for the browser: the same checks as /resolve, with the session as the caller. Content is
    never rendered by the hub's origin: attachments, except raster images (for cards), all sandboxed."""
    repo = p.svc.repos.get_readable(p.principal, repo_type, f"{ns}/{name}")
    f, warning = p.svc.browse.open_download(p.principal, repo, rev, path)
    filename = path.rsplit("/", 1)[-1]
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    image = INLINE_IMAGES.get(suffix)
    disposition = "inline" if image else "attachment"
    headers = {
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "X-Repo-Commit": f.commit,
        "Cache-Control": "private, no-cache",
    }
    if warning:
        headers["X-OMH-Security-Warning"] = (
            " ".join(warning.split())[:300].encode("latin-1", "replace").decode("latin-1")
        )
    media_type = image or "application/octet-stream"
    content = p.svc.content
    local = content.local_path(f.meta.sha256)
    if local is not None:
        return FileResponse(local, media_type=media_type, headers=headers)
    headers["Content-Length"] = str(f.meta.size)
    chunks = content.iter_range(f.meta.sha256, 0, f.meta.size)
    return StreamingResponse(chunks, media_type=media_type, headers=headers)


@repo_page("commits")
def commits_main(p: Page, repo_type: RepoType, ns: str, name: str) -> Response:
    return commits(p, repo_type, ns, name, DEFAULT_BRANCH)


@repo_page("commits/{rev}")
def commits(p: Page, repo_type: RepoType, ns: str, name: str, rev: str) -> Response:
    view = repo_view(
        p, repo_type, ns, name, tab="commits", rev=rev, switch=lambda r, ref: urls.commits(r, ref)
    )
    number = int(p.query("p")) if p.query("p").isdigit() and int(p.query("p")) > 0 else 1
    history, more = p.svc.files.history(view.repo, rev, (number - 1) * HISTORY_PAGE, HISTORY_PAGE)
    return p.render("commits.html", view=view, history=history, more=more, number=number)


@repo_page("commit/{oid}")
def commit(p: Page, repo_type: RepoType, ns: str, name: str, oid: str) -> Response:
    view = repo_view(p, repo_type, ns, name, tab="commits")
    diff = p.svc.browse.commit_diff(p.principal, view.repo, oid)
    view.rev = diff.info.oid
    return p.render("commit.html", view=view, diff=diff)
