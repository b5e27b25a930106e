"""`omh fsck`: check that every revision the hub serves is stored intact, and collect garbage (`--repair`).

What is checked. Each problem is a `Finding` (kind, object id, where, message):

- The walk: refs -> commits (and their parents) -> trees -> tree entries. Its roots are every ref of every
  repo (branches, tags, `refs/pr/*`: whatever the `refs` table holds) and every commit a repo recorded in
  `repo_commits`: commits of deleted branches stay resolvable by their id, so their files must stay too.
  Commits and trees are `git_objects` rows; each must decode and hash to its id (`missing_commit`,
  `missing_tree`, `bad_git_object`).
- Every file of a tree (a git blob id) needs a `git_blobs` row saying what content it stands for
  (`missing_git_blob`); an LFS file's id must be the git id of the pointer to (sha256, size), a regular file's
  id the git id of its content as its `blobs` row records it, sizes must agree (`git_blob_mismatch`).
- Every content (sha256) reached needs a `blobs` row (`missing_content_row`) and a stored object
  (`missing_object`) of the recorded size (`size_mismatch`). Content uploaded with Xet (`xet_files`) may be
  stored as xorbs only: then each xorb its segments read must be recorded (`missing_xorb`) and its bytes
  stored (`missing_object`, `size_mismatch`); so must those of every other recorded xorb.
- `--deep`: every stored object is streamed through sha256 and git's blob hash; the digest must be its key
  (`corrupt_object`) and its git id the one its row records (`git_blob_mismatch`).

These are errors: `omh fsck` exits 1 when one is left. Garbage is not an error: stored objects no commit
references (uploads never committed, files of deleted repos: `unreferenced`), `blobs` rows of content that is
no longer stored (`orphan_row`), files left in temp areas by interrupted writes (`stale_temp`) and LFS
multipart uploads whose URLs expired (`stale_upload`). `--repair` deletes garbage older than the grace period
(default 24 h), never anything else. An error is never "repaired" (a missing object cannot be made up), except
that a corrupt object nothing references is garbage and deleted like any other.

What `--repair` keeps although no commit references it: content a pending LFS multipart upload announces, and
content an admin released from quarantine in a repo (the release is a decision about those very bytes), and
the bytes of every recorded Xet xorb (Xet clients deduplicate against all of them; collecting xorbs that no
file uses is left for later). When
the walk is incomplete (a commit, tree or file row is missing or cannot be decoded) it deletes no content and
no content rows at all: what the lost object referenced is unknown.

Why `--repair` is safe next to a running hub (one repair at a time):

- The database is read before the store is listed. Everything a ref reached when it was read was committed
  after its bytes were stored, so nothing referenced looks missing; what is committed later merely looks
  unreferenced, and it is young (next point).
- An object written but not committed yet (an LFS upload waiting for its commit, the files of a commit being
  made) is younger than the grace period: writers publish with a fresh modification time even when the same
  content was stored before (`BlobWriter.commit`). The grace period must exceed how long an upload may wait
  for its commit.
- Content stored long ago and committed again without being sent (an LFS file the client skipped because the
  hub had it) is `touch`ed by the commit before its ref moves, which renews its modification time. (S3 renews
  only objects older than an hour, by copying them onto themselves: there the grace period must exceed an
  hour plus the time a commit takes; the default day does.)
- Age is checked again at the moment of deletion (`BlobStore.prune`), not taken from the listing, so an object
  written or touched during the run is kept. On a local directory that check and the deletion are atomic (the
  file is renamed aside first); on S3 they are two requests, milliseconds apart.
- The rows of pruned content (`blobs`, `git_blobs`, `scan_results`) are deleted after its bytes, in a
  transaction that first checks the bytes are still gone; if they are back after it committed (a writer stored
  the same content meanwhile and may have read the old rows), the rows are put back.

The walk keeps sets of ids (commits, trees, files, contents) and the store listing in memory, never file
bytes: `--deep` streams each object in 1 MiB pieces.
"""

