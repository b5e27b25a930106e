"""What the web UI reads and writes beyond the API's services: the card of a revision, file previews (text,
pretty JSON, a safetensors header summary), the diff of a commit, listing facets, and commits made from
browser forms (uploads and edits).

Every read of file content here passes the same checks as a download: the caller may read the repo, the
gate lets them see its files (services/access.py), and the scan policy serves the content
(services/scans.py). Nothing here loads tensors: a safetensors summary reads the header bytes only.
"""

import difflib
import json
import math
import struct
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from openmodelhub.db.models import Repo
from openmodelhub.protocol.names import NameError_, RepoType, validate_file_path
from openmodelhub.services.access import AccessService
from openmodelhub.services.auth import Principal
from openmodelhub.services.cards import CardError, parse_card_metadata, split_front_matter
from openmodelhub.services.commits import AddFile, CommitRequest, CommitResult, CommitService
from openmodelhub.services.content import ContentService
from openmodelhub.services.errors import (
    BadRequest,
    FileQuarantined,
    GatedRepo,
    InvalidPath,
    PayloadTooLarge,
)
from openmodelhub.services.files import CommitInfo, FileService
from openmodelhub.services.gitstore import MODE_DIR, GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.services.repos import ListQuery, RepoService
from openmodelhub.services.scans import ScanService
from openmodelhub.storage import ChecksumError

CARD_LIMIT = 1 << 20
TEXT_PREVIEW_LIMIT = 1 << 20  # larger files are offered as a download
SAFETENSORS_HEADER_LIMIT = 25 * (1 << 20)
SAFETENSORS_ROWS = 1000
DIFF_FILE_LIMIT = 256 * 1024  # both sides of a file at most this big, or no diff is shown
DIFF_MAX_FILES = 50  # files whose diff is shown in one commit page
DIFF_MAX_CHANGES = 1000  # changed paths listed in one commit page
DIFF_MAX_LINES = 5000  # lines of one file's diff
FACET_SCAN_LIMIT = 5000
FACET_TOP = 30
EDIT_LIMIT = TEXT_PREVIEW_LIMIT


@dataclass(frozen=True)
class Card:
    """README.md of a revision: its metadata and the Markdown body (without the front matter)."""

    metadata: dict[str, Any]
    body: str
    error: str | None = None  # why the metadata could not be read (the body is then the whole file)


@dataclass(frozen=True)
class TensorRow:
    name: str
    dtype: str
    shape: tuple[int, ...]
    parameters: int


@dataclass(frozen=True)
class SafetensorsSummary:
    header_bytes: int
    tensor_count: int
    parameter_count: int
    dtypes: dict[str, int]  # dtype -> number of tensors
    tensors: list[TensorRow]  # the first SAFETENSORS_ROWS, in file order
    metadata: dict[str, str]

    @property
    def truncated(self) -> bool:
        return self.tensor_count > len(self.tensors)


@dataclass(frozen=True)
class FilePreview:
    """What the file viewer shows. `kind`: "text", "json" (pretty-printed `text`), "safetensors",
    "binary", "too_large" or "blocked" (gated, or quarantined by the scan policy: `message` says which)."""

    path: str
    commit: str
    size: int
    is_lfs: bool
    sha256: str
    kind: str
    text: str | None = None
    safetensors: SafetensorsSummary | None = None
    message: str | None = None
    warning: str | None = None  # a scan finding shown next to content that is served anyway


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # "added" | "deleted" | "modified"
    old_size: int | None
    new_size: int | None
    is_lfs: bool
    diff: list[str] | None = None  # unified diff lines, without the ---/+++ header
    note: str | None = None  # why there is no diff


@dataclass(frozen=True)
class CommitDiff:
    info: CommitInfo
    changes: list[FileChange]
    truncated: bool  # more than DIFF_MAX_CHANGES paths changed


@dataclass(frozen=True)
class Facets:
    tasks: list[tuple[str, int]] = field(default_factory=list)
    libraries: list[tuple[str, int]] = field(default_factory=list)
    licenses: list[tuple[str, int]] = field(default_factory=list)
    tags: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class UploadedFile:
    """A file sent by a browser form: where it goes in the repo and its bytes."""

    path: str
    stream: BinaryIO
    size: int


def _check_path(path: str) -> str:
    try:
        return validate_file_path(path)
    except NameError_ as exc:
        raise InvalidPath(str(exc)) from exc


