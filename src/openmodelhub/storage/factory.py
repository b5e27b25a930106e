"""The blob store the settings ask for: a local directory (default) or an S3-compatible bucket.

The storage layer does not import the hub's settings; `make_blob_store` takes any object with the fields it
reads (`openmodelhub.settings.Settings` has them all).
"""

from pathlib import Path
from typing import Protocol

from openmodelhub.storage.base import BlobStore
from openmodelhub.storage.local import LocalBlobStore


class StoreSettings(Protocol):
    """The settings `make_blob_store` reads (see docs/configuration.md, "Blob store")."""

    @property
    def blob_store(self) -> str: ...

    @property
    def s3_endpoint_url(self) -> str | None: ...

    @property
    def s3_bucket(self) -> str | None: ...

    @property
    def s3_region(self) -> str: ...

    @property
    def s3_access_key_id(self) -> str | None: ...

    @property
    def s3_secret_access_key(self) -> str | None: ...

    @property
    def s3_prefix(self) -> str: ...

    @property
    def s3_part_size(self) -> int: ...

    @property
    def blob_dir(self) -> Path: ...

    @property
    def tmp_dir(self) -> Path: ...


def make_blob_store(settings: StoreSettings) -> BlobStore:
    """A store for `settings.blob_store`: "local" (under `blob_dir`) or "s3". Raises ValueError when the
    S3 settings are incomplete."""
    if settings.blob_store == "local":
        return LocalBlobStore(settings.blob_dir)
    if settings.blob_store != "s3":
        raise ValueError(f"OMH_BLOB_STORE must be 'local' or 's3', not {settings.blob_store!r}")
    if not settings.s3_bucket:
        raise ValueError("OMH_BLOB_STORE=s3 needs OMH_S3_BUCKET (the bucket that holds the hub's files)")
    prefix = settings.s3_prefix
    if prefix and not prefix.endswith("/"):
        prefix += "/"  # "hub1" and "hub1/" mean the same folder
    from openmodelhub.storage.s3 import S3BlobStore  # boto3 is imported only by hubs that use S3

    return S3BlobStore(
        settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        prefix=prefix,
        part_size=settings.s3_part_size,
        spool_dir=settings.tmp_dir,
    )
