"""Git objects: trees and commits in the database, file contents in the blob store.

Objects are immutable and content-addressed, so everything read here is cached by id without invalidation.
"""

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from dulwich.objects import Commit, ShaFile, Tree
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openmodelhub.db.models import GitBlob, GitObject
from openmodelhub.db.upsert import insert_missing
from openmodelhub.protocol.digests import lfs_pointer

K = TypeVar("K")
V = TypeVar("V")

MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_DIR = 0o040000


class LRU(Generic[K, V]):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)


@dataclass(frozen=True)
class BlobMeta:
    """What a tree's blob id stands for."""

    oid: str
    sha256: str
    size: int
    is_lfs: bool

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))


@dataclass(frozen=True)
class Entry:
    path: str
    mode: int
    oid: str

    @property
    def is_dir(self) -> bool:
        return self.mode == MODE_DIR


class ObjectMissing(LookupError):
    pass


class GitStore:
    def __init__(self, read: sessionmaker[Session]) -> None:
        self._read = read
        self._objects: LRU[str, ShaFile] = LRU(20000)
        self._blobs: LRU[str, BlobMeta] = LRU(200000)

    # -- objects -------------------------------------------------------------------------------------------
    def get_object(self, oid: str, session: Session | None = None) -> ShaFile:
        obj = self._objects.get(oid)
        if obj is not None:
            return obj
        if session is None:
            with self._read() as s:
                row = s.get(GitObject, oid)
        else:
            row = session.get(GitObject, oid)
        if row is None:
            raise ObjectMissing(oid)
        type_num = Tree.type_num if row.type == "tree" else Commit.type_num
        obj = ShaFile.from_raw_string(type_num, row.data)
        self._objects.put(oid, obj)
        return obj

    def get_commit(self, oid: str) -> Commit:
        obj = self.get_object(oid)
        if not isinstance(obj, Commit):
            raise ObjectMissing(oid)
        return obj

    def get_tree(self, oid: str) -> Tree:
        obj = self.get_object(oid)
        if not isinstance(obj, Tree):
            raise ObjectMissing(oid)
        return obj

    def commit_tree(self, commit_oid: str) -> str:
        return self.get_commit(commit_oid).tree.decode()

    def remember(self, objects: Iterable[ShaFile]) -> None:
        """Cache objects about to be stored, so a commit in progress can read its own new trees."""
        for obj in objects:
            self._objects.put(obj.id.decode(), obj)

    @staticmethod
    def add_objects(session: Session, objects: Iterable[ShaFile]) -> None:
        """Insert trees/commits not stored yet (in the caller's transaction)."""
        pending = {o.id.decode(): o for o in objects}
        if not pending:
            return
        existing = set(session.scalars(select(GitObject.oid).where(GitObject.oid.in_(list(pending)))).all())
        # ON CONFLICT DO NOTHING: a concurrent transaction may store the same object (same id, same bytes).
        insert_missing(
            session,
            GitObject,
            [
                {"oid": oid, "type": obj.type_name.decode(), "data": obj.as_raw_string()}
                for oid, obj in pending.items()
                if oid not in existing
            ],
        )

    # -- blobs ---------------------------------------------------------------------------------------------
    def blob_metas(self, oids: Iterable[str], session: Session | None = None) -> dict[str, BlobMeta]:
        result: dict[str, BlobMeta] = {}
        missing: list[str] = []
        for oid in oids:
            meta = self._blobs.get(oid)
            if meta is None:
                missing.append(oid)
            else:
                result[oid] = meta
        if missing:
            own = session is None
            s = self._read() if session is None else session
            try:
                for i in range(0, len(missing), 500):
                    rows = s.scalars(select(GitBlob).where(GitBlob.oid.in_(missing[i : i + 500]))).all()
                    for row in rows:
                        meta = BlobMeta(oid=row.oid, sha256=row.sha256, size=row.size, is_lfs=row.is_lfs)
                        self._blobs.put(row.oid, meta)
                        result[row.oid] = meta
            finally:
                if own:
                    s.close()
        return result

    # -- paths ---------------------------------------------------------------------------------------------
    def lookup(self, tree_oid: str, path: str) -> Entry | None:
        """The entry at `path` ('' is the root tree itself)."""
        if path == "":
            return Entry(path="", mode=MODE_DIR, oid=tree_oid)
        current = tree_oid
        parts = path.split("/")
        for i, part in enumerate(parts):
            tree = self.get_tree(current)
            try:
                mode, sha = tree[part.encode()]
            except KeyError:
                return None
            if i == len(parts) - 1:
                return Entry(path=path, mode=mode, oid=sha.decode())
            if mode != MODE_DIR:
                return None
            current = sha.decode()
        return None

    def iter_tree(self, tree_oid: str, prefix: str = "", recursive: bool = False) -> Iterator[Entry]:
        """Entries of a tree in git order; with `recursive`, depth-first, each folder before its content."""
        tree = self.get_tree(tree_oid)
        for item in tree.iteritems():
            name = item.path.decode()
            path = f"{prefix}/{name}" if prefix else name
            entry = Entry(path=path, mode=item.mode, oid=item.sha.decode())
            yield entry
            if recursive and entry.is_dir:
                yield from self.iter_tree(entry.oid, path, recursive=True)
