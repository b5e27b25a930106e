"""Discussions and pull requests of a repo: numbering, events, permissions and the `refs/pr/N` refs.

A pull request is a discussion with `is_pull_request`, a target branch (`refs/heads/main`) and a git ref
`refs/pr/N` (a row of `refs` like a branch, moved by compare-and-swap). Everything that happens to a
discussion is an event: comments (with their edit history), status changes, commits pushed to the pull
request and title changes. Merging is in services/merge.py; commits into pull requests go through
services/commits.py, which calls `open_pr_in` / `record_commit_in` inside the commit's own transaction, so a
pull request and its ref, or a commit and its event, are stored together or not at all.

Who may do what (docs/collaboration.md):
- read discussions: anyone who can read the repo (a private repo stays invisible: RepoNotFound);
- open discussions and pull requests, comment: an authenticated reader whose token may write to the repo
  ("write" tokens; fine-grained tokens with a write scope on it). Read tokens stay read-only;
- push to `refs/pr/N`: its author, and the repo's writers;
- edit a comment: its author; hide a comment: its author and the repo's writers;
- rename: the author and writers; close: the author and writers; reopen: writers, and the author when
  they closed it themselves; merge: writers (services/merge.py).
"""

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import nh3
from markdown_it import MarkdownIt
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmodelhub.db.models import Discussion, DiscussionEvent, Ref, Repo, User
from openmodelhub.protocol.digests import lfs_pointer
from openmodelhub.protocol.names import DEFAULT_BRANCH
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services.access import AccessService
from openmodelhub.services.auth import Access, AuthService, Principal, repo_access, token_access
from openmodelhub.services.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GatedRepo,
    NotFound,
    RevisionNotFound,
    Unauthorized,
)
from openmodelhub.services.gitstore import GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.services.merge import Change, merge_base, merge_trees, tree_changes
from openmodelhub.services.repos import HEADS, RepoService

PR_PREFIX = "refs/pr/"
PAGE_SIZE = 50
TITLE_MIN, TITLE_MAX = 3, 200
MAX_COMMENT_CHARS = 65536
OPEN_STATES = ("open", "draft")
DISCUSSION_KINDS = ("all", "discussion", "pull_request")
STATUS_FILTERS = ("all", "open", "closed")
CREATE_ATTEMPTS = 8
# The diff of a pull request: text files up to this size are diffed line by line, the whole diff is capped.
DIFF_FILE_LIMIT = 256 * 1024
DIFF_TOTAL_LIMIT = 1024 * 1024
_PR_REF = re.compile(r"refs/pr/([1-9][0-9]{0,8})")
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False})


def pr_number(revision: str) -> int | None:
    """N for `refs/pr/N`, None for any other revision."""
    m = _PR_REF.fullmatch(revision)
    return int(m.group(1)) if m else None


def event_id(row_id: int) -> str:
    """Event ids look like the Hub's: 24 lowercase hex digits."""
    return f"{row_id:024x}"


