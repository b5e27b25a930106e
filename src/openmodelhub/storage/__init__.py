"""Blob stores: where file bytes live, addressed by sha256. One interface, one implementation per backend."""

from openmodelhub.storage.base import BlobInfo, BlobStore, ChecksumError
from openmodelhub.storage.local import LocalBlobStore

__all__ = ["BlobInfo", "BlobStore", "ChecksumError", "LocalBlobStore"]
