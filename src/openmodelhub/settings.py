"""The hub's configuration: one `Settings` object, read from `OMH_*` environment variables.

See docs/configuration.md for every option.
"""

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1000 * 1000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMH_", extra="ignore")

    data_dir: Path = Field(default=Path("omh-data"), description="Holds the SQLite database and blobs.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/omh.sqlite3."
    )
    # Migrate the schema when a process opens the database. Default: yes for the embedded SQLite file, no for
    # a server database (PostgreSQL), where `omh db upgrade` is a deliberate step and a process refuses to
    # start on a schema that is not exactly this version's.
    auto_migrate: bool | None = None
    # Signs self-authorising upload URLs. Default: a random key kept in <data_dir>/secret.key; set it when
    # several hosts serve one hub, so that a URL signed by one is accepted by another.
    secret_key: str | None = Field(default=None, min_length=32)
    public_url: str | None = Field(
        default=None,
        description="Base URL clients use (e.g. behind a proxy). Default: taken from each request's Host.",
    )
    # Files stored as LFS objects even when sent as regular content (besides .gitattributes patterns).
    lfs_size_threshold: int = Field(default=10 * MB, ge=0)
    # Files of at least this size get uploadMode "lfs" in preupload (stock clients with hf_xet installed then
    # upload them through Xet, others through the LFS batch API). Default: 10 MB when `xet_enabled`, else
    # never (a client with hf_xet cannot upload "lfs" files to a hub without Xet).
    preupload_lfs_threshold: int | None = Field(default=None, ge=0)
    # Files whose preupload sample looks binary (a NUL byte) get "lfs" too. Default: when `xet_enabled`.
    preupload_binary_as_lfs: bool | None = None
    # LFS batch: objects of at least this size are uploaded in parts of `lfs_multipart_chunk_size` bytes.
    lfs_multipart_threshold: int = Field(default=500 * MB, ge=1)
    lfs_multipart_chunk_size: int = Field(default=100 * MB, ge=1)
    lfs_url_ttl_seconds: int = Field(default=3600 * 6, ge=60)
    # What happens to files the scanners flag: "quarantine" blocks unsafe files and warns on suspicious or
    # unscannable ones; "strict" blocks all three; "warn" blocks nothing and warns on everything flagged.
    scan_policy: Literal["quarantine", "strict", "warn"] = "quarantine"
    # Upper bound for one commit's NDJSON body.
    max_commit_body_bytes: int = Field(default=50 * 1000 * MB, ge=1)
    # Who may create an account (docs/accounts.md): "open" anyone, "invite" holders of an invite code,
    # "admin" only hub administrators (and the `omh user create` command).
    registration: Literal["open", "invite", "admin"] = "admin"

    # -- Xet storage (docs/configuration.md "Xet", docs/decisions/0008-xet-storage.md) ---------------------
    # Speak Xet: token endpoints, the CAS under /xet, X-Xet-Hash on downloads. Off: uploads and downloads use
    # plain HTTP and LFS only (and preupload keeps every file "regular" unless a threshold is set).
    xet_enabled: bool = True
    # Lifetime of the Xet access tokens (and of the signed xorb download URLs of reconstruction answers).
    xet_token_ttl_seconds: int = Field(default=3600, ge=1)
    # Chunk content committed through LFS or inline into xorbs too (background job `xet_index`), so Xet
    # clients download it through Xet and deduplicate against it.
    xet_index_uploads: bool = True

    # -- blob store (docs/configuration.md, docs/deploy.md) ------------------------------------------------
    blob_store: Literal["local", "s3"] = "local"
    s3_endpoint_url: str | None = Field(default=None, description="e.g. http://minio:9000; None: AWS.")
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_prefix: str = Field(default="", description="Key prefix inside the bucket, e.g. 'hub1/'.")
    # Downloads of S3-stored files: "redirect" answers 302 to a presigned GET URL, "proxy" streams the bytes.
    s3_download: Literal["redirect", "proxy"] = "redirect"
    s3_presign_ttl_seconds: int = Field(default=3600, ge=60)
    # Part size of multipart writes to S3 (S3 needs >= 5 MiB for all but the last part).
    s3_part_size: int = Field(default=64 * 1024 * 1024, ge=5 * 1024 * 1024)

    # -- background jobs (docs/decisions/0005-job-engine.md) -------------------------------------------------
    # "embedded": jobs run in threads of the process that enqueued them; "dramatiq": jobs go to RabbitMQ and
    # run in `omh worker` processes.
    job_engine: Literal["embedded", "dramatiq"] = "embedded"
    job_broker_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Queue names start with this; hubs sharing one broker need different prefixes.
    job_queue_prefix: str = "omh"

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'omh.sqlite3').resolve()}"

    @property
    def effective_preupload_lfs_threshold(self) -> int | None:
        """`preupload_lfs_threshold`, or its default: 10 MB with Xet, else None (every file "regular")."""
        if self.preupload_lfs_threshold is not None:
            return self.preupload_lfs_threshold
        return 10 * MB if self.xet_enabled else None

    @property
    def effective_preupload_binary_as_lfs(self) -> bool:
        """`preupload_binary_as_lfs`, or its default: on with Xet."""
        if self.preupload_binary_as_lfs is not None:
            return self.preupload_binary_as_lfs
        return self.xet_enabled

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"