import contextlib
import itertools
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dulwich.objects import Commit, ShaFile, Tree
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmodelhub.db.models import (
    Blob,
    GitBlob,
    GitObject,
    LfsMultipartUpload,
    QuarantineRelease,
    Ref,
    Repo,
    RepoCommit,
    ScanRecord,
    XetFile,
    XetXorb,
)
from openmodelhub.protocol.digests import StreamingDigest, git_blob_sha1, lfs_pointer
from openmodelhub.services.gitstore import MODE_DIR
from openmodelhub.services.hub import Hub
from openmodelhub.storage import LocalBlobStore

ERROR = "error"
GARBAGE = "garbage"
DEFAULT_GRACE = timedelta(hours=24)
MODE_GITLINK = 0o160000  # a submodule entry: a commit of another repository, nothing stored here
BATCH = 500  # ids per IN (...) query
READ_CHUNK = 1 << 20

# Error kinds
MISSING_COMMIT = "missing_commit"
MISSING_TREE = "missing_tree"
BAD_GIT_OBJECT = "bad_git_object"
MISSING_GIT_BLOB = "missing_git_blob"
GIT_BLOB_MISMATCH = "git_blob_mismatch"
MISSING_CONTENT_ROW = "missing_content_row"
MISSING_OBJECT = "missing_object"
SIZE_MISMATCH = "size_mismatch"
CORRUPT_OBJECT = "corrupt_object"
MISSING_XORB = "missing_xorb"
# Errors that leave the walk incomplete: what they hide may reference "unreferenced" content.
WALK_ERRORS = {MISSING_COMMIT, MISSING_TREE, BAD_GIT_OBJECT, MISSING_GIT_BLOB}
# Garbage kinds
UNREFERENCED = "unreferenced"
ORPHAN_ROW = "orphan_row"
STALE_TEMP = "stale_temp"
STALE_UPLOAD = "stale_upload"


@dataclass
class Finding:
    kind: str
    object_id: str
    where: str
    message: str
    severity: str = ERROR
    size: int | None = None  # bytes the finding is about (garbage), when known
    deletable: bool = False  # garbage `--repair` deletes (old enough, nothing keeps it)
    repaired: bool = False  # `--repair` deleted it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FsckStats:
    repos: int = 0
    refs: int = 0
    commits: int = 0
    trees: int = 0
    files: int = 0  # distinct git blob ids in the trees walked
    contents: int = 0  # distinct sha256 those files stand for
    stored_objects: int = 0
    stored_bytes: int = 0
    hashed_objects: int = 0  # --deep
    hashed_bytes: int = 0
    deleted_objects: int = 0  # --repair
    deleted_bytes: int = 0
    deleted_rows: int = 0  # content rows (blobs + git_blobs + scan_results) and expired multipart uploads
    deleted_temp: int = 0  # temp files and part folders
    seconds: float = 0.0


@dataclass
class FsckReport:
    deep: bool
    repair: bool
    grace_seconds: float
    started_at: datetime
    findings: list[Finding] = field(default_factory=list)
    stats: FsckStats = field(default_factory=FsckStats)

    @property
    def errors(self) -> list[Finding]:
        """Errors still there (a repaired one was garbage that also was corrupt)."""
        return [f for f in self.findings if f.severity == ERROR and not f.repaired]

    @property
    def garbage(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == GARBAGE]

    @property
    def clean(self) -> bool:
        return not self.errors

    def kinds(self) -> list[tuple[str, str]]:
        """(kind, object id) of every finding, sorted: what tests compare."""
        return sorted((f.kind, f.object_id) for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "deep": self.deep,
            "repair": self.repair,
            "grace_seconds": self.grace_seconds,
            "started_at": self.started_at.isoformat(),
            "errors": len(self.errors),
            "garbage": len(self.garbage),
            "stats": asdict(self.stats),
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass
class _Content:
    """The first file found standing for some content."""

    size: int
    where: str
    lfs: bool


@dataclass
class _Row:
    size: int
    git_sha1: str
    created_at: datetime


def _batches(items: Iterable[str], n: int = BATCH) -> Iterator[list[str]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, n)):
        yield chunk


