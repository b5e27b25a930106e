"""Blob stores: where file bytes live, addressed by sha256. One interface, one implementation per backend."""

from openmodelhub.storage.base import BlobInfo, BlobStore, BlobStoreUnavailable, ChecksumError, DirectUploads
from openmodelhub.storage.factory import make_blob_store
from openmodelhub.storage.local import LocalBlobStore

__all__ = [
    "BlobInfo",
    "BlobStore",
    "BlobStoreUnavailable",
    "ChecksumError",
    "DirectUploads",
    "LocalBlobStore",
    "make_blob_store",
]
