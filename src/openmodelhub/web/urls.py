"""URLs of the web UI's pages. Revisions are one percent-encoded segment (`refs%2Fpr%2F1`), file paths keep
their '/', as in the Hub's own URLs; routes.py decodes them the same way."""

from typing import Any
from urllib.parse import quote, urlencode

from openmodelhub.protocol.names import DEFAULT_BRANCH, RepoType


def _rev(rev: str) -> str:
    return quote(rev, safe="")


def _path(path: str) -> str:
    return quote(path.strip("/"), safe="/")


def repo(r: Any) -> str:
    """The page of a repo (a db Repo, or anything with `type`, `namespace` and `name`)."""
    return f"/{RepoType(r.type).url_prefix}{quote(r.namespace)}/{quote(r.name)}"


def repo_by_id(repo_type: str, repo_id: str) -> str:
    return f"/{RepoType(repo_type).url_prefix}{quote(repo_id, safe='/')}"


def tree(r: Any, rev: str = DEFAULT_BRANCH, path: str = "") -> str:
    tail = f"/{_path(path)}" if path.strip("/") else ""
    return f"{repo(r)}/tree/{_rev(rev)}{tail}"


def blob(r: Any, rev: str, path: str) -> str:
    return f"{repo(r)}/blob/{_rev(rev)}/{_path(path)}"


def raw(r: Any, rev: str, path: str) -> str:
    """A browser download (the signed-in user's session counts, unlike /resolve which needs a token)."""
    return f"{repo(r)}/raw/{_rev(rev)}/{_path(path)}"


def commits(r: Any, rev: str = DEFAULT_BRANCH, page: int = 1) -> str:
    url = f"{repo(r)}/commits/{_rev(rev)}"
    return f"{url}?{urlencode({'p': page})}" if page > 1 else url


def commit(r: Any, oid: str) -> str:
    return f"{repo(r)}/commit/{oid}"


def upload(r: Any, rev: str = DEFAULT_BRANCH, path: str = "") -> str:
    tail = f"/{_path(path)}" if path.strip("/") else ""
    return f"{repo(r)}/upload/{_rev(rev)}{tail}"


def edit(r: Any, rev: str, path: str) -> str:
    return f"{repo(r)}/edit/{_rev(rev)}/{_path(path)}"


def new_file(r: Any, rev: str = DEFAULT_BRANCH, path: str = "") -> str:
    tail = f"/{_path(path)}" if path.strip("/") else ""
    return f"{repo(r)}/new/{_rev(rev)}{tail}"


def settings(r: Any) -> str:
    return f"{repo(r)}/settings"


def access_requests(r: Any, status: str | None = None, page: int = 1) -> str:
    url = f"{repo(r)}/access-requests"
    query = [(k, v) for k, v in (("status", status), ("p", page if page > 1 else None)) if v]
    return f"{url}?{urlencode(query)}" if query else url


def gate(r: Any) -> str:
    """Where the access form of a gated repo is sent (not `/ask-access`: that is the API's own path)."""
    return f"{repo(r)}/gate"


def namespace(name: str) -> str:
    return f"/{quote(name)}"


def listing(repo_type: str, **params: Any) -> str:
    base = "/datasets" if repo_type == RepoType.DATASET.value else "/models"
    query = [(k, v) for k, v in params.items() if v not in (None, "", [])]
    flat: list[tuple[str, Any]] = []
    for k, v in query:
        flat.extend((k, item) for item in v) if isinstance(v, list) else flat.append((k, v))
    return f"{base}?{urlencode(flat)}" if flat else base


def login(next_url: str | None = None) -> str:
    return f"/login?{urlencode({'next': next_url})}" if next_url else "/login"


def safe_next(value: str | None, default: str = "/") -> str:
    """A redirect target after sign-in: a path on this hub only (no `//host`, no scheme: no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return default
    if any(c in value for c in "\\\r\n\t"):
        return default
    return value


def discussions(r: Any, status: str = "", kind: str = "", page: int = 1) -> str:
    """The Community tab: discussions and pull requests, optionally filtered (`status`, `kind`)."""
    query = [(k, v) for k, v in (("status", status), ("type", kind), ("p", page if page > 1 else "")) if v]
    url = f"{repo(r)}/discussions"
    return f"{url}?{urlencode(query)}" if query else url


def new_discussion(r: Any) -> str:
    return f"{repo(r)}/discussions/new"


def discussion(r: Any, num: int, files: bool = False) -> str:
    """A discussion or pull request; with `files`, the pull request's "Files changed" view."""
    return f"{repo(r)}/discussions/{int(num)}" + ("/files" if files else "")


def discussion_action(r: Any, num: int, action: str) -> str:
    """Where a discussion's forms post: comment, status, title, merge, comment/{id}/edit..."""
    return f"{discussion(r, num)}/{action}"


def settings_profile() -> str:
    return "/settings/profile"


def settings_tokens() -> str:
    return "/settings/tokens"


def settings_orgs() -> str:
    return "/settings/organizations"


def new_org() -> str:
    return "/organizations/new"


def org_members(org: str) -> str:
    return f"/organizations/{quote(org)}/members"