def _at(where: str, path: str) -> str:
    return f"{where}:{path}" if path else where


def _repo_label(type_: str, namespace: str, name: str) -> str:
    """How the Hub names a repo in URLs: `ns/name` for models, `datasets/ns/name` for datasets."""
    return f"{namespace}/{name}" if type_ == "model" else f"{type_}s/{namespace}/{name}"


def _short_ref(name: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def human_age(delta: timedelta) -> str:
    s = max(0, int(delta.total_seconds()))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} days"


def _aware(dt: datetime) -> datetime:
    """Database timestamps are naive UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


class _Restored(Exception):
    """The content came back while its rows were being deleted: roll the deletion back."""


class FsckService:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def run(
        self,
        *,
        deep: bool = False,
        repair: bool = False,
        grace: timedelta = DEFAULT_GRACE,
        now: datetime | None = None,
    ) -> FsckReport:
        """Check the whole hub; with `repair`, delete garbage older than `grace`. `now` (UTC) is the moment
        ages are measured from (default: the start of the run)."""
        if grace < timedelta(0):
            raise ValueError("the grace period cannot be negative")
        started = time.monotonic()
        now = _aware(now) if now is not None else datetime.now(UTC)
        return _Run(self.hub, deep=deep, repair=repair, grace=grace, now=now, started=started).execute()


def fsck(
    hub: Hub,
    *,
    deep: bool = False,
    repair: bool = False,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
) -> FsckReport:
    """Shorthand for `FsckService(hub).run(...)`."""
    return FsckService(hub).run(deep=deep, repair=repair, grace=grace, now=now)


class _Run:
    def __init__(
        self, hub: Hub, *, deep: bool, repair: bool, grace: timedelta, now: datetime, started: float
    ) -> None:
        self.hub = hub
        self.blobs = hub.blobs
        self.deep = deep
        self.repair = repair
        self.now = now
        self.cutoff = now - grace
        self.grace = grace
        self.started = started
        self.report = FsckReport(
            deep=deep, repair=repair, grace_seconds=grace.total_seconds(), started_at=now
        )
        self.stats = self.report.stats
        self._reported: set[tuple[str, str]] = set()
        # Filled by the walk
        self.content: dict[str, _Content] = {}
        self.rows: dict[str, _Row] = {}
        self.protected: dict[str, str] = {}  # sha256 -> why it is kept although unreferenced
        self.stale_uploads: list[LfsMultipartUpload] = []
        self.pending_uploads: set[str] = set()
        self.stored: dict[str, tuple[int, datetime]] = {}
        # Xet: xorb hash -> (blob sha256, size); content sha256 -> the xorbs its segments read
        self.xorbs: dict[str, tuple[str, int]] = {}
        self.xet_files: dict[str, list[str]] = {}

    def add(self, kind: str, object_id: str, where: str, message: str, **kw: Any) -> Finding | None:
        """Record a finding once per (kind, object)."""
        if (kind, object_id) in self._reported:
            return None
        self._reported.add((kind, object_id))
        finding = Finding(kind=kind, object_id=object_id, where=where, message=message, **kw)
        self.report.findings.append(finding)
        return finding

    def execute(self) -> FsckReport:
        with self.hub.read() as s:
            roots = self._roots(s)
            trees = self._walk_commits(s, roots)
            files = self._walk_trees(s, trees)
            self._load_rows(s)
            self._check_files(s, files)
            self._load_protected(s)
            self._load_xet(s)
        # The store is listed after the database was read: see the module docstring.
        for key, size, mtime in self.blobs.iter_objects():
            self.stored[key] = (size, _aware(mtime))
        self.stats.stored_objects = len(self.stored)
        self.stats.stored_bytes = sum(size for size, _ in self.stored.values())
        self._check_contents()
        if self.deep:
            self._hash_objects()
        self._collect_garbage()
        self._temp_files()
        self.stats.seconds = round(time.monotonic() - self.started, 3)
        return self.report

    # -- the walk ------------------------------------------------------------------------------------------
    def _roots(self, s: Session) -> list[tuple[str, str, str, str]]:
        """(commit id, repo, revision, via) for every ref, then every recorded commit of every repo."""
        repos = {
            id_: _repo_label(type_, ns, name)
            for id_, type_, ns, name in s.execute(select(Repo.id, Repo.type, Repo.namespace, Repo.name))
        }
        self.stats.repos = len(repos)
        roots: list[tuple[str, str, str, str]] = []
        for ref in s.scalars(select(Ref).order_by(Ref.repo_id, Ref.name)).all():
            repo = repos.get(ref.repo_id)
            if repo is None:
                continue
            self.stats.refs += 1
            roots.append((ref.target, repo, _short_ref(ref.name), f"target of {ref.name}"))
        for rc in s.scalars(select(RepoCommit).order_by(RepoCommit.repo_id, RepoCommit.commit_oid)).all():
            repo = repos.get(rc.repo_id)
            if repo is not None:
                roots.append((rc.commit_oid, repo, rc.commit_oid[:12], "a commit of the repo"))
        return roots

    def _load(self, s: Session, oids: list[str]) -> dict[str, tuple[str, bytes]]:
        rows = s.execute(select(GitObject.oid, GitObject.type, GitObject.data).where(GitObject.oid.in_(oids)))
        return {oid: (type_, bytes(data)) for oid, type_, data in rows}

    def _decode(
        self, row: tuple[str, bytes] | None, oid: str, want: str, where: str, via: str
    ) -> ShaFile | None:
        missing_kind = MISSING_COMMIT if want == "commit" else MISSING_TREE
        if row is None:
            self.add(missing_kind, oid, where, f"{want} {oid} ({via}) is not in the database")
            return None
        type_, data = row
        if type_ != want:
            self.add(
                BAD_GIT_OBJECT, oid, where, f"{oid} ({via}) should be a {want} but is stored as a {type_}"
            )
            return None
        try:
            obj = ShaFile.from_raw_string(Commit.type_num if want == "commit" else Tree.type_num, data)
            if want == "tree":
                obj.check()  # also parses every entry now, not halfway through the walk
            actual = obj.id.decode()
        except Exception as exc:  # any decoding failure of stored bytes is a finding, not a crash
            self.add(BAD_GIT_OBJECT, oid, where, f"{want} {oid} ({via}) cannot be decoded: {exc}")
            return None
        if actual != oid:
            self.add(BAD_GIT_OBJECT, oid, where, f"{want} {oid} ({via}) hashes to {actual}")
            return None
        return obj

    def _walk_commits(
        self, s: Session, roots: list[tuple[str, str, str, str]]
    ) -> dict[str, tuple[str, str, str]]:
        """Every commit reachable from the roots; returns their root trees as oid -> (where, path, via).
        `where` names a commit as `repo@branch` when a ref points at it, else as `repo@<commit id>`."""
        queue: dict[str, tuple[str, str, str]] = {}  # oid -> (repo, revision, via)
        seen: set[str] = set()
        trees: dict[str, tuple[str, str, str]] = {}
        for oid, repo, rev, via in roots:
            if oid not in queue:
                queue[oid] = (repo, rev, via)
        while queue:
            batch = list(itertools.islice(queue.items(), BATCH))
            for oid, _ in batch:
                del queue[oid]
                seen.add(oid)
            rows = self._load(s, [oid for oid, _ in batch])
            for oid, (repo, rev, via) in batch:
                where = f"{repo}@{rev}"
                commit = self._decode(rows.get(oid), oid, "commit", where, via)
                if not isinstance(commit, Commit):
                    continue
                self.stats.commits += 1
                tree = commit.tree.decode()
                trees.setdefault(tree, (where, "", f"tree of commit {oid}"))
                for parent in commit.parents:
                    p = parent.decode()
                    if p not in seen and p not in queue:
                        queue[p] = (repo, p[:12], f"parent of commit {oid}")
        return trees

    def _walk_trees(self, s: Session, roots: dict[str, tuple[str, str, str]]) -> dict[str, str]:
        """Every tree below the root trees; returns the files found as git blob id -> where (first seen)."""
        queue = dict(roots)
        seen: set[str] = set()
        files: dict[str, str] = {}
        while queue:
            batch = list(itertools.islice(queue.items(), BATCH))
            for oid, _ in batch:
                del queue[oid]
                seen.add(oid)
            rows = self._load(s, [oid for oid, _ in batch])
            for oid, (where, path, via) in batch:
                tree = self._decode(rows.get(oid), oid, "tree", _at(where, path), via)
                if not isinstance(tree, Tree):
                    continue
                self.stats.trees += 1
                for item in tree.iteritems():
                    name = item.path.decode("utf-8", "replace")
                    child = item.sha.decode()
                    child_path = f"{path}/{name}" if path else name
                    if item.mode == MODE_DIR:
                        if child not in seen and child not in queue:
                            queue[child] = (where, child_path, f"folder {child_path}")
                    elif item.mode != MODE_GITLINK:
                        files.setdefault(child, _at(where, child_path))
        self.stats.files = len(files)
        return files

    def _load_rows(self, s: Session) -> None:
        for sha, size, git_sha1, created_at in s.execute(
            select(Blob.sha256, Blob.size, Blob.git_sha1, Blob.created_at)
        ):
            self.rows[sha] = _Row(size=size, git_sha1=git_sha1, created_at=_aware(created_at))

    def _check_files(self, s: Session, files: dict[str, str]) -> None:
        for chunk in _batches(files):
            found = {
                r.oid: r
                for r in s.execute(
                    select(GitBlob.oid, GitBlob.sha256, GitBlob.size, GitBlob.is_lfs).where(
                        GitBlob.oid.in_(chunk)
                    )
                )
            }
            for oid in chunk:
                where = files[oid]
                r = found.get(oid)
                if r is None:
                    self.add(
                        MISSING_GIT_BLOB,
                        oid,
                        where,
                        f"file {oid} has no git_blobs row: its content is unknown",
                    )
                    continue
                self.content.setdefault(r.sha256, _Content(size=r.size, where=where, lfs=r.is_lfs))
                row = self.rows.get(r.sha256)
                if r.is_lfs:
                    expected = git_blob_sha1(lfs_pointer(r.sha256, r.size))
                    if expected != oid:
                        self.add(
                            GIT_BLOB_MISMATCH,
                            oid,
                            where,
                            f"LFS file {oid} should be the pointer {expected} to {r.sha256} ({r.size} bytes)",
                        )
                elif row is not None and row.git_sha1 != oid:
                    self.add(
                        GIT_BLOB_MISMATCH,
                        oid,
                        where,
                        f"file {oid} stands for content whose git id is {row.git_sha1}",
                    )
                if row is None:
                    self.add(
                        MISSING_CONTENT_ROW,
                        r.sha256,
                        where,
                        f"content {r.sha256} of file {oid} has no blobs row",
                    )
                elif row.size != r.size:
                    self.add(
                        GIT_BLOB_MISMATCH,
                        oid,
                        where,
                        f"file {oid} says its content has {r.size} bytes, the blobs row says {row.size}",
                    )
        self.stats.contents = len(self.content)

    def _load_protected(self, s: Session) -> None:
        ttl = timedelta(seconds=self.hub.settings.lfs_url_ttl_seconds)
        for up in s.scalars(select(LfsMultipartUpload)).all():
            created = _aware(up.created_at)
            # Its URLs were signed at creation: once they expired the upload can never complete.
            if created + ttl < self.now and created < self.cutoff:
                self.stale_uploads.append(up)
            else:
                self.pending_uploads.add(up.id)
                self.protected.setdefault(up.sha256, "a pending LFS multipart upload announces it")
        for sha in s.scalars(select(QuarantineRelease.sha256)).all():
            self.protected.setdefault(sha, "an admin released it from quarantine in a repo")

    def _load_xet(self, s: Session) -> None:
        for hash_, blob, size in s.execute(select(XetXorb.hash, XetXorb.blob_sha256, XetXorb.size)):
            self.xorbs[hash_] = (blob, size)
        for sha, segments in s.execute(select(XetFile.sha256, XetFile.segments)):
            # segments: [[xorb hash, chunk start, chunk end, bytes], ...]; only referenced files need them
            self.xet_files[sha] = sorted({seg[0] for seg in segments}) if sha in self.content else []

    # -- contents against the store ------------------------------------------------------------------------
    def _check_contents(self) -> None:
        for sha, ref in self.content.items():
            stored = self.stored.get(sha)
            row = self.rows.get(sha)
            kind = "LFS file" if ref.lfs else "file"
            if sha in self.xet_files:
                # Content uploaded with Xet is served from its xorbs (it may not be stored whole at all).
                self._check_xorbs(self.xet_files[sha], ref.where)
                if stored is None:
                    continue
            if stored is None:
                self.add(
                    MISSING_OBJECT,
                    sha,
                    ref.where,
                    f"the content of this {kind} ({human_size(ref.size)}, sha256 {sha}) is not in the blob "
                    "store",
                )
                continue
            expected = row.size if row is not None else ref.size
            if stored[0] != expected:
                self.add(
                    SIZE_MISMATCH,
                    sha,
                    ref.where,
                    f"the stored content of this {kind} has {stored[0]} bytes, expected {expected}",
                )
        self._check_xorbs(sorted(self.xorbs), "")
        for sha, (size, _) in self.stored.items():
            row = self.rows.get(sha)
            if sha not in self.content and row is not None and row.size != size:
                self.add(
                    SIZE_MISMATCH,
                    sha,
                    "blob store (unreferenced)",
                    f"stored object has {size} bytes, its blobs row says {row.size}",
                )

    def _check_xorbs(self, hashes: list[str], where: str) -> None:
        """Each xorb must be recorded and its bytes stored at the recorded size. `where`: the file that needs
        them ("" for the xorbs themselves, every one of which dedup may hand out)."""
        for h in hashes:
            xorb = self.xorbs.get(h)
            if xorb is None:
                self.add(MISSING_XORB, h, where, f"xorb {h}, which this Xet file is made of, is not recorded")
                continue
            blob, size = xorb
            stored = self.stored.get(blob)
            if stored is None:
                self.add(
                    MISSING_OBJECT, blob, where or f"xet xorb {h}", f"the bytes of xorb {h} are not stored"
                )
            elif stored[0] != size:
                self.add(
                    SIZE_MISMATCH,
                    blob,
                    where or f"xet xorb {h}",
                    f"the stored bytes of xorb {h} are {stored[0]} bytes, expected {size}",
                )

    def _hash_objects(self) -> None:
        for sha in sorted(self.stored):
            size = self.stored[sha][0]
            if (SIZE_MISMATCH, sha) in self._reported:
                continue  # the digest cannot match either; one finding says it
            digest = StreamingDigest(size)
            try:
                with self.blobs.open(sha) as f:
                    while chunk := f.read(READ_CHUNK):
                        digest.update(chunk)
            except FileNotFoundError:  # deleted since the listing
                continue
            self.stats.hashed_objects += 1
            self.stats.hashed_bytes += digest.size
            where = self.content[sha].where if sha in self.content else "blob store (unreferenced)"
            if digest.size != size or digest.sha256 != sha:
                self.add(
                    CORRUPT_OBJECT,
                    sha,
                    where,
                    f"stored bytes ({digest.size}) hash to sha256 {digest.sha256}, not to their key",
                )
                continue
            row = self.rows.get(sha)
            if row is not None and row.git_sha1 != digest.git_sha1:
                self.add(
                    GIT_BLOB_MISMATCH,
                    sha,
                    where,
                    f"the blobs row says the content's git id is {row.git_sha1}, it is {digest.git_sha1}",
                )

    # -- garbage -------------------------------------------------------------------------------------------
    def _collect_garbage(self) -> None:
        grace = human_age(self.grace)
        # With a commit, tree or file row missing, what it referenced is unknown: no content is garbage then.
        incomplete = any(f.kind in WALK_ERRORS for f in self.report.findings)
        blind = "the walk is incomplete (see the errors), it may be referenced" if incomplete else None
        # Xorbs are kept while recorded: Xet clients deduplicate against every recorded xorb, so one no commit
        # uses may be part of a file being uploaded right now. (Collecting xorbs is not done yet.)
        xorb_blobs = {blob for blob, _ in self.xorbs.values()}
        for sha in sorted(self.stored):
            if sha in self.content or sha in xorb_blobs:
                continue
            size, mtime = self.stored[sha]
            why = blind or self.protected.get(sha)
            old = mtime < self.cutoff
            note = (
                f"kept: {why}" if why else ("" if old else f"kept: younger than the grace period ({grace})")
            )
            message = (
                f"referenced by no commit; {human_size(size)}, written {human_age(self.now - mtime)} ago"
            )
            finding = self.add(
                UNREFERENCED,
                sha,
                "blob store",
                f"{message}; {note}" if note else message,
                severity=GARBAGE,
                size=size,
                deletable=old and not why,
            )
            if self.repair and old and not why and finding is not None:
                self._prune(sha, size, finding)
        for sha, row in sorted(self.rows.items()):
            # Content recorded as a Xet file is still stored, as xorbs.
            if sha in self.content or sha in self.stored or sha in self.xet_files or sha in xorb_blobs:
                continue
            old = row.created_at < self.cutoff
            message = "a blobs row of content that is not stored and that no commit references"
            note = (
                f"kept: {blind}"
                if blind
                else ("" if old else f"kept: younger than the grace period ({grace})")
            )
            finding = self.add(
                ORPHAN_ROW,
                sha,
                "blobs table",
                f"{message}; {note}" if note else message,
                severity=GARBAGE,
                deletable=old and not blind,
            )
            if self.repair and old and not blind and finding is not None:
                deleted = self._delete_rows(sha)
                if deleted:
                    finding.repaired = True
                    self.stats.deleted_rows += deleted
        for up in self.stale_uploads:
            finding = self.add(
                STALE_UPLOAD,
                up.id,
                f"LFS multipart upload of {up.sha256}",
                f"started {human_age(self.now - _aware(up.created_at))} ago; its URLs have expired",
                severity=GARBAGE,
                deletable=True,
            )
            if self.repair and finding is not None:
                with self.hub.write.begin() as s:
                    s.execute(delete(LfsMultipartUpload).where(LfsMultipartUpload.id == up.id))
                shutil.rmtree(self._multipart_dir() / up.id, ignore_errors=True)
                finding.repaired = True
                self.stats.deleted_rows += 1

    def _prune(self, sha: str, size: int, finding: Finding) -> None:
        if not self.blobs.prune(sha, self.cutoff):
            finding.message += "; kept: written or used again during this run"
            return
        finding.repaired = True
        self.stats.deleted_objects += 1
        self.stats.deleted_bytes += size
        # A corrupt or wrongly sized object nothing referenced is gone with it.
        for other in self.report.findings:
            if other.object_id == sha and other.severity == ERROR:
                other.repaired = True
        if sha not in self.xet_files:  # content recorded as a Xet file is still stored (as xorbs): rows stay
            self.stats.deleted_rows += self._delete_rows(sha)

    def _delete_rows(self, sha: str) -> int:
        """Delete the rows of content that is no longer stored. Returns how many rows were deleted."""
        try:
            with self.hub.write.begin() as s:
                blob = s.get(Blob, sha)
                git_blobs = s.scalars(select(GitBlob).where(GitBlob.sha256 == sha)).all()
                scans = s.scalars(select(ScanRecord).where(ScanRecord.sha256 == sha)).all()
                saved = (
                    None if blob is None else Blob(sha256=sha, size=blob.size, git_sha1=blob.git_sha1),
                    [GitBlob(oid=g.oid, sha256=sha, size=g.size, is_lfs=g.is_lfs) for g in git_blobs],
                    [_copy_scan(r) for r in scans],
                )
                count = len(scans) + len(git_blobs) + (blob is not None)
                s.execute(delete(ScanRecord).where(ScanRecord.sha256 == sha))
                s.execute(delete(GitBlob).where(GitBlob.sha256 == sha))
                s.execute(delete(Blob).where(Blob.sha256 == sha))
                if self.blobs.exists(sha):
                    raise _Restored
        except _Restored:
            return 0
        if self.blobs.exists(sha):
            # Stored again between our check and our commit; its writer may have seen the old rows and not
            # written them again, so they are put back.
            self._restore_rows(*saved)
            return 0
        return count

    def _restore_rows(self, blob: Blob | None, git_blobs: list[GitBlob], scans: list[ScanRecord]) -> None:
        for row in [blob, *git_blobs, *scans]:
            if row is None:
                continue
            with contextlib.suppress(IntegrityError), self.hub.write.begin() as s:
                key = s.get(type(row), _identity(row))
                if key is None:
                    s.add(row)

    # -- temp areas ----------------------------------------------------------------------------------------
    def _multipart_dir(self) -> Path:
        return self.hub.settings.tmp_dir / "multipart"

    def _temp_files(self) -> None:
        """Files left by interrupted writes: blob store staging, spilled commit bodies, multipart parts."""
        candidates: list[tuple[Path, str]] = []
        if isinstance(self.blobs, LocalBlobStore):
            candidates += [(p, "blob store staging") for p in _children(self.blobs.staging)]
        elif self.repair:
            # Remote stores clean their own staging area (no per-file report).
            self.stats.deleted_temp += self.blobs.clean_staging(older_than_seconds=self.grace.total_seconds())
        tmp = self.hub.settings.tmp_dir
        candidates += [(p, "commit body spill") for p in _children(tmp) if p.suffix == ".str"]
        stale_ids = {up.id for up in self.stale_uploads}
        candidates += [
            (p, "multipart parts")
            for p in _children(self._multipart_dir())
            if p.is_dir() and p.name not in self.pending_uploads and p.name not in stale_ids
        ]
        for path, what in candidates:
            mtime = _newest_mtime(path)
            if mtime is None or mtime >= self.cutoff:
                continue
            finding = self.add(
                STALE_TEMP,
                path.name,
                f"{what} ({path.parent})",
                f"left by an interrupted write {human_age(self.now - mtime)} ago",
                severity=GARBAGE,
                size=_size(path),
                deletable=True,
            )
            if self.repair and finding is not None and _remove_if_old(path, self.cutoff):
                finding.repaired = True
                self.stats.deleted_temp += 1


def _copy_scan(r: ScanRecord) -> ScanRecord:
    return ScanRecord(
        sha256=r.sha256,
        hint=r.hint,
        scanner_version=r.scanner_version,
        verdict=r.verdict,
        format=r.format,
        findings=r.findings,
        pickle_imports=r.pickle_imports,
        scanned_at=r.scanned_at,
    )


def _identity(row: Blob | GitBlob | ScanRecord) -> Any:
    if isinstance(row, Blob):
        return row.sha256
    if isinstance(row, GitBlob):
        return row.oid
    return (row.sha256, row.hint, row.scanner_version)


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except FileNotFoundError:
        return []


def _size(path: Path) -> int | None:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _newest_mtime(path: Path) -> datetime | None:
    """Modification time of a file, or of the newest file in a folder (a part written now keeps it)."""
    try:
        times = [path.stat().st_mtime]
        if path.is_dir():
            times += [p.stat().st_mtime for p in path.rglob("*")]
    except FileNotFoundError:
        return None
    return datetime.fromtimestamp(max(times), UTC)


def _remove_if_old(path: Path, cutoff: datetime) -> bool:
    mtime = _newest_mtime(path)
    if mtime is None or mtime >= cutoff:
        return False
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return True


__all__ = [
    "DEFAULT_GRACE",
    "ERROR",
    "GARBAGE",
    "Finding",
    "FsckReport",
    "FsckService",
    "FsckStats",
    "fsck",
    "human_age",
    "human_size",
]
