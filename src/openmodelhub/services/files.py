"""Reading repos: files at a revision, tree listings, paths-info, history and repo info."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openmodelhub.db.models import Repo
from openmodelhub.protocol.names import NameError_, normalize_folder_path, validate_file_path
from openmodelhub.services.content import ContentService
from openmodelhub.services.errors import EntryNotFound, InvalidPath
from openmodelhub.services.gitstore import BlobMeta, Entry, GitStore, ObjectMissing
from openmodelhub.services.hub import Hub
from openmodelhub.services.repos import RepoService
from openmodelhub.services.trees import split_message

LAST_COMMIT_WALK_LIMIT = 1000


@dataclass(frozen=True)
class ResolvedFile:
    commit: str
    path: str
    meta: BlobMeta


@dataclass(frozen=True)
class TreeItem:
    entry: Entry
    meta: BlobMeta | None  # None for folders


@dataclass(frozen=True)
class CommitInfo:
    oid: str
    title: str
    message: str
    author: str
    date: datetime
    parents: list[str]


class FileService:
    def __init__(self, hub: Hub, git: GitStore, repos: RepoService) -> None:
        self.hub = hub
        self.git = git
        self.repos = repos

    def resolve_file(self, repo: Repo, revision: str, path: str) -> ResolvedFile:
        commit = self.repos.resolve(repo, revision)
        try:
            validate_file_path(path)
        except NameError_:
            raise EntryNotFound(f"Entry not found: {path!r}", commit=commit) from None
        entry = self.git.lookup(self.git.commit_tree(commit), path)
        if entry is None or entry.is_dir:
            raise EntryNotFound(f"Entry not found: {path!r}", commit=commit)
        meta = self.git.blob_metas([entry.oid]).get(entry.oid)
        if meta is None:
            raise ObjectMissing(f"blob {entry.oid} of {path} is not recorded")
        return ResolvedFile(commit=commit, path=path, meta=meta)

    def list_tree(self, repo: Repo, revision: str, path: str, recursive: bool) -> tuple[str, list[TreeItem]]:
        commit = self.repos.resolve(repo, revision)
        try:
            folder = normalize_folder_path(path)
        except NameError_ as exc:
            raise InvalidPath(str(exc)) from exc
        entry = self.git.lookup(self.git.commit_tree(commit), folder)
        if entry is None or not entry.is_dir:
            raise EntryNotFound(f"Folder not found: {path!r}", commit=commit)
        entries = list(self.git.iter_tree(entry.oid, folder, recursive=recursive))
        return commit, self._with_meta(entries)

    def paths_info(self, repo: Repo, revision: str, paths: list[str]) -> tuple[str, list[TreeItem]]:
        commit = self.repos.resolve(repo, revision)
        root = self.git.commit_tree(commit)
        found: list[Entry] = []
        seen: set[str] = set()
        for raw in paths:
            try:
                path = normalize_folder_path(raw)
            except NameError_:
                continue
            if not path or path in seen:
                continue
            seen.add(path)
            entry = self.git.lookup(root, path)
            if entry is not None:
                found.append(entry)
        return commit, self._with_meta(found)

    def _with_meta(self, entries: list[Entry]) -> list[TreeItem]:
        metas = self.git.blob_metas([e.oid for e in entries if not e.is_dir])
        return [TreeItem(e, None if e.is_dir else metas.get(e.oid)) for e in entries]

    # -- history -------------------------------------------------------------------------------------------
    def commit_info(self, oid: str) -> CommitInfo:
        c = self.git.get_commit(oid)
        title, body = split_message(c.message.decode("utf-8", "replace"))
        author = c.author.decode("utf-8", "replace").split(" <", 1)[0]
        return CommitInfo(
            oid=oid,
            title=title,
            message=body,
            author=author,
            date=datetime.fromtimestamp(c.commit_time, UTC),
            parents=[p.decode() for p in c.parents],
        )

    def history(self, repo: Repo, revision: str, offset: int, limit: int) -> tuple[list[CommitInfo], bool]:
        """Commits reachable from `revision`, newest first (first-parent order). Returns (page, has_more)."""
        oid: str | None = self.repos.resolve(repo, revision)
        out: list[CommitInfo] = []
        index = 0
        while oid is not None:
            info = self.commit_info(oid)
            if index >= offset:
                if len(out) == limit:
                    return out, True
                out.append(info)
            index += 1
            oid = info.parents[0] if info.parents else None
        return out, False

    def last_commits(self, commit: str, paths: list[str]) -> dict[str, CommitInfo]:
        """For each path, the newest commit (first-parent history) that changed it."""
        result: dict[str, CommitInfo] = {}
        pending = set(paths)
        current: str | None = commit
        steps = 0
        while pending and current is not None and steps < LAST_COMMIT_WALK_LIMIT:
            info = self.commit_info(current)
            parent = info.parents[0] if info.parents else None
            tree = self.git.commit_tree(current)
            parent_tree = self.git.commit_tree(parent) if parent else None
            for path in list(pending):
                here = self.git.lookup(tree, path)
                before = self.git.lookup(parent_tree, path) if parent_tree else None
                if (here.oid if here else None) != (before.oid if before else None):
                    result[path] = info
                    pending.discard(path)
            current = parent
            steps += 1
        return result

    def read_text(self, tree: str, path: str, limit: int = 1 << 20) -> str | None:
        """Text of a small file in a tree; None when it is missing, a folder, or over `limit` bytes."""
        entry = self.git.lookup(tree, path)
        if entry is None or entry.is_dir:
            return None
        meta = self.git.blob_metas([entry.oid]).get(entry.oid)
        if meta is None or meta.size > limit:
            return None
        try:
            return ContentService.of(self.hub).read_all(meta.sha256, limit).decode("utf-8", "replace")
        except (ValueError, OSError):
            return None

    def read_json(self, commit: str, path: str, limit: int = 1 << 20) -> dict[str, Any] | None:
        text = self.read_text(self.git.commit_tree(commit), path, limit)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
