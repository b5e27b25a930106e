"""SQLAlchemy models. Portable SQL only: the same schema runs on SQLite and PostgreSQL."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from openmodelhub.protocol.timefmt import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _now() -> datetime:
    return utcnow().replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(96), unique=True)
    fullname: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    # An argon2 hash (argon2-cffi's encoded form); None: the account has no password (token-only).
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # "read" | "write" | "fineGrained" (see TokenScope)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Repo(Base):
    __tablename__ = "repos"
    __table_args__ = (UniqueConstraint("type", "namespace", "name", name="uq_repos_type_namespace_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    namespace: Mapped[str] = mapped_column(String(96), index=True)
    name: Mapped[str] = mapped_column(String(96))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    gated: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None | "auto" | "manual"
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    last_modified: Mapped[datetime] = mapped_column(DateTime, default=_now, index=True)
    # Facts read from the default branch's head: card metadata and what it implies.
    card_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    pipeline_tag: Mapped[str | None] = mapped_column(String(64), nullable=True)
    library_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    downloads: Mapped[int] = mapped_column(BigInteger, default=0)
    likes: Mapped[int] = mapped_column(Integer, default=0)


class RepoTag(Base):
    """One filterable tag of a repo (its card tags, pipeline tag and library), kept in step with `Repo.tags`
    so listing filters run in SQL on an index instead of scanning every repo's JSON list."""

    __tablename__ = "repo_tags"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(300), primary_key=True, index=True)


class Ref(Base):
    """A branch (`refs/heads/x`) or tag (`refs/tags/x`). Moving one is a compare-and-swap on `target`."""

    __tablename__ = "refs"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    target: Mapped[str] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class RepoCommit(Base):
    """Which commits belong to a repo (so a commit id resolves only in the repo that made it)."""

    __tablename__ = "repo_commits"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    commit_oid: Mapped[str] = mapped_column(String(40), primary_key=True)


class GitObject(Base):
    """Trees and commits, stored as git stores them (the body after the `<type> <len>\\0` header)."""

    __tablename__ = "git_objects"
    oid: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(8))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class GitBlob(Base):
    """A git blob id as it appears in trees, mapped to the stored content it stands for.

    For a regular file the blob is the content itself; for an LFS file it is the pointer, whose text is
    derived from (sha256, size).
    """

    __tablename__ = "git_blobs"
    oid: Mapped[str] = mapped_column(String(40), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    is_lfs: Mapped[bool] = mapped_column(Boolean)


class Blob(Base):
    """Content whose bytes are stored and verified in the blob store."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    git_sha1: Mapped[str] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class RepoContent(Base):
    """Content (by sha256) that reached a repo: uploaded to it (LFS PUT or multipart, Xet shard) or committed
    in it. Stored bytes are shared by every repo, so a commit or an LFS batch of a repo may only name content
    listed here or in the repo's history: knowing a sha256 is not having the bytes (docs/security.md)."""

    __tablename__ = "repo_content"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class LfsMultipartUpload(Base):
    __tablename__ = "lfs_multipart_uploads"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    chunk_size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class ScanRecord(Base):
    """A scanner verdict for some content, under one scanner version and name hint."""

    __tablename__ = "scan_results"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    hint: Mapped[str] = mapped_column(String(16), primary_key=True)  # "", "python" or "config"
    scanner_version: Mapped[str] = mapped_column(String(16), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(32))
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    pickle_imports: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    scanned_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class QuarantineRelease(Base):
    """An admin's decision to serve quarantined content in one repo despite its verdict."""

    __tablename__ = "quarantine_releases"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    released_by: Mapped[str] = mapped_column(String(96))
    reason: Mapped[str] = mapped_column(Text, default="")
    released_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class AuditEvent(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(96))
    action: Mapped[str] = mapped_column(String(64))
    repo_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OpennessAssessment(Base):
    """The MOF openness assessment of one commit (computed once per commit and assessment version)."""

    __tablename__ = "openness_assessments"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    commit_oid: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    verified_class: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1, 2, 3 or None
    claimed_class: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class WeightFingerprint(Base):
    """A seeded sample of the float tensors of one commit's safetensors files (for similarity checks)."""

    __tablename__ = "weight_fingerprints"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    commit_oid: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    tensor_count: Mapped[int] = mapped_column(Integer, default=0)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    tensors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


# -- people: namespaces, organizations, token scopes, gated access, invites (docs/accounts.md) --------------
class Namespace(Base):
    """Every user and organization name, in one table: a name is unique across users and orgs."""

    __tablename__ = "namespaces"
    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "user" | "org"


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(96), unique=True)
    fullname: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class OrgMembership(Base):
    __tablename__ = "org_memberships"
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(8))  # "read" | "write" | "admin"
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class TokenScope(Base):
    """One grant of a fine-grained token: a repo or a whole namespace, read or write."""

    __tablename__ = "token_scopes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "repo" | "namespace"
    repo_type: Mapped[str | None] = mapped_column(String(16), nullable=True)  # repo scopes only
    name: Mapped[str] = mapped_column(String(200))  # "ns/name" or "ns"
    permission: Mapped[str] = mapped_column(String(8))  # "read" | "write"