def safetensors_summary(header: bytes) -> SafetensorsSummary:
    """Summarise a safetensors JSON header (the bytes after the 8-byte length). Raises ValueError."""
    data = json.loads(header)
    if not isinstance(data, dict):
        raise ValueError("the header is not a JSON object")
    metadata_raw = data.pop("__metadata__", None) or {}
    if not isinstance(metadata_raw, dict):
        raise ValueError("__metadata__ is not an object")
    rows: list[TensorRow] = []
    dtypes: Counter[str] = Counter()
    total = 0
    for name, spec in data.items():
        if not isinstance(spec, dict):
            raise ValueError(f"tensor {name!r} is not described by an object")
        dtype, shape = spec.get("dtype"), spec.get("shape")
        if not isinstance(dtype, str) or not isinstance(shape, list):
            raise ValueError(f"tensor {name!r} has no dtype or shape")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ValueError(f"tensor {name!r} has an invalid shape")
        params = math.prod(shape)
        total += params
        dtypes[dtype] += 1
        if len(rows) < SAFETENSORS_ROWS:
            rows.append(TensorRow(name, dtype, tuple(shape), params))
    return SafetensorsSummary(
        header_bytes=len(header),
        tensor_count=len(data),
        parameter_count=total,
        dtypes=dict(dtypes.most_common()),
        tensors=rows,
        metadata={str(k): str(v) for k, v in metadata_raw.items()},
    )


