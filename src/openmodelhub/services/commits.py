"""Making commits: parse the NDJSON body, store verified bytes, build the tree, move the branch atomically."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmodelhub.db.models import Ref, Repo, RepoCommit
from openmodelhub.jobs.base import JobQueue
from openmodelhub.protocol.digests import HEX64, git_blob_sha1, lfs_pointer
from openmodelhub.protocol.names import DEFAULT_BRANCH, NameError_, normalize_folder_path, validate_file_path
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services import background
from openmodelhub.services.auth import Principal
from openmodelhub.services.cards import card_facts
from openmodelhub.services.content import ContentService
from openmodelhub.services.discussions import DiscussionService, pr_number
from openmodelhub.services.errors import (
    BadRequest,
    DuplicatePath,
    InvalidPath,
    LfsObjectNotFound,
    NotABranch,
    NotSupported,
    ParentCommitMismatch,
    RevisionNotFound,
    SizeMismatch,
)
from openmodelhub.services.gitstore import GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.services.lineage import relation_tags
from openmodelhub.services.ndjson import (
    NdjsonError,
    NdjsonReader,
    SpilledString,
    base64_decoded_size,
    iter_base64,
)
from openmodelhub.services.repo_content import RepoContents, record_in
from openmodelhub.services.repos import HEADS, RepoService, ensure_blob_rows, sync_repo_tags
from openmodelhub.services.scans import ScanService
from openmodelhub.services.trees import LfsRules, TreeBuilder, commit_message, make_commit
from openmodelhub.storage import BlobInfo, ChecksumError

MAX_CARD_BYTES = 1 << 20
CAS_ATTEMPTS = 8


@dataclass
class AddFile:
    path: str
    blob: BlobInfo
    sent_as_lfs: bool
    claimed_size: int | None = None  # an lfsFile's `size` (checked once the object is known to be the repo's)


@dataclass
class DeletePath:
    path: str
    folder: bool


Operation = AddFile | DeletePath


@dataclass
class CommitRequest:
    summary: str
    description: str = ""
    parent_commit: str | None = None
    operations: list[Operation] = field(default_factory=list)


@dataclass(frozen=True)
class CommitResult:
    oid: str
    branch: str
    pr_num: int | None = None  # the pull request the commit opened (`create_pr`)


@dataclass
class _Landing:
    """A commit that goes into a pull request: `land` runs in the commit's transaction (after `refs/pr/N`
    moved, or instead of moving any ref when the commit `opens` a new pull request) and returns its number."""

    opens: bool
    land: Callable[[Session, str], int]
    num: int | None = None


def _check_path(path: Any) -> str:
    if not isinstance(path, str):
        raise InvalidPath("each operation needs a 'path' string")
    try:
        return validate_file_path(path)
    except NameError_ as exc:
        raise InvalidPath(str(exc)) from exc


class CommitService:
    def __init__(
        self,
        hub: Hub,
        git: GitStore,
        repos: RepoService,
        scans: ScanService,
        jobs: JobQueue | None = None,
        discussions: DiscussionService | None = None,
    ) -> None:
        self.hub = hub
        self.git = git
        self.repos = repos
        self.scans = scans
        self.jobs = jobs
        self.discussions = discussions
        self.contents = RepoContents(hub, repos)

    # -- reading the wire format ---------------------------------------------------------------------------
    def read_ndjson(self, body: BinaryIO) -> CommitRequest:
        """Parse a commit body; regular file contents are stored (verified) in the blob store on the way."""
        reader = NdjsonReader(body, self.hub.settings.tmp_dir)
        request: CommitRequest | None = None
        try:
            for index, line in enumerate(reader):
                if not isinstance(line, dict) or not isinstance(line.get("value"), dict):
                    raise BadRequest(f"line {index + 1} of the commit body is not a {{key, value}} object")
                key, value = line.get("key"), line["value"]
                if index == 0:
                    if key != "header":
                        raise BadRequest("the first line of a commit body must be the 'header'")
                    request = self._header(value)
                    continue
                assert request is not None
                request.operations.append(self._operation(key, value))
        except NdjsonError as exc:
            raise BadRequest(f"malformed commit body: {exc}") from exc
        finally:
            reader.close()
        if request is None:
            raise BadRequest("empty commit body: expected a header line")
        return request

    @staticmethod
    def _header(value: dict[str, Any]) -> CommitRequest:
        summary = value.get("summary")
        description = value.get("description") or ""
        parent = value.get("parentCommit")
        if not isinstance(summary, str) or not isinstance(description, str):
            raise BadRequest("the header needs 'summary' and 'description' strings")
        if parent is not None:
            if (
                not isinstance(parent, str)
                or not (5 <= len(parent) <= 40)
                or any(c not in "0123456789abcdef" for c in parent.lower())
            ):
                raise BadRequest("'parentCommit' must be 5 to 40 hexadecimal characters")
            parent = parent.lower()
        return CommitRequest(summary=summary, description=description, parent_commit=parent)

    def _operation(self, key: Any, value: dict[str, Any]) -> Operation:
        if key == "file":
            return self._file(value)
        if key == "lfsFile":
            return self._lfs_file(value)
        if key in ("deletedFile", "deletedFolder"):
            return self._deletion(value, folder=key == "deletedFolder")
        raise BadRequest(f"unknown commit operation {key!r}")

    def _file(self, value: dict[str, Any]) -> AddFile:
        """A regular file: its base64 content is decoded in chunks straight into the blob store."""
        path = _check_path(value.get("path"))
        if value.get("encoding", "base64") != "base64":
            raise BadRequest(f"{path}: only base64 encoding is supported for file content")
        content = value.get("content")
        if not isinstance(content, str | SpilledString):
            raise BadRequest(f"{path}: 'content' must be a base64 string")
        writer = self.hub.blobs.writer(base64_decoded_size(content))
        try:
            for chunk in iter_base64(content):
                writer.write(chunk)
            blob = writer.commit()
        except ChecksumError as exc:
            raise BadRequest(f"{path}: invalid base64 content ({exc})") from exc
        finally:
            writer.abort()
        return AddFile(path=path, blob=blob, sent_as_lfs=False)

    def _lfs_file(self, value: dict[str, Any]) -> AddFile:
        """An LFS file: accepted only when its object was uploaded and verified before (to the repo of the
        commit: `create_commit` checks that, then the size)."""
        path = _check_path(value.get("path"))
        oid, size, algo = value.get("oid"), value.get("size"), value.get("algo", "sha256")
        if algo != "sha256" or not isinstance(oid, str) or not HEX64.match(oid.lower()):
            raise BadRequest(f"{path}: 'lfsFile' needs a sha256 'oid'")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise BadRequest(f"{path}: 'size' must be a non-negative integer")
        # Content uploaded through LFS (a blob) or Xet (xorbs whose reconstruction was verified).
        content = ContentService.of(self.hub)
        info = content.info(oid.lower())
        # touch, not exists: content stored long ago must not be garbage-collected while this commit is made
        if info is None or not content.touch(info.sha256):
            raise LfsObjectNotFound(_not_uploaded(path, oid.lower()))
        return AddFile(path=path, blob=info, sent_as_lfs=True, claimed_size=size)

    @staticmethod
    def _deletion(value: dict[str, Any], *, folder: bool) -> DeletePath:
        raw = value.get("path")
        if not isinstance(raw, str):
            raise InvalidPath("a deletion needs a 'path' string")
        try:
            path = normalize_folder_path(raw) if folder else validate_file_path(raw)
        except NameError_ as exc:
            raise InvalidPath(str(exc)) from exc
        return DeletePath(path=path, folder=folder)

    # -- making the commit ---------------------------------------------------------------------------------
    def create_commit(
        self,
        principal: Principal | None,
        repo: Repo,
        branch: str,
        request: CommitRequest,
        *,
        create_pr: bool = False,
        skip_if_unchanged: bool = False,
    ) -> CommitResult:
        """Apply `request` on top of `branch` and move it, atomically. With `skip_if_unchanged`, a commit that
        would not change the tree is not made and the current head is returned.

        With `create_pr`, the commit is made on top of `branch` (or of `parent_commit`) and opens a pull
        request into it instead (`refs/pr/N` points at the commit); a commit to `refs/pr/N` goes into that
        pull request. Either way the pull request and its ref or event are stored in the commit's
        transaction."""
        assert principal is not None
        num = None if create_pr else pr_number(branch)
        landing: _Landing | None = None
        if create_pr or num is not None:
            discussions = self.discussions
            if discussions is None:
                raise NotSupported("Pull requests are not available on this hub")
            discussions.require_push(principal, repo, branch, create_pr)
            skip_if_unchanged = False
            if create_pr:
                target = HEADS + branch.removeprefix(HEADS)

                def open_pr(s: Session, oid: str) -> int:
                    return discussions.open_pr_in(
                        s, repo, principal, request.summary, request.description, oid, target
                    )

                landing = _Landing(opens=True, land=open_pr)
            else:
                pr = num

                def into_pr(s: Session, oid: str) -> int:
                    assert pr is not None
                    discussions.record_commit_in(s, repo, pr, principal, oid, request.summary)
                    return pr

                landing = _Landing(opens=False, land=into_pr)
        seen: set[tuple[str, bool]] = set()
        for op in request.operations:
            key = (op.path, isinstance(op, DeletePath) and op.folder)
            if key in seen:
                raise DuplicatePath(f"{op.path!r} appears more than once in this commit")
            seen.add(key)
        self._check_lfs_objects(repo, request)
        ref_name = branch if branch.startswith("refs/") else HEADS + branch
        if create_pr:
            head = self._pr_base(repo, branch, request.parent_commit)
        else:
            head = self.repos.branch_head(repo, branch)
        if not create_pr and request.parent_commit and not head.startswith(request.parent_commit):
            raise ParentCommitMismatch(
                f"The branch {branch!r} is at {head}, not at the parent commit {request.parent_commit}: "
                "someone else committed in between; fetch and retry"
            )
        # Every file is scanned before the branch can point at it, so nothing is served unscanned.
        for op in request.operations:
            if isinstance(op, AddFile):
                self.scans.ensure_scanned(op.blob.sha256, op.path)
        message = commit_message(request.summary, request.description)
        for _attempt in range(CAS_ATTEMPTS):
            new_oid = self._try_commit(
                principal, repo, ref_name, head, message, request, skip_if_unchanged, landing
            )
            if new_oid is not None:
                if new_oid != head:
                    # After the ref moved: fingerprint, openness... as background jobs; never fails the commit
                    # (what is not done by a job is done by `reconcile` or computed on first read).
                    background.after_commit(self.jobs, repo, new_oid)
                return CommitResult(oid=new_oid, branch=branch, pr_num=landing.num if landing else None)
            if create_pr:
                continue  # another pull request took the number: the base is unchanged, try the next one
            head = self.repos.branch_head(repo, branch)
            if request.parent_commit:
                raise ParentCommitMismatch(
                    f"The branch {branch!r} moved to {head} while this commit was being made; fetch and retry"
                )
        raise ParentCommitMismatch(f"The branch {branch!r} is too busy; retry the commit")

    def _check_lfs_objects(self, repo: Repo, request: CommitRequest) -> None:
        """Every lfsFile must name content uploaded to this repo or already in its history: the bytes are
        stored once for the whole hub, and a sha256 (shown in a gated repo's tree, or guessed) is not the
        bytes. Content of other repos gets the same answer as content never uploaded, so nothing leaks."""
        lfs = [op for op in request.operations if isinstance(op, AddFile) and op.sent_as_lfs]
        if not lfs:
            return
        held = self.contents.holds(repo, {op.blob.sha256 for op in lfs})
        for op in lfs:
            if op.blob.sha256 not in held:
                raise LfsObjectNotFound(_not_uploaded(op.path, op.blob.sha256))
            if op.claimed_size is not None and op.claimed_size != op.blob.size:
                raise SizeMismatch(
                    f"{op.path}: LFS object {op.blob.sha256} has {op.blob.size} bytes, "
                    f"the commit says {op.claimed_size}"
                )

    def _try_commit(
        self,
        principal: Principal,
        repo: Repo,
        ref_name: str,
        head: str,
        message: str,
        request: CommitRequest,
        skip_if_unchanged: bool = False,
        landing: _Landing | None = None,
    ) -> str | None:
        """Build on `head` and move the ref if it is still there. None when someone else moved it first."""
        base_tree = self.git.commit_tree(head)
        builder = TreeBuilder(self.git, base_tree)
        rules = LfsRules(self._gitattributes(builder, request))
        threshold = self.hub.settings.lfs_size_threshold
        blob_rows: list[tuple[BlobInfo, str, bool]] = []
        for op in request.operations:
            if isinstance(op, DeletePath):
                (builder.delete_folder if op.folder else builder.delete_file)(op.path)
                continue
            as_lfs = op.sent_as_lfs or rules.is_lfs(op.path) or op.blob.size > threshold
            oid = git_blob_sha1(lfs_pointer(op.blob.sha256, op.blob.size)) if as_lfs else op.blob.git_sha1
            builder.set_file(op.path, oid)
            blob_rows.append((op.blob, oid, as_lfs))
        tree_oid, trees = builder.build()
        if skip_if_unchanged and tree_oid == base_tree:
            return head
        self.git.remember(trees)
        now = utcnow()
        commit = make_commit(
            tree=tree_oid,
            parents=[head],
            author=principal.name,
            email=principal.email or f"{principal.name}@users.openmodelhub.local",
            message=message,
            when=now,
        )
        new_oid = commit.id.decode()
        facts = None
        if ref_name == HEADS + DEFAULT_BRANCH and landing is None:
            pending = {oid: blob.sha256 for blob, oid, _ in blob_rows}
            facts = self._card_facts(tree_oid, repo, pending)
        try:
            with self.hub.write.begin() as s:
                for blob, oid, as_lfs in blob_rows:
                    ensure_blob_rows(s, blob.sha256, blob.size, blob.git_sha1, [(oid, as_lfs)])
                # Its LFS files are the repo's now: later commits and uploads find them with one lookup.
                record_in(s, repo.id, [blob.sha256 for blob, _, as_lfs in blob_rows if as_lfs])
                self.git.add_objects(s, [*trees, commit])
                if landing is None or not landing.opens:
                    moved = s.execute(
                        update(Ref)
                        .where(Ref.repo_id == repo.id, Ref.name == ref_name, Ref.target == head)
                        .values(target=new_oid, updated_at=now.replace(tzinfo=None))
                    ).rowcount  # type: ignore[attr-defined]
                    if moved != 1:
                        s.rollback()
                        return None
                s.add(RepoCommit(repo_id=repo.id, commit_oid=new_oid))
                if landing is not None:
                    # A pull request is not the repo's content: its repo row (last modified, card) stays.
                    s.flush()
                    landing.num = landing.land(s, new_oid)
                    return new_oid
                values: dict[str, Any] = {"last_modified": now.replace(tzinfo=None)}
                if facts is not None:
                    values.update(
                        card_data=facts.card_data,
                        tags=facts.tags,
                        pipeline_tag=facts.pipeline_tag,
                        library_name=facts.library_name,
                    )
                    sync_repo_tags(s, repo.id, facts.tags, facts.pipeline_tag, facts.library_name)
                s.execute(update(Repo).where(Repo.id == repo.id).values(**values))
        except IntegrityError:
            return None  # a concurrent writer inserted the same rows first; rebuild and retry
        return new_oid

    def _pr_base(self, repo: Repo, branch: str, parent: str | None) -> str:
        """The commit a new pull request starts from: `parent` (a commit id or a prefix of one), else the
        head of `branch`."""
        if branch.startswith("refs/") and not branch.startswith(HEADS):
            raise NotABranch(f"A pull request can only target a branch, not {branch!r}")
        head = self.repos.branch_head(repo, branch)
        if parent is None or head.startswith(parent):
            return head
        with self.hub.read() as s:
            found = s.scalars(
                select(RepoCommit.commit_oid)
                .where(RepoCommit.repo_id == repo.id)
                .where(RepoCommit.commit_oid.startswith(parent, autoescape=True))
                .limit(2)
            ).all()
        if len(found) != 1:
            raise RevisionNotFound(
                f"The parent commit {parent} is {'ambiguous' if found else 'not a commit of this repo'}"
            )
        return found[0]

    def card_facts(self, repo: Repo, tree_oid: str) -> Any:
        """Card metadata, tags and lineage of a default-branch tree made elsewhere (a pull request merge)."""
        return self._card_facts(tree_oid, repo, {})

    def _gitattributes(self, builder: TreeBuilder, request: CommitRequest) -> str | None:
        for op in reversed(request.operations):
            if op.path == ".gitattributes" or (isinstance(op, DeletePath) and op.folder and op.path == ""):
                if isinstance(op, DeletePath):
                    return None
                if op.blob.size > MAX_CARD_BYTES:
                    return None
                data = ContentService.of(self.hub).read_all(op.blob.sha256, MAX_CARD_BYTES)
                return data.decode("utf-8", "replace")
        return self._read_small(builder.get(".gitattributes"))

    def _read_small(self, found: tuple[int, str] | None, pending: dict[str, str] | None = None) -> str | None:
        """Text of a small file given its tree entry; `pending` maps blob ids of this commit to sha256."""
        if found is None:
            return None
        sha256 = (pending or {}).get(found[1])
        if sha256 is None:
            meta = self.git.blob_metas([found[1]]).get(found[1])
            if meta is None:
                return None
            sha256 = meta.sha256
        try:
            return ContentService.of(self.hub).read_all(sha256, MAX_CARD_BYTES).decode("utf-8", "replace")
        except ValueError:
            return None

    def _card_facts(self, tree_oid: str, repo: Repo, pending: dict[str, str]) -> Any:
        readme = self._read_small(_file_at(self.git, tree_oid, "README.md"), pending)
        config_text = (
            self._read_small(_file_at(self.git, tree_oid, "config.json"), pending)
            if repo.type == "model"
            else None
        )
        config = None
        if config_text:
            try:
                loaded = json.loads(config_text)
                config = loaded if isinstance(loaded, dict) else None
            except ValueError:
                config = None
        facts = card_facts(readme, config)
        # Lineage tags in the public Hub form (`base_model:<relation>:<id>`), so listings filter on them.
        paths = [e.path for e in self.git.iter_tree(tree_oid, recursive=True) if not e.is_dir]
        facts.tags.extend(t for t in relation_tags(facts.card_data, paths, config) if t not in facts.tags)
        return facts


def _not_uploaded(path: str, oid: str) -> str:
    return (
        f"{path}: LFS object {oid} has not been uploaded to this repo: upload it first "
        "(through the LFS batch API or Xet)"
    )


def _file_at(git: GitStore, tree_oid: str, path: str) -> tuple[int, str] | None:
    entry = git.lookup(tree_oid, path)
    if entry is None or entry.is_dir:
        return None
    return entry.mode, entry.oid