class AccessRequest(Base):
    """A user's request for the files of a gated repo, and the owners' decision."""

    __tablename__ = "access_requests"
    __table_args__ = (UniqueConstraint("repo_id", "user_id", name="uq_access_requests_repo_id_user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # "pending" | "accepted" | "rejected"
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    decided_by: Mapped[str | None] = mapped_column(String(96), nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Invite(Base):
    """A one-time registration code (registration mode "invite"); only its hash is stored."""

    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(96), nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


# -- web UI: sessions and sign-in throttling (docs/decisions/0007-web-sessions.md) -------------------------
class WebSession(Base):
    """A signed-in browser. The cookie holds a random id; only its sha256 is stored."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class LoginFailure(Base):
    """A failed sign-in, counted per user+IP (and per IP) to throttle password guessing across processes."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(96), index=True)
    ip: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=_now, index=True)


# -- collaboration: discussions, pull requests, likes (docs/collaboration.md) ------------------------------
class Discussion(Base):
    """A discussion or pull request, numbered from 1 per repo; pull request n's head is ref `refs/pr/n`."""

    __tablename__ = "discussions"
    __table_args__ = (UniqueConstraint("repo_id", "num", name="uq_discussions_repo_id_num"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    num: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    is_pull_request: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(8))  # "open" | "closed" | "merged" | "draft"
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    target_branch: Mapped[str | None] = mapped_column(String(300), nullable=True)  # "refs/heads/main"
    merge_commit: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class DiscussionEvent(Base):
    """A comment, status change, commit or title change; `data` holds its fields (and comment edits)."""

    __tablename__ = "discussion_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discussion_id: Mapped[int] = mapped_column(ForeignKey("discussions.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # "comment" | "status-change" | "commit" | "title-change"
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Like(Base):
    """A user's like of a repo (`Repo.likes` counts them, updated in the same transaction)."""

    __tablename__ = "likes"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


# -- Xet storage: xorbs, chunk index, files, upload shards (docs/decisions/0008-xet-storage.md) --------------
class XetXorb(Base):
    """A verified xorb. Its bytes, as uploaded, are an ordinary blob (`blob_sha256`) in the blob store."""

    __tablename__ = "xet_xorbs"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # Xet hex form
    blob_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)  # serialized bytes (the blob's size)
    chunk_count: Mapped[int] = mapped_column(Integer)
    unpacked_size: Mapped[int] = mapped_column(BigInteger)
    # Per chunk, 40 bytes: raw chunk hash, u32 LE uncompressed size, u32 LE serialized end offset.
    layout: Mapped[bytes] = mapped_column(LargeBinary)
    # The repo whose write token uploaded it first (storage accounting); None for content of deleted repos.
    repo_id: Mapped[int | None] = mapped_column(
        ForeignKey("repos.id", ondelete="SET NULL"), nullable=True, index=True
    )
    uploads: Mapped[int] = mapped_column(Integer, default=1)  # >1: the same xorb was sent again
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now, index=True)


class XetChunk(Base):
    """Chunk hash -> the first stored xorb holding it (answers global dedup queries)."""

    __tablename__ = "xet_chunks"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    xorb_hash: Mapped[str] = mapped_column(String(64))
    chunk_index: Mapped[int] = mapped_column(Integer)


class XetFile(Base):
    """Content (by the sha256 a commit's lfsFile names) that can be reconstructed from stored xorbs."""

    __tablename__ = "xet_files"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    file_hash: Mapped[str] = mapped_column(String(64), unique=True)  # Xet file id (X-Xet-Hash)
    size: Mapped[int] = mapped_column(BigInteger)
    git_sha1: Mapped[str] = mapped_column(String(40))
    segments: Mapped[list[Any]] = mapped_column(JSON)  # [[xorb hex, chunk start, chunk end, bytes], ...]
    repo_id: Mapped[int | None] = mapped_column(ForeignKey("repos.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class XetShard(Base):
    """An accepted shard upload (or a background conversion); its xorbs are answered together on dedup."""

    __tablename__ = "xet_shards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int | None] = mapped_column(ForeignKey("repos.id", ondelete="SET NULL"), nullable=True)
    files: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class XetShardXorb(Base):
    __tablename__ = "xet_shard_xorbs"
    shard_id: Mapped[int] = mapped_column(ForeignKey("xet_shards.id", ondelete="CASCADE"), primary_key=True)
    xorb_hash: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
