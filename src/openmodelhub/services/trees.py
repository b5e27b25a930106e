"""Building new git trees and commits from a base tree plus file operations."""

from dataclasses import dataclass, field
from datetime import datetime

import pathspec
from dulwich.objects import Commit, ObjectID, Tree

from openmodelhub.services.errors import EntryNotFound, PathConflict
from openmodelhub.services.gitstore import MODE_DIR, MODE_FILE, GitStore


@dataclass
class _Dir:
    """A folder being edited. `entries` is loaded from `oid` on first use."""

    oid: str | None
    entries: dict[str, "tuple[int, str | _Dir]"] | None = None
    dirty: bool = False


@dataclass
class TreeBuilder:
    git: GitStore
    base_tree: str | None
    _root: _Dir = field(init=False)

    def __post_init__(self) -> None:
        self._root = _Dir(oid=self.base_tree, entries=None if self.base_tree else {})

    def _entries(self, d: _Dir) -> dict[str, "tuple[int, str | _Dir]"]:
        if d.entries is None:
            assert d.oid is not None
            tree = self.git.get_tree(d.oid)
            d.entries = {item.path.decode(): (item.mode, item.sha.decode()) for item in tree.iteritems()}
        return d.entries

    def _subdir(self, parent: _Dir, name: str, create: bool, path: str) -> _Dir | None:
        entries = self._entries(parent)
        found = entries.get(name)
        if found is None:
            if not create:
                return None
            child = _Dir(oid=None, entries={})
            entries[name] = (MODE_DIR, child)
            return child
        mode, value = found
        if mode != MODE_DIR:
            if create:
                raise PathConflict(f"cannot create {path!r}: {name!r} is a file, not a folder")
            return None
        if isinstance(value, _Dir):
            return value
        child = _Dir(oid=value)
        entries[name] = (MODE_DIR, child)
        return child

    def _walk(self, path: str, create: bool) -> tuple[list[_Dir], str] | None:
        parts = path.split("/")
        chain = [self._root]
        for part in parts[:-1]:
            child = self._subdir(chain[-1], part, create, path)
            if child is None:
                return None
            chain.append(child)
        return chain, parts[-1]

    def get(self, path: str) -> tuple[int, str] | None:
        """(mode, oid) of a file at `path` in the tree as edited so far; None for missing or folders."""
        walked = self._walk(path, create=False)
        if walked is None:
            return None
        chain, name = walked
        found = self._entries(chain[-1]).get(name)
        if found is None or found[0] == MODE_DIR or isinstance(found[1], _Dir):
            return None
        return found[0], found[1]

    def set_file(self, path: str, oid: str, mode: int = MODE_FILE) -> None:
        walked = self._walk(path, create=True)
        assert walked is not None
        chain, name = walked
        entries = self._entries(chain[-1])
        existing = entries.get(name)
        if existing is not None and existing[0] == MODE_DIR:
            raise PathConflict(f"cannot write file {path!r}: a folder with that name exists")
        entries[name] = (mode if existing is None else existing[0], oid)
        for d in chain:
            d.dirty = True

    def delete_file(self, path: str) -> None:
        walked = self._walk(path, create=False)
        entries = self._entries(walked[0][-1]) if walked else {}
        found = entries.get(walked[1]) if walked else None
        if walked is None or found is None or found[0] == MODE_DIR:
            raise EntryNotFound(f"A file with this name doesn't exist: {path!r}")
        del entries[walked[1]]
        for d in walked[0]:
            d.dirty = True

    def delete_folder(self, path: str) -> None:
        walked = self._walk(path, create=False) if path else None
        if not path:
            self._root.entries = {}
            self._root.dirty = True
            return
        entries = self._entries(walked[0][-1]) if walked else {}
        found = entries.get(walked[1]) if walked else None
        if walked is None or found is None or found[0] != MODE_DIR:
            raise EntryNotFound(f"A folder with this name doesn't exist: {path!r}")
        del entries[walked[1]]
        for d in walked[0]:
            d.dirty = True

    def build(self) -> tuple[str, list[Tree]]:
        """(root tree id, new tree objects to store). Empty folders disappear, as in git."""
        new_trees: list[Tree] = []

        def build_dir(d: _Dir) -> str | None:
            if not d.dirty and d.oid is not None:
                return d.oid
            tree = Tree()
            for name, (mode, value) in self._entries(d).items():
                if isinstance(value, _Dir):
                    oid = build_dir(value)
                    if oid is None:
                        continue
                else:
                    oid = value
                tree.add(name.encode(), mode, ObjectID(oid.encode()))
            if not tree.items() and d is not self._root:
                return None
            new_trees.append(tree)
            return tree.id.decode()

        root = build_dir(self._root)
        assert root is not None
        return root, new_trees


def make_commit(
    *, tree: str, parents: list[str], author: str, email: str, message: str, when: datetime
) -> Commit:
    c = Commit()
    c.tree = ObjectID(tree.encode())
    c.parents = [ObjectID(p.encode()) for p in parents]
    c.author = c.committer = f"{author} <{email}>".encode()
    c.author_time = c.commit_time = int(when.timestamp())
    c.author_timezone = c.commit_timezone = 0
    c.encoding = None
    c.message = message.encode()
    return c


def commit_message(summary: str, description: str) -> str:
    summary = summary.strip() or "Update files"
    description = description.strip()
    return f"{summary}\n\n{description}\n" if description else f"{summary}\n"


def split_message(message: str) -> tuple[str, str]:
    """(title, body) as the Hub shows commits."""
    title, _, body = message.partition("\n")
    return title.strip(), body.strip("\n").strip()


class LfsRules:
    """Which paths `.gitattributes` sends to LFS (`filter=lfs`; later lines override earlier ones)."""

    def __init__(self, text: str | None) -> None:
        self._rules: list[tuple[pathspec.PathSpec, bool]] = []
        for raw in (text or "").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            pattern, *attrs = line.split()
            verdict: bool | None = None
            for attr in attrs:
                if attr == "filter=lfs":
                    verdict = True
                elif attr.startswith("filter=") or attr in ("-filter", "!filter"):
                    verdict = False
            if verdict is not None:
                self._rules.append((pathspec.PathSpec.from_lines("gitignore", [pattern]), verdict))

    def is_lfs(self, path: str) -> bool:
        result = False
        for spec, verdict in self._rules:
            if spec.match_file(path):
                result = verdict
        return result
