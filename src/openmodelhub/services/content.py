"""Content by sha256, wherever its bytes are: a whole blob in the blob store, or chunks in Xet xorbs.

Every reader of file bytes goes through `ContentService` (scans, commits, uploads, small-file reads,
fingerprints, export): a file uploaded through Xet has no blob, and is read by reconstructing it from its
xorbs (services/xet.py). A blob is preferred when both exist (the resolve hot path sendfiles it).
"""

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from openmodelhub.db.models import Blob
from openmodelhub.services.hub import Hub
from openmodelhub.services.xet import StoredFile, XetStore
from openmodelhub.storage import BlobInfo


class ContentService:
    """Reads and checks content (one instance per hub: `ContentService.of`)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.xet = XetStore.of(hub)

    @classmethod
    def of(cls, hub: Hub) -> "ContentService":
        found = hub._services.get("content")
        if not isinstance(found, ContentService):
            found = cls(hub)
            hub._services["content"] = found
        return found

    def xet_file(self, sha256: str) -> StoredFile | None:
        """The content's Xet file (reconstructible from stored xorbs), if it has one."""
        return self.xet.file(sha256)

    def info(self, sha256: str) -> BlobInfo | None:
        """(sha256, size, git blob id) of content whose bytes are stored, as a blob or in xorbs."""
        with self.hub.read() as s:
            row = s.get(Blob, sha256)
        if row is not None and self.hub.blobs.exists(sha256):
            return BlobInfo(row.sha256, row.size, row.git_sha1)
        f = self.xet.file(sha256)
        if f is not None:
            return BlobInfo(f.sha256, f.size, f.git_sha1)
        return None

    def exists(self, sha256: str) -> bool:
        return self.hub.blobs.exists(sha256) or self.xet.file(sha256) is not None

    def size(self, sha256: str) -> int | None:
        size = self.hub.blobs.size(sha256)
        if size is not None:
            return size
        f = self.xet.file(sha256)
        return f.size if f is not None else None

    def touch(self, sha256: str) -> bool:
        """Keep the content from garbage collection while a commit is made to reference it (see
        `BlobStore.touch`). Xorbs are never collected (ADR 0008), so Xet content only needs to exist."""
        return self.hub.blobs.touch(sha256) or self.xet.file(sha256) is not None

    def local_path(self, sha256: str) -> Path | None:
        """A local file with the bytes (the local store holds them as a blob), else None."""
        path = self.hub.blobs.local_path(sha256)
        return path if path is not None and path.is_file() else None

    def open(self, sha256: str) -> BinaryIO:
        """A readable, seekable binary file. Raises FileNotFoundError."""
        try:
            return self.hub.blobs.open(sha256)
        except FileNotFoundError:
            f = self.xet.file(sha256)
            if f is None:
                raise
            return self.xet.open(f)

    def read_all(self, sha256: str, limit: int) -> bytes:
        """The whole content, for small files only; ValueError over `limit` bytes, FileNotFoundError."""
        with self.open(sha256) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"content {sha256} is larger than {limit} bytes")
        return data

    def iter_range(self, sha256: str, start: int, length: int) -> Iterator[bytes]:
        """`length` bytes from `start`, streamed (blob first, else reconstructed from xorbs)."""
        if self.hub.blobs.exists(sha256):
            return self.hub.blobs.iter_range(sha256, start, length)
        f = self.xet.file(sha256)
        if f is None:
            raise FileNotFoundError(f"content {sha256} is not stored")
        return self.xet.iter_bytes(f, start, start + length - 1)
