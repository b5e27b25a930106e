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


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # "read" | "write"
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
