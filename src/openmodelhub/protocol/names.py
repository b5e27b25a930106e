"""Validation of repo ids, revisions, ref names and file paths.

These rules are the hub's first line of defence: a name that passes here is safe to use as a git tree entry,
a database key and part of a URL.
"""

import re
from dataclasses import dataclass
from enum import StrEnum


class RepoType(StrEnum):
    MODEL = "model"
    DATASET = "dataset"
    SPACE = "space"

    @property
    def plural(self) -> str:
        return f"{self.value}s"

    @property
    def url_prefix(self) -> str:
        """Prefix of web and download URLs: none for models, `datasets/` for datasets."""
        return "" if self is RepoType.MODEL else f"{self.plural}/"


REPO_TYPES_BY_PLURAL = {t.plural: t for t in RepoType}

_NAME_PART = re.compile(r"^[A-Za-z0-9_.-]{1,96}\Z")  # `\Z`: `$` would accept a trailing newline
DEFAULT_BRANCH = "main"
MAX_PATH_BYTES = 4096


class NameError_(ValueError):
    """A name that breaks the rules; the message says which rule."""


def validate_name_part(part: str, what: str = "name") -> str:
    if not _NAME_PART.match(part):
        raise NameError_(f"invalid {what} {part!r}: use 1-96 characters from A-Z a-z 0-9 _ . -")
    if part[0] in "-." or part[-1] in "-.":
        raise NameError_(f"invalid {what} {part!r}: cannot start or end with '-' or '.'")
    if "--" in part or ".." in part:
        raise NameError_(f"invalid {what} {part!r}: '--' and '..' are not allowed")
    if part.endswith(".git"):
        raise NameError_(f"invalid {what} {part!r}: cannot end with '.git'")
    return part


# First path segments the hub answers itself (its API and protocols, web pages, and names kept for pages to
# come). A user or organization with one of these names would have a page (`/{name}`) and repos
# (`/{name}/{repo}`) that collide with the hub's own paths, so accounts cannot take them, in any case.
# tests/protocol/test_reserved_names.py checks that every literal first segment of the web route table
# (web/routes.py) is here.
RESERVED_NAMES = frozenset(
    {
        # protocol and API prefixes
        "api", "lfs", "xet", "git", "oauth", "auth", "storage", "tokens", "invites", "resolve",
        # repo types and listings
        "models", "datasets", "spaces", "collections", "papers", "organizations", "orgs", "users",
        "search", "trending", "tags", "tasks", "licenses",
        # accounts and sessions
        "login", "logout", "join", "signup", "register", "password", "me", "account", "profile",
        "settings", "notifications", "inbox", "admin", "administrator",
        # pages and files of the web UI
        "new", "upload", "edit", "docs", "help", "about", "static", "assets", "-", "favicon.ico",
        "robots.txt", "sitemap.xml", "health", "metrics", "status", "discussions", "likes",
    }
)  # fmt: skip


def is_reserved_name(name: str) -> bool:
    """True for a user or organization name the hub keeps for its own paths (case-insensitively)."""
    return name.lower() in RESERVED_NAMES


@dataclass(frozen=True)
class RepoId:
    namespace: str
    name: str

    @classmethod
    def parse(cls, repo_id: str) -> "RepoId":
        parts = repo_id.split("/")
        if len(parts) != 2:
            raise NameError_(f"invalid repo id {repo_id!r}: expected 'namespace/name'")
        return cls(validate_name_part(parts[0], "namespace"), validate_name_part(parts[1], "repo name"))

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def validate_ref_name(name: str, what: str = "branch") -> str:
    """A short branch or tag name, following `git check-ref-format` rules."""
    if not name or len(name.encode()) > 255:
        raise NameError_(f"invalid {what} name {name!r}: must be 1-255 bytes")
    if (
        _BAD_REF_CHARS.search(name)
        or ".." in name
        or "@{" in name
        or name == "@"
        or name.startswith(("/", "-", "refs/"))
        or name.endswith(("/", ".", ".lock"))
        or "//" in name
        or any(part.startswith(".") for part in name.split("/"))
    ):
        raise NameError_(f"invalid {what} name {name!r}")
    return name


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_file_path(path: str) -> str:
    """A path inside a repo: relative, '/'-separated, no empty, '.', '..' or '.git' components."""
    if not path:
        raise NameError_("empty file path")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise NameError_(f"file path longer than {MAX_PATH_BYTES} bytes")
    if _CONTROL.search(path):
        raise NameError_(f"file path {path!r} contains control characters")
    if "\\" in path:
        raise NameError_(f"file path {path!r} contains a backslash; use '/'")
    if path.startswith("/"):
        raise NameError_(f"file path {path!r} must be relative to the repo root")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NameError_(f"file path {path!r} is not valid UTF-8") from exc
    for part in path.split("/"):
        if part == "":
            raise NameError_(f"file path {path!r} has an empty component")
        if part in (".", ".."):
            raise NameError_(f"file path {path!r} contains '{part}'")
        if part.lower() == ".git":
            raise NameError_(f"file path {path!r} contains a '.git' component")
    return path


def normalize_folder_path(path: str) -> str:
    """A folder path as sent by `deletedFolder` or the tree API (trailing '/' allowed, '' is the root)."""
    path = path.rstrip("/")
    return validate_file_path(path) if path else ""