def parse_event_id(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise NotFound(f"no comment {text!r} in this discussion") from None
    if not 0 < value < 1 << 31 or len(text) > 24:  # ids are INTEGER rows
        raise NotFound(f"no comment {text!r} in this discussion")
    return value


def render_markdown(text: str) -> str:
    """Comment text as HTML: CommonMark without raw HTML, then sanitized (links keep safe schemes only)."""
    return nh3.clean(_MARKDOWN.render(text))


@dataclass(frozen=True)
class EventView:
    id: str
    type: str  # "comment" | "status-change" | "commit" | "title-change"
    author: str | None  # None: the user was deleted
    created_at: datetime
    data: dict[str, Any]  # as stored; see `comment_view` for comments


@dataclass(frozen=True)
class CommentView:
    """A comment as the Hub shapes it: the latest text, whether it was edited or hidden, all its versions."""

    raw: str
    html: str
    edited: bool
    hidden: bool
    hidden_by: str | None
    updated_at: datetime
    editor: str | None
    history: list[dict[str, Any]]  # every version, newest first: {"raw", "updatedAt" (datetime), "author"}


@dataclass(frozen=True)
class DiscussionView:
    num: int
    title: str
    status: str  # "open" | "closed" | "merged" | "draft"
    is_pull_request: bool
    author: str | None
    created_at: datetime
    repo_type: str
    repo_id: str
    num_comments: int
    target_branch: str | None = None  # full ref name, pull requests only
    merge_commit: str | None = None
    head: str | None = None  # the commit refs/pr/N points to (details only)
    events: list[EventView] = field(default_factory=list)
    conflicts: list[str] | None = None  # details of pull requests only
    diff: str | None = None  # details of pull requests, for callers who may read the files


def comment_view(event: EventView) -> CommentView:
    d = event.data
    raw = "" if d.get("hidden") else str(d.get("raw", ""))
    updated = d.get("updatedAt")
    updated_at = datetime.fromisoformat(updated) if isinstance(updated, str) else event.created_at
    editor = d.get("editor") or event.author
    history = [{"raw": raw, "updatedAt": updated_at, "author": editor}]
    if not d.get("hidden"):
        for old in d.get("history", []):
            when = datetime.fromisoformat(old["updatedAt"])
            history.append({"raw": old["raw"], "updatedAt": when, "author": old["author"]})
    return CommentView(
        raw=raw,
        html=render_markdown(raw) if raw else "",
        edited=bool(d.get("history")),
        hidden=bool(d.get("hidden")),
        hidden_by=d.get("hiddenBy"),
        updated_at=updated_at,
        editor=editor,
        history=history,
    )


def _title(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest("'title' must be a string")
    title = value.strip()
    if not (TITLE_MIN <= len(title) <= TITLE_MAX):
        raise BadRequest(f"a title must be {TITLE_MIN} to {TITLE_MAX} characters long")
    return title


def _text(value: Any, what: str, *, allow_empty: bool = False) -> str:
    if value is None and allow_empty:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"'{what}' must be a string")
    text = value.strip()
    if not text and not allow_empty:
        raise BadRequest(f"'{what}' cannot be empty")
    if len(text) > MAX_COMMENT_CHARS:
        raise BadRequest(f"'{what}' is longer than {MAX_COMMENT_CHARS} characters")
    return text


def require_contributor(auth: AuthService, principal: Principal | None, repo: Repo, doing: str) -> Principal:
    """The caller, if they may act on `repo` as a member of the community (discuss, open pull requests,
    like): a reader, authenticated through a token that may write to the repo. The repo's own rights are
    not needed; a read-only token is not enough, as for any write."""
    auth.require_read(principal, repo)
    if principal is None:
        raise Unauthorized(f"You must be authenticated to {doing}: pass a token")
    if token_access(principal, repo.type, repo.namespace, repo.name) < Access.WRITE:
        if principal.role == "read":
            raise Forbidden("This token is read-only; a token with write access is needed")
        raise Forbidden(f"This fine-grained token does not allow writing to {_label(repo)}")
    return principal


def _naive_now() -> datetime:
    return utcnow().replace(tzinfo=None)


def _label(repo: Repo) -> str:
    return f"{repo.type} {repo.namespace}/{repo.name}"


class DiscussionService:
    def __init__(
        self, hub: Hub, git: GitStore, repos: RepoService, auth: AuthService, access: AccessService
    ) -> None:
        self.hub = hub
        self.git = git
        self.repos = repos
        self.auth = auth
        self.access = access

    # -- permissions ---------------------------------------------------------------------------------------
    def require_contribute(self, principal: Principal | None, repo: Repo) -> Principal:
        """The caller, if they may open discussions and pull requests and comment on `repo`."""
        return require_contributor(self.auth, principal, repo, "take part in discussions")

    @staticmethod
    def is_writer(principal: Principal | None, repo: Repo) -> bool:
        return repo_access(principal, repo) >= Access.WRITE

    def require_push(self, principal: Principal | None, repo: Repo, revision: str, create_pr: bool) -> None:
        """Who may preupload and commit: to a branch its writers; with `create_pr` any contributor; to
        `refs/pr/N` its author and the writers, while the pull request is open."""
        num = None if create_pr else pr_number(revision)
        if not create_pr and num is None:
            self.auth.require_write(principal, repo)
            return
        who = self.require_contribute(principal, repo)
        if num is None:
            return
        with self.hub.read() as s:
            d = self._find(s, repo, num)
        if d is None or not d.is_pull_request:
            raise RevisionNotFound(f"Pull request #{num} does not exist in {_label(repo)}")
        if d.author_id != who.user_id and not self.is_writer(who, repo):
            raise Forbidden(
                f"Only the author of pull request #{num} and the repo's writers can push to {revision}"
            )
        _require_open(d)

    def require_lfs_upload(self, principal: Principal | None, repo: Repo, ref: str | None) -> None:
        """LFS uploads: the repo's writers, or whoever may push to the pull request the batch names."""
        if ref is not None and pr_number(ref) is not None and not self.is_writer(principal, repo):
            self.require_push(principal, repo, ref, False)
            return
        self.auth.require_write(principal, repo)

    # -- reading -------------------------------------------------------------------------------------------
    def list_discussions(
        self,
        principal: Principal | None,
        repo: Repo,
        *,
        kind: str = "all",
        status: str = "all",
        author: str | None = None,
        search: str | None = None,
        page: int = 0,
    ) -> tuple[list[DiscussionView], int]:
        """(one page of discussions, newest first; the total matching). Page size PAGE_SIZE."""
        self.auth.require_read(principal, repo)
        if kind not in DISCUSSION_KINDS:
            raise BadRequest(f"'type' must be one of {', '.join(DISCUSSION_KINDS)}")
        if status not in STATUS_FILTERS:
            raise BadRequest(f"'status' must be one of {', '.join(STATUS_FILTERS)}")
        if page < 0:
            raise BadRequest("'p' must be a page number (0 or more)")
        cond = [Discussion.repo_id == repo.id]
        if kind != "all":
            cond.append(Discussion.is_pull_request.is_(kind == "pull_request"))
        if status == "open":
            cond.append(Discussion.status.in_(OPEN_STATES))
        elif status == "closed":
            cond.append(Discussion.status.in_(("closed", "merged")))
        if author:
            cond.append(Discussion.author_id.in_(select(User.id).where(User.name == author)))
        if search:
            cond.append(func.lower(Discussion.title).like(f"%{search.lower()}%"))
        with self.hub.read() as s:
            total = s.scalar(select(func.count()).select_from(Discussion).where(*cond)) or 0
            rows = s.execute(
                select(Discussion, User.name)
                .outerjoin(User, User.id == Discussion.author_id)
                .where(*cond)
                .order_by(Discussion.num.desc())
                .offset(page * PAGE_SIZE)
                .limit(PAGE_SIZE)
            ).all()
            counts = self._comment_counts(s, [d.id for d, _ in rows])
        return [self._view(repo, d, name, counts.get(d.id, 0)) for d, name in rows], total

    def get(self, principal: Principal | None, repo: Repo, num: int, *, diff: bool = False) -> DiscussionView:
        """A discussion with its events; a pull request also with its conflicts and (with `diff`) its diff."""
        self.auth.require_read(principal, repo)
        with self.hub.read() as s:
            row = s.execute(
                select(Discussion, User.name)
                .outerjoin(User, User.id == Discussion.author_id)
                .where(Discussion.repo_id == repo.id, Discussion.num == num)
            ).first()
            if row is None:
                raise NotFound(f"Discussion #{num} does not exist in {_label(repo)}")
            d, name = row
            events = self._events(s, d.id)
            head_ref = s.get(Ref, (repo.id, f"{PR_PREFIX}{num}")) if d.is_pull_request else None
            target_ref = s.get(Ref, (repo.id, d.target_branch)) if d.target_branch else None
        comments = sum(1 for e in events if e.type == "comment")
        view = self._view(repo, d, name, comments)
        if not d.is_pull_request:
            return replace(view, events=events)
        head = head_ref.target if head_ref is not None else None
        target = target_ref.target if target_ref is not None else None
        if d.merge_commit is not None:
            # What was merged: against the target as it was just before the merge.
            target = self.git.get_commit(d.merge_commit).parents[0].decode()
        conflicts: list[str] | None = None
        text: str | None = None
        if head is not None and target is not None:
            base = merge_base(self.git, target, head)
            base_tree = self.git.commit_tree(base) if base else None
            if d.status in OPEN_STATES:
                ours, theirs = self.git.commit_tree(target), self.git.commit_tree(head)
                conflicts = merge_trees(self.git, base_tree, ours, theirs).conflicts
            else:
                conflicts = []
            if diff and self._may_read_files(principal, repo):
                text = self.diff_text(tree_changes(self.git, base_tree, self.git.commit_tree(head)))
        return replace(view, events=events, head=head, conflicts=conflicts, diff=text)

    def _may_read_files(self, principal: Principal | None, repo: Repo) -> bool:
        # A diff shows file content: for a gated repo, only to those who may read its files.
        try:
            self.access.check_content(principal, repo)
        except GatedRepo:
            return False
        return True

    def pr(self, repo: Repo, num: int) -> Discussion:
        """The pull request row (NotFound for a missing one or a discussion)."""
        with self.hub.read() as s:
            d = self._find(s, repo, num)
        if d is None:
            raise NotFound(f"Discussion #{num} does not exist in {_label(repo)}")
        if not d.is_pull_request:
            raise BadRequest(f"#{num} is a discussion, not a pull request")
        return d

    # -- writing -------------------------------------------------------------------------------------------
    def create(
        self,
        principal: Principal | None,
        repo: Repo,
        title: Any,
        description: Any = None,
        pull_request: bool = False,
    ) -> DiscussionView:
        """Open a discussion, or an empty pull request (status "draft", `refs/pr/N` at the target's head)."""
        who = self.require_contribute(principal, repo)
        clean_title = _title(title)
        text = _text(description, "description", allow_empty=True)
        for _attempt in range(CREATE_ATTEMPTS):
            try:
                with self.hub.write.begin() as s:
                    head = None
                    if pull_request:
                        ref = s.get(Ref, (repo.id, HEADS + DEFAULT_BRANCH))
                        if ref is None:
                            raise RevisionNotFound(f"{_label(repo)} has no branch {DEFAULT_BRANCH!r}")
                        head = ref.target
                    num = self._insert(s, repo, who, clean_title, text, pull_request, head).num
            except IntegrityError:
                continue  # another discussion took this number first
            return self.get(principal, repo, num)
        raise Conflict("Too many discussions are being opened on this repo at once; retry")

    def open_pr_in(
        self,
        s: Session,
        repo: Repo,
        principal: Principal,
        title: str,
        description: str,
        head: str,
        target: str = HEADS + DEFAULT_BRANCH,
    ) -> int:
        """In a commit's transaction: open a pull request into `target` whose ref points at the new commit
        `head`; its title is the commit's summary, its first comment the commit's description."""
        clean = " ".join(title.split())[:TITLE_MAX] or "Update files"
        d = self._insert(s, repo, principal, clean, description.strip(), True, head, "open", target)
        self._add_event(s, d, principal, "commit", _commit_data(head, title))
        return d.num

    def record_commit_in(
        self, s: Session, repo: Repo, num: int, principal: Principal, oid: str, subject: str
    ) -> None:
        """In a commit's transaction, after `refs/pr/N` moved: the commit event (a draft becomes open)."""
        d = self._find(s, repo, num)
        if d is None or not d.is_pull_request:
            raise RevisionNotFound(f"Pull request #{num} does not exist in {_label(repo)}")
        _require_open(d)
        # Compare-and-swap on the status: a merge or close that lands first makes this commit fail.
        changed = s.execute(
            update(Discussion)
            .where(Discussion.id == d.id, Discussion.status == d.status)
            .values(status="open", updated_at=_naive_now())
        ).rowcount  # type: ignore[attr-defined]
        if changed != 1:
            raise Conflict(f"Pull request #{num} changed while this commit was made; retry")
        self._add_event(s, d, principal, "commit", _commit_data(oid, subject))

    def comment(self, principal: Principal | None, repo: Repo, num: int, text: Any) -> EventView:
        who = self.require_contribute(principal, repo)
        body = _text(text, "comment")
        with self.hub.write.begin() as s:
            d = self._get_for_update(s, repo, num)
            event = self._add_event(s, d, who, "comment", {"raw": body, "history": [], "hidden": False})
            self._touch(s, d)
            return self._event_view(event, who.name)

    def edit_comment(
        self, principal: Principal | None, repo: Repo, num: int, comment_id: str, content: Any
    ) -> EventView:
        who = self.require_contribute(principal, repo)
        body = _text(content, "content")
        with self.hub.write.begin() as s:
            d = self._get_for_update(s, repo, num)
            event = self._comment(s, d, comment_id)
            if event.author_id != who.user_id:
                raise Forbidden("Only the author of a comment can edit it")
            if event.data.get("hidden"):
                raise BadRequest("A hidden comment cannot be edited")
            data = dict(event.data)
            previous = {
                "raw": data.get("raw", ""),
                "updatedAt": data.get("updatedAt") or event.created_at.isoformat(),
                "author": data.get("editor") or who.name,
            }
            data.update(
                raw=body,
                updatedAt=_naive_now().isoformat(),
                editor=who.name,
                history=[previous, *data.get("history", [])],
            )
            event.data = data
            return self._event_view(event, self._user_name(s, event.author_id))

    def hide_comment(self, principal: Principal | None, repo: Repo, num: int, comment_id: str) -> EventView:
        """Hide a comment for good: its text and every earlier version are erased."""
        who = self.require_contribute(principal, repo)
        with self.hub.write.begin() as s:
            d = self._get_for_update(s, repo, num)
            event = self._comment(s, d, comment_id)
            if event.author_id != who.user_id and not self.is_writer(who, repo):
                raise Forbidden("Only the author of a comment and the repo's writers can hide it")
            if not event.data.get("hidden"):
                event.data = {
                    "raw": "",
                    "history": [],
                    "hidden": True,
                    "hiddenBy": who.name,
                    "updatedAt": _naive_now().isoformat(),
                    "editor": who.name,
                }
            return self._event_view(event, self._user_name(s, event.author_id))

    def rename(self, principal: Principal | None, repo: Repo, num: int, title: Any) -> EventView:
        who = self.require_contribute(principal, repo)
        new = _title(title)
        with self.hub.write.begin() as s:
            d = self._get_for_update(s, repo, num)
            if d.author_id != who.user_id and not self.is_writer(who, repo):
                raise Forbidden(f"Only the author of #{num} and the repo's writers can rename it")
            old = d.title
            d.title = new
            self._touch(s, d)
            event = self._add_event(s, d, who, "title-change", {"from": old, "to": new})
            return self._event_view(event, who.name)

    def change_status(
        self, principal: Principal | None, repo: Repo, num: int, status: Any, comment: Any = None
    ) -> EventView:
        """Close or reopen (a draft pull request opens); an optional comment is posted first."""
        who = self.require_contribute(principal, repo)
        if status not in ("open", "closed"):
            raise BadRequest("'status' must be 'open' or 'closed'")
        text = _text(comment, "comment", allow_empty=True)
        with self.hub.write.begin() as s:
            d = self._get_for_update(s, repo, num)
            what = "pull request" if d.is_pull_request else "discussion"
            if d.status == "merged":
                raise Conflict(f"Pull request #{num} is merged; its status cannot change")
            if d.status == status:
                raise BadRequest(f"The {what} #{num} is already {status}")
            if not self.is_writer(who, repo):
                if d.author_id != who.user_id:
                    raise Forbidden(f"Only the author of #{num} and the repo's writers can change its status")
                if status == "open" and d.status == "closed" and self._closed_by(s, d) != who.user_id:
                    raise Forbidden(f"#{num} was closed by a maintainer; only the repo's writers reopen it")
            changed = s.execute(
                update(Discussion)
                .where(Discussion.id == d.id, Discussion.status == d.status)
                .values(status=status, updated_at=_naive_now())
            ).rowcount  # type: ignore[attr-defined]
            if changed != 1:
                raise Conflict(f"#{num} changed while its status was being changed; retry")
            if text:
                self._add_event(s, d, who, "comment", {"raw": text, "history": [], "hidden": False})
            event = self._add_event(s, d, who, "status-change", {"status": status})
            return self._event_view(event, who.name)

    def mark_merged_in(
        self, s: Session, d: Discussion, principal: Principal, merge_commit: str, comment: str
    ) -> DiscussionEvent:
        """In the merge's transaction, after the target branch moved: the pull request becomes merged."""
        changed = s.execute(
            update(Discussion)
            .where(Discussion.id == d.id, Discussion.status.in_(OPEN_STATES))
            .values(status="merged", merge_commit=merge_commit, updated_at=_naive_now())
        ).rowcount  # type: ignore[attr-defined]
        if changed != 1:
            raise Conflict(f"Pull request #{d.num} was merged or closed meanwhile")
        if comment:
            self._add_event(s, d, principal, "comment", {"raw": comment, "history": [], "hidden": False})
        return self._add_event(s, d, principal, "status-change", {"status": "merged"})

    def event_view(self, event: DiscussionEvent, author: str | None) -> EventView:
        return self._event_view(event, author)

    # -- the diff of a pull request ------------------------------------------------------------------------
    def diff_text(self, changes: Iterable[Change]) -> str:
        """A git-style diff: text files line by line, LFS files as their pointers, other files by name."""
        out: list[str] = []
        size = 0
        for c in changes:
            part = self._file_diff(c)
            size += len(part)
            if size > DIFF_TOTAL_LIMIT:
                out.append(f"# diff truncated: more than {DIFF_TOTAL_LIMIT} bytes\n")
                break
            out.append(part)
        return "".join(out)

    def _file_diff(self, c: Change) -> str:
        a = f"a/{c.path}" if c.old else "/dev/null"
        b = f"b/{c.path}" if c.new else "/dev/null"
        head = [f"diff --git a/{c.path} b/{c.path}\n"]
        if c.old is None and c.new is not None:
            head.append(f"new file mode {c.new[0]:o}\n")
        elif c.new is None and c.old is not None:
            head.append(f"deleted file mode {c.old[0]:o}\n")
        elif c.old is not None and c.new is not None and c.old[0] != c.new[0]:
            head.append(f"old mode {c.old[0]:o}\nnew mode {c.new[0]:o}\n")
        old_oid = c.old[1] if c.old else "0" * 40
        new_oid = c.new[1] if c.new else "0" * 40
        head.append(f"index {old_oid[:7]}..{new_oid[:7]}\n")
        old_text, new_text = self._diffable(c.old), self._diffable(c.new)
        if old_text is None or new_text is None:
            return "".join(head) + f"Binary files {a} and {b} differ\n"
        lines = difflib.unified_diff(
            old_text.splitlines(keepends=True), new_text.splitlines(keepends=True), fromfile=a, tofile=b
        )
        return "".join(head) + "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def _diffable(self, item: tuple[int, str] | None) -> str | None:
        """The text of a file for the diff ("" for no file); None when it is binary or too large."""
        if item is None:
            return ""
        meta = self.git.blob_metas([item[1]]).get(item[1])
        if meta is None:
            return None
        if meta.is_lfs:
            return lfs_pointer(meta.sha256, meta.size).decode()
        if meta.size > DIFF_FILE_LIMIT:
            return None
        try:
            data = self.hub.blobs.read_all(meta.sha256, DIFF_FILE_LIMIT)
            text = data.decode("utf-8")
        except (ValueError, OSError):
            return None
        return None if "\x00" in text else text

    # -- rows ----------------------------------------------------------------------------------------------
    @staticmethod
    def _find(s: Session, repo: Repo, num: int) -> Discussion | None:
        return s.scalar(select(Discussion).where(Discussion.repo_id == repo.id, Discussion.num == num))

    def _get_for_update(self, s: Session, repo: Repo, num: int) -> Discussion:
        d = self._find(s, repo, num)
        if d is None:
            raise NotFound(f"Discussion #{num} does not exist in {_label(repo)}")
        return d

    @staticmethod
    def _comment(s: Session, d: Discussion, comment_id: str) -> DiscussionEvent:
        event = s.get(DiscussionEvent, parse_event_id(comment_id))
        if event is None or event.discussion_id != d.id or event.type != "comment":
            raise NotFound(f"no comment {comment_id!r} in #{d.num}")
        return event

    @staticmethod
    def _closed_by(s: Session, d: Discussion) -> int | None:
        last = s.scalar(
            select(DiscussionEvent)
            .where(DiscussionEvent.discussion_id == d.id, DiscussionEvent.type == "status-change")
            .order_by(DiscussionEvent.id.desc())
            .limit(1)
        )
        return last.author_id if last is not None else None

    @staticmethod
    def _user_name(s: Session, user_id: int | None) -> str | None:
        return s.scalar(select(User.name).where(User.id == user_id)) if user_id is not None else None

    def _insert(
        self,
        s: Session,
        repo: Repo,
        who: Principal,
        title: str,
        description: str,
        pull_request: bool,
        head: str | None,
        status: str | None = None,
        target: str = HEADS + DEFAULT_BRANCH,
    ) -> Discussion:
        """Insert a discussion with the next number (IntegrityError when another took it first)."""
        num = (s.scalar(select(func.max(Discussion.num)).where(Discussion.repo_id == repo.id)) or 0) + 1
        now = _naive_now()
        d = Discussion(
            repo_id=repo.id,
            num=num,
            title=title,
            is_pull_request=pull_request,
            status=status or ("draft" if pull_request else "open"),
            author_id=who.user_id,
            target_branch=target if pull_request else None,
            created_at=now,
            updated_at=now,
        )
        s.add(d)
        s.flush()
        if description:
            self._add_event(s, d, who, "comment", {"raw": description, "history": [], "hidden": False})
        if pull_request:
            assert head is not None
            s.add(Ref(repo_id=repo.id, name=f"{PR_PREFIX}{num}", target=head, updated_at=now))
            s.flush()
        return d

    @staticmethod
    def _add_event(
        s: Session, d: Discussion, who: Principal, kind: str, data: dict[str, Any]
    ) -> DiscussionEvent:
        event = DiscussionEvent(
            discussion_id=d.id, type=kind, author_id=who.user_id, created_at=_naive_now(), data=data
        )
        s.add(event)
        s.flush()
        return event

    @staticmethod
    def _touch(s: Session, d: Discussion) -> None:
        d.updated_at = _naive_now()

    @staticmethod
    def _events(s: Session, discussion_id: int) -> list[EventView]:
        rows = s.execute(
            select(DiscussionEvent, User.name)
            .outerjoin(User, User.id == DiscussionEvent.author_id)
            .where(DiscussionEvent.discussion_id == discussion_id)
            .order_by(DiscussionEvent.id)
        ).all()
        return [DiscussionService._event_view(e, name) for e, name in rows]

    @staticmethod
    def _event_view(e: DiscussionEvent, author: str | None) -> EventView:
        return EventView(event_id(e.id), e.type, author, e.created_at, dict(e.data or {}))

    @staticmethod
    def _comment_counts(s: Session, ids: list[int]) -> dict[int, int]:
        if not ids:
            return {}
        rows = s.execute(
            select(DiscussionEvent.discussion_id, func.count())
            .where(DiscussionEvent.discussion_id.in_(ids), DiscussionEvent.type == "comment")
            .group_by(DiscussionEvent.discussion_id)
        ).all()
        return {i: n for i, n in rows}

    @staticmethod
    def _view(repo: Repo, d: Discussion, author: str | None, num_comments: int) -> DiscussionView:
        return DiscussionView(
            num=d.num,
            title=d.title,
            status=d.status,
            is_pull_request=d.is_pull_request,
            author=author,
            created_at=d.created_at,
            repo_type=repo.type,
            repo_id=f"{repo.namespace}/{repo.name}",
            num_comments=num_comments,
            target_branch=d.target_branch,
            merge_commit=d.merge_commit,
        )


def _require_open(d: Discussion) -> None:
    if d.status not in OPEN_STATES:
        raise Conflict(f"Pull request #{d.num} is {d.status}; reopen it before pushing to it")


def _commit_data(oid: str, subject: str) -> dict[str, Any]:
    return {"subject": subject.split("\n", 1)[0].strip(), "oid": oid}