def _decode_text(data: bytes) -> str | None:
    """The text of `data`, or None for binary content (NUL bytes or not UTF-8)."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class BrowseService:
    def __init__(
        self,
        hub: Hub,
        git: GitStore,
        repos: RepoService,
        files: FileService,
        commits: CommitService,
        scans: ScanService,
        access: AccessService,
    ) -> None:
        self.hub = hub
        self.git = git
        self.repos = repos
        self.files = files
        self.commits = commits
        self.scans = scans
        self.access = access
        # File bytes are read wherever they are stored: a blob, or Xet xorbs.
        self.content = ContentService.of(hub)

    # -- cards ---------------------------------------------------------------------------------------------
    def card(self, repo: Repo, commit: str) -> Card | None:
        """README.md at `commit`, None when there is none (or it is larger than CARD_LIMIT)."""
        text = self.files.read_text(self.git.commit_tree(commit), "README.md", CARD_LIMIT)
        if text is None:
            return None
        try:
            metadata = parse_card_metadata(text)
            _, body = split_front_matter(text)
        except CardError as exc:
            return Card({}, text, str(exc))
        return Card(metadata, body)

    # -- file previews -------------------------------------------------------------------------------------
    def can_read_files(self, principal: Principal | None, repo: Repo) -> bool:
        try:
            self.access.check_content(principal, repo)
        except GatedRepo:
            return False
        return True

    def preview(self, principal: Principal | None, repo: Repo, revision: str, path: str) -> FilePreview:
        """The viewer's content for one file (the caller may read `repo`; gating and scans are checked)."""
        f = self.files.resolve_file(repo, revision, path)
        base = FilePreview(path, f.commit, f.meta.size, f.meta.is_lfs, f.meta.sha256, kind="binary")
        try:
            self.access.check_content(principal, repo)
            warning = self.scans.check_download(repo, f.meta.sha256, path)
        except (GatedRepo, FileQuarantined) as exc:
            return replace(base, kind="blocked", message=exc.message)
        base = replace(base, warning=warning)
        if path.lower().endswith(".safetensors"):
            try:
                summary = self._safetensors(f.meta.sha256, f.meta.size)
            except ValueError as exc:
                return replace(base, message=f"Not a valid safetensors file: {exc}")
            return replace(base, kind="safetensors", safetensors=summary)
        if f.meta.size > TEXT_PREVIEW_LIMIT:
            return replace(base, kind="too_large")
        text = _decode_text(self.content.read_all(f.meta.sha256, TEXT_PREVIEW_LIMIT))
        if text is None:
            return base
        if path.lower().endswith(".json"):
            try:
                pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except (ValueError, RecursionError):
                return replace(base, kind="text", text=text)
            return replace(base, kind="json", text=pretty)
        return replace(base, kind="text", text=text)

    def _safetensors(self, sha256: str, size: int) -> SafetensorsSummary:
        if size < 8:
            raise ValueError("the file is shorter than the 8-byte header length")
        (length,) = struct.unpack("<Q", b"".join(self.content.iter_range(sha256, 0, 8)))
        if length > SAFETENSORS_HEADER_LIMIT:
            raise ValueError(f"the header is {length} bytes, more than the {SAFETENSORS_HEADER_LIMIT} shown")
        if 8 + length > size:
            raise ValueError(f"the header length ({length} bytes) runs past the end of the file")
        header = b"".join(self.content.iter_range(sha256, 8, length))
        try:
            return safetensors_summary(header)
        except UnicodeDecodeError as exc:
            raise ValueError("the header is not UTF-8 JSON") from exc

    def xet_stored(self, sha256s: list[str]) -> set[str]:
        """Which of these contents are stored as Xet files (for the tree's Xet badges)."""
        return {sha for sha in set(sha256s) if self.content.xet_file(sha) is not None}

    def exists(self, repo: Repo, revision: str, path: str) -> bool:
        """True when a file or folder is at `path` in `revision`."""
        commit = self.repos.resolve(repo, revision)
        return self.git.lookup(self.git.commit_tree(commit), _check_path(path)) is not None

    def open_download(self, principal: Principal | None, repo: Repo, revision: str, path: str) -> Any:
        """(resolved file, scan warning) for a browser download, after the same checks as /resolve."""
        f = self.files.resolve_file(repo, revision, path)
        self.access.check_content(principal, repo)
        warning = self.scans.check_download(repo, f.meta.sha256, path)
        return f, warning

    # -- commit diffs --------------------------------------------------------------------------------------
    def commit_diff(self, principal: Principal | None, repo: Repo, oid: str) -> CommitDiff:
        """A commit of `repo` and what it changed against its first parent, with unified diffs of small text
        files (only when the caller may read the repo's files)."""
        commit = self.repos.resolve(repo, oid)
        info = self.files.commit_info(commit)
        parent_tree = self.git.commit_tree(info.parents[0]) if info.parents else None
        changed: list[tuple[str, str | None, str | None]] = []
        self._compare(parent_tree, self.git.commit_tree(commit), "", changed)
        truncated = len(changed) > DIFF_MAX_CHANGES
        changed = changed[:DIFF_MAX_CHANGES]
        metas = self.git.blob_metas([o for _, a, b in changed for o in (a, b) if o])
        readable = self.can_read_files(principal, repo)
        out: list[FileChange] = []
        shown = 0
        for path, old, new in changed:
            old_meta, new_meta = metas.get(old or ""), metas.get(new or "")
            status = "added" if old is None else "deleted" if new is None else "modified"
            meta = new_meta or old_meta
            is_lfs = meta is not None and meta.is_lfs
            change = FileChange(
                path, status, old_meta.size if old_meta else None, new_meta.size if new_meta else None, is_lfs
            )
            if not readable:
                change = _with(change, note="Request access to this repo to see file contents")
            elif shown >= DIFF_MAX_FILES:
                change = _with(change, note="Not shown: this commit changes too many files")
            else:
                change = self._diff(repo, change, old_meta.sha256 if old_meta else None, new_meta)
                shown += change.diff is not None
            out.append(change)
        return CommitDiff(info=info, changes=out, truncated=truncated)

    def _compare(
        self,
        old_tree: str | None,
        new_tree: str | None,
        prefix: str,
        out: list[tuple[str, str | None, str | None]],
    ) -> None:
        """(path, old blob, new blob) of every file that differs, descending only into changed folders."""
        if len(out) > DIFF_MAX_CHANGES:
            return
        old = self._entries(old_tree)
        new = self._entries(new_tree)
        for name in sorted(old.keys() | new.keys()):
            a, b = old.get(name), new.get(name)
            if a == b:
                continue
            path = f"{prefix}{name}"
            a_dir = a is not None and a[0] == MODE_DIR
            b_dir = b is not None and b[0] == MODE_DIR
            if a_dir or b_dir:
                self._compare(a[1] if a_dir and a else None, b[1] if b_dir and b else None, path + "/", out)
            a_file = a[1] if a is not None and not a_dir else None
            b_file = b[1] if b is not None and not b_dir else None
            if a_file != b_file:
                out.append((path, a_file, b_file))

    def _entries(self, tree: str | None) -> dict[str, tuple[int, str]]:
        if tree is None:
            return {}
        return {i.path.decode(): (i.mode, i.sha.decode()) for i in self.git.get_tree(tree).iteritems()}

    def _diff(self, repo: Repo, change: FileChange, old_sha: str | None, new_meta: Any) -> FileChange:
        sides: list[str] = []
        for sha, size in (
            (old_sha, change.old_size),
            (new_meta.sha256 if new_meta else None, change.new_size),
        ):
            if sha is None:
                sides.append("")
                continue
            if (size or 0) > DIFF_FILE_LIMIT:
                return _with(change, note="Not shown: the file is too large for a diff")
            try:
                self.scans.check_download(repo, sha, change.path)
            except FileQuarantined:
                return _with(change, note="Not shown: the security scan quarantined this content")
            text = _decode_text(self.content.read_all(sha, DIFF_FILE_LIMIT))
            if text is None:
                return _with(change, note="Binary file")
            sides.append(text)
        lines = list(difflib.unified_diff(sides[0].splitlines(), sides[1].splitlines(), n=3, lineterm=""))[2:]
        if len(lines) > DIFF_MAX_LINES:
            return _with(change, note=f"Not shown: the diff has more than {DIFF_MAX_LINES} lines")
        return _with(change, diff=lines)

    # -- listing facets ------------------------------------------------------------------------------------
    def facets(self, principal: Principal | None, repo_type: RepoType) -> Facets:
        """The most used tasks, libraries, licences and tags among the repos the caller may read."""
        q = ListQuery(repo_type, [], None, [], "downloads", 0, FACET_SCAN_LIMIT)
        tasks: Counter[str] = Counter()
        libraries: Counter[str] = Counter()
        licenses: Counter[str] = Counter()
        tags: Counter[str] = Counter()
        for repo in self.repos.list(principal, q):
            if repo.pipeline_tag:
                tasks[repo.pipeline_tag] += 1
            if repo.library_name:
                libraries[repo.library_name] += 1
            for tag in repo.tags or []:
                if tag.startswith("license:"):
                    licenses[tag[len("license:") :]] += 1
                elif ":" not in tag and tag not in (repo.pipeline_tag, repo.library_name):
                    tags[tag] += 1
        return Facets(
            tasks=tasks.most_common(FACET_TOP),
            libraries=libraries.most_common(FACET_TOP),
            licenses=licenses.most_common(FACET_TOP),
            tags=tags.most_common(FACET_TOP),
        )

    # -- commits from the browser --------------------------------------------------------------------------
    def commit_files(
        self,
        principal: Principal | None,
        repo: Repo,
        branch: str,
        files: list[UploadedFile],
        summary: str,
        description: str = "",
        *,
        create_pr: bool = False,
    ) -> CommitResult:
        """Upload files sent by a browser form as one commit on `branch` (or a pull request)."""
        self._require_commit(principal, repo, create_pr)
        if not files:
            raise BadRequest("Choose at least one file to upload")
        limit = self.hub.settings.max_commit_body_bytes
        if sum(f.size for f in files) > limit:
            raise PayloadTooLarge(
                f"These files add up to more than {limit} bytes; upload them with hf upload"
            )
        ops = []
        for f in files:
            path = _check_path(f.path)
            try:
                blob = self.hub.blobs.put_stream(f.stream, f.size)
            except ChecksumError as exc:
                raise BadRequest(f"{path}: the upload was incomplete ({exc})") from exc
            ops.append(AddFile(path=path, blob=blob, sent_as_lfs=False))
        request = CommitRequest(summary=summary, description=description, operations=list(ops))
        return self.commits.create_commit(principal, repo, branch, request, create_pr=create_pr)

    def commit_text(
        self,
        principal: Principal | None,
        repo: Repo,
        branch: str,
        path: str,
        text: str,
        summary: str,
        description: str = "",
        *,
        parent_commit: str | None = None,
        create_pr: bool = False,
    ) -> CommitResult:
        """Create or replace one text file from the browser's editor. With `parent_commit` (the commit the
        editor was opened on), a branch that moved since is a ParentCommitMismatch, not a silent overwrite."""
        self._require_commit(principal, repo, create_pr)
        path = _check_path(path)
        data = text.encode("utf-8")
        if len(data) > EDIT_LIMIT:
            raise PayloadTooLarge(f"The editor saves files up to {EDIT_LIMIT} bytes; upload larger files")
        blob = self.hub.blobs.put_bytes(data)
        request = CommitRequest(
            summary=summary,
            description=description,
            parent_commit=parent_commit,
            operations=[AddFile(path=path, blob=blob, sent_as_lfs=False)],
        )
        return self.commits.create_commit(principal, repo, branch, request, create_pr=create_pr)

    def _require_commit(self, principal: Principal | None, repo: Repo, create_pr: bool) -> None:
        """Commits to a branch are for the repo's writers; a pull request for anyone who may open one
        (services/discussions.py; the commit checks it again in its own transaction)."""
        discussions = self.commits.discussions
        if create_pr and discussions is not None:
            discussions.require_contribute(principal, repo)
        else:
            self.repos.auth.require_write(principal, repo)

    def editable_text(self, principal: Principal | None, repo: Repo, revision: str, path: str) -> FilePreview:
        """A file the editor can open: readable, text, at most EDIT_LIMIT bytes (BadRequest otherwise)."""
        preview = self.preview(principal, repo, revision, path)
        if preview.kind == "blocked":
            raise BadRequest(preview.message or "This file cannot be opened")
        if preview.kind not in ("text", "json") or preview.size > EDIT_LIMIT:
            raise BadRequest(f"{path} is not a text file the browser editor can open; upload a new version")
        raw = self.content.read_all(preview.sha256, EDIT_LIMIT).decode("utf-8")
        return replace(preview, kind="text", text=raw)


def _with(change: FileChange, **values: Any) -> FileChange:
    return replace(change, **values)
