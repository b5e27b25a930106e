"""Changing repos from the browser: a new repo, uploading files, editing or creating a text file. Each
change is one commit through services/commits.py, or a pull request (`create_pr`) whose page the browser
lands on. Those who may not write to a repo may still edit its files: their change opens a pull request."""

from starlette.responses import Response

from openmodelhub.protocol.names import RepoType
from openmodelhub.services.auth import Access, namespace_access
from openmodelhub.services.browse import UploadedFile
from openmodelhub.services.commits import CommitResult
from openmodelhub.services.errors import BadRequest, HubError
from openmodelhub.web import urls
from openmodelhub.web.context import Page
from openmodelhub.web.pages.repo import RepoView, repo_view
from openmodelhub.web.routes import page, repo_page


def _require_commit_or_pr(p: Page, view: RepoView) -> bool:
    """Writers may commit; anyone else who may open pull requests may edit, as a pull request (True)."""
    if view.can_write:
        p.svc.repos.auth.require_write(p.principal, view.repo)
        return False
    p.svc.discussions.require_contribute(p.principal, view.repo)
    return True


def _after_commit(p: Page, view: RepoView, result: CommitResult, fallback: str) -> Response:
    """Where a browser commit lands: the pull request it opened, or `fallback` (the file or folder)."""
    if result.pr_num is not None:
        return p.redirect(urls.discussion(view.repo, result.pr_num))
    return p.redirect(fallback)


def _owners(p: Page) -> list[str]:
    who = p.require_user()
    names = [who.name, *(org for org, _ in who.orgs)]
    return [n for n in names if namespace_access(who, n) >= Access.WRITE]


@page("/new", methods=("GET", "POST"), auth=True)
def new_repo(p: Page) -> Response:
    who = p.require_user()
    owners = _owners(p)
    values = {
        "owner": p.field("owner") or p.query("owner") or who.name,
        "name": p.field("name").strip(),
        "type": p.field("type") or p.query("type") or "model",
        "visibility": p.field("visibility") or "public",
    }
    if p.request.method == "GET":
        return p.render("new_repo.html", owners=owners, values=values, error=None)
    try:
        if values["type"] not in ("model", "dataset"):
            raise BadRequest("Choose a model or a dataset repo")
        if values["visibility"] not in ("public", "private"):
            raise BadRequest("Choose public or private")
        repo = p.svc.repos.create(
            who, RepoType(values["type"]), values["name"], values["owner"], values["visibility"] == "private"
        )
    except HubError as exc:
        return p.form_error("new_repo.html", exc, owners=owners, values=values)
    return p.redirect(urls.repo(repo))


@repo_page("upload/{rev}/{*path}", methods=("GET", "POST"), auth=True)
def upload(p: Page, repo_type: RepoType, ns: str, name: str, rev: str, path: str) -> Response:
    p.require_user()
    view = repo_view(
        p, repo_type, ns, name, tab="files", rev=rev, switch=lambda r, ref: urls.upload(r, ref, path)
    )
    p.svc.repos.auth.require_write(p.principal, view.repo)
    folder = (p.field("folder") if p.request.method == "POST" else path).strip().strip("/")
    values = {"folder": folder, "summary": p.field("summary"), "description": p.field("description")}
    if p.request.method == "GET":
        return p.render("upload.html", view=view, values=values, error=None)
    sent = p.files("files")
    try:
        files = []
        for f in sent:
            f.file.seek(0, 2)
            size = f.file.tell()
            f.file.seek(0)
            # Browsers send a bare file name (a relative path for folder uploads); the folder goes first.
            target = "/".join(x for x in (folder, (f.filename or "").lstrip("/")) if x)
            files.append(UploadedFile(path=target, stream=f.file, size=size))
        summary = (
            values["summary"].strip()
            or (f"Upload {files[0].path}" if len(files) == 1 else f"Upload {len(files)} files")
            if files
            else ""
        )
        result = p.svc.browse.commit_files(
            p.principal,
            view.repo,
            rev,
            files,
            summary,
            values["description"],
            create_pr=p.field("create_pr") == "1",
        )
    except HubError as exc:
        return p.form_error("upload.html", exc, view=view, values=values)
    return _after_commit(p, view, result, urls.tree(view.repo, rev, folder))


@repo_page("edit/{rev}/{*path}", methods=("GET", "POST"), auth=True)
def edit(p: Page, repo_type: RepoType, ns: str, name: str, rev: str, path: str) -> Response:
    p.require_user()
    view = repo_view(
        p, repo_type, ns, name, tab="files", rev=rev, switch=lambda r, ref: urls.edit(r, ref, path)
    )
    pr_only = _require_commit_or_pr(p, view)
    if p.request.method == "GET":
        current = p.svc.browse.editable_text(p.principal, view.repo, rev, path)
        values = {
            "path": path,
            "content": current.text,
            "summary": "",
            "description": "",
            "parent": current.commit,
        }
        return p.render(
            "edit.html",
            view=view,
            values=values,
            error=None,
            creating=False,
            pr_only=pr_only,
        )
    return _save(p, view, rev, creating=False, original=path, pr_only=pr_only)


@repo_page("new/{rev}/{*path}", methods=("GET", "POST"), auth=True)
def new_file(p: Page, repo_type: RepoType, ns: str, name: str, rev: str, path: str) -> Response:
    p.require_user()
    view = repo_view(
        p, repo_type, ns, name, tab="files", rev=rev, switch=lambda r, ref: urls.new_file(r, ref, path)
    )
    pr_only = _require_commit_or_pr(p, view)
    if p.request.method == "GET":
        folder = path.strip("/")
        values = {
            "path": p.query("path") or (f"{folder}/" if folder else ""),
            "content": "",
            "summary": "",
            "description": "",
            "parent": p.svc.repos.branch_head(view.repo, rev),
        }
        return p.render(
            "edit.html",
            view=view,
            values=values,
            error=None,
            creating=True,
            pr_only=pr_only,
        )
    return _save(p, view, rev, creating=True, original=None, pr_only=pr_only)


def _save(
    p: Page, view: RepoView, rev: str, *, creating: bool, original: str | None, pr_only: bool = False
) -> Response:
    values = {k: p.field(k) for k in ("path", "content", "summary", "description", "parent")}
    path = values["path"].strip().strip("/") if creating else (original or "")
    content = values["content"]
    # Browsers send textarea lines with CRLF; files keep the newlines they had (LF unless they used CRLF).
    keep_crlf = False
    if not creating:
        try:
            keep_crlf = "\r\n" in (p.svc.browse.editable_text(p.principal, view.repo, rev, path).text or "")
        except HubError:
            keep_crlf = False
    if not keep_crlf:
        content = content.replace("\r\n", "\n")
    action = "Create" if creating else "Update"
    try:
        if creating and not path:
            raise BadRequest("Give the new file a name")
        if creating and p.svc.browse.exists(view.repo, rev, path):
            raise BadRequest(f"{path} already exists: open it and edit it instead")
        result = p.svc.browse.commit_text(
            p.principal,
            view.repo,
            rev,
            path,
            content,
            values["summary"].strip() or f"{action} {path}",
            values["description"],
            parent_commit=values["parent"] or None,
            create_pr=pr_only or p.field("create_pr") == "1",
        )
    except HubError as exc:
        return p.form_error(
            "edit.html",
            exc,
            view=view,
            values=values,
            creating=creating,
            pr_only=pr_only,
        )
    return _after_commit(p, view, result, urls.blob(view.repo, rev, path))
