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
    public_url: str | None = Field(
        default=None,
        description="Base URL clients use (e.g. behind a proxy). Default: taken from each request's Host.",
    )
    # Files stored as LFS objects even when sent as regular content (besides .gitattributes patterns).
    lfs_size_threshold: int = Field(default=10 * MB, ge=0)
    # Files of at least this size get uploadMode "lfs" in preupload. Default: never (stock clients with
    # hf_xet installed would switch to Xet, which this hub does not speak yet).
    preupload_lfs_threshold: int | None = Field(default=None, ge=0)
    # LFS batch: objects of at least this size are uploaded in parts of `lfs_multipart_chunk_size` bytes.
    lfs_multipart_threshold: int = Field(default=500 * MB, ge=1)
    lfs_multipart_chunk_size: int = Field(default=100 * MB, ge=1)
    lfs_url_ttl_seconds: int = Field(default=3600 * 6, ge=60)
    # What happens to files the scanners flag: "quarantine" blocks unsafe files and warns on suspicious or
    # unscannable ones; "strict" blocks all three; "warn" blocks nothing and warns on everything flagged.
    scan_policy: Literal["quarantine", "strict", "warn"] = "quarantine"
    # Upper bound for one commit's NDJSON body.
    max_commit_body_bytes: int = Field(default=50 * 1000 * MB, ge=1)

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'omh.sqlite3').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"
