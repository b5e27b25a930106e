"""The blob store interface.

A blob store keeps immutable byte strings under their sha256. Writers stream bytes into a staging area while
hashing them; the bytes become visible under their key only after size and digest were checked, so a reader
never sees a partial object and a crash leaves only staging files behind.
"""

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from openmodelhub.protocol.digests import StreamingDigest


class BlobStoreUnavailable(Exception):
    """The store could not be reached, or refused the hub's request (network, credentials, missing bucket).

    The message says what failed; services turn it into a StorageUnavailable error (HTTP 503)."""


class ChecksumError(ValueError):
    """The bytes received do not match the announced size or digest."""

    def __init__(self, message: str, *, kind: str = "checksum") -> None:
        super().__init__(message)
        self.kind = kind  # "checksum" or "size"


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int
    git_sha1: str  # git blob id of the content


class BlobWriter(abc.ABC):
    """Receives the bytes of one object; `commit` verifies and publishes them."""

    def __init__(self, expected_size: int) -> None:
        self.digest = StreamingDigest(expected_size)

    def write(self, chunk: bytes) -> None:
        if self.digest.size + len(chunk) > self.digest.expected_size:
            raise ChecksumError(
                f"received more than the announced {self.digest.expected_size} bytes", kind="size"
            )
        self.digest.update(chunk)
        self._write(chunk)

    def _check(self, expected_sha256: str | None) -> BlobInfo:
        d = self.digest
        if d.size != d.expected_size:
            raise ChecksumError(f"received {d.size} bytes, expected {d.expected_size}", kind="size")
        if expected_sha256 is not None and d.sha256 != expected_sha256:
            raise ChecksumError(f"content sha256 is {d.sha256}, expected {expected_sha256}")
        return BlobInfo(sha256=d.sha256, size=d.size, git_sha1=d.git_sha1)

    @abc.abstractmethod
    def _write(self, chunk: bytes) -> None: ...

    @abc.abstractmethod
    def commit(self, expected_sha256: str | None = None) -> BlobInfo:
        """Verify size (and sha256 when given) and publish the object. Raises ChecksumError. Content that
        was stored already counts as just written afterwards (as after `BlobStore.touch`)."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Drop the staged bytes."""

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class BlobStore(abc.ABC):
    @abc.abstractmethod
    def writer(self, expected_size: int) -> BlobWriter: ...

    @abc.abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abc.abstractmethod
    def size(self, sha256: str) -> int | None: ...

    @abc.abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """A readable, seekable binary file. Raises FileNotFoundError."""

    @abc.abstractmethod
    def delete(self, sha256: str) -> None: ...

    @abc.abstractmethod
    def iter_keys(self) -> Iterator[str]: ...

    @abc.abstractmethod
    def iter_objects(self) -> Iterator[tuple[str, int, datetime]]:
        """(sha256, size, last modification time in UTC) of every stored object, in no particular order."""

    # Garbage collection (`omh fsck --repair`, services/fsck.py) deletes unreferenced objects only once their
    # modification time is older than a grace period. `touch` and `prune` are the two halves of that rule.
    @abc.abstractmethod
    def touch(self, sha256: str) -> bool:
        """Make stored content count as just written, so a concurrent garbage collection keeps it. Call it
        when a commit is about to reference content it did not write itself. False: it is not stored."""

    @abc.abstractmethod
    def prune(self, sha256: str, older_than: datetime) -> bool:
        """Delete an object unless it was written or touched at or after `older_than` (checked at the moment
        of deletion, not from an earlier listing). True when it was deleted."""

    def local_path(self, sha256: str) -> Path | None:
        """A filesystem path to the bytes when the store is local (lets the server use sendfile)."""
        return None

    def presigned_get_url(self, sha256: str, *, filename: str | None, ttl: int) -> str | None:
        """A URL clients can GET the bytes from without the hub (None: the store has no such URLs).
        `filename` names the download (Content-Disposition); `ttl` is the URL's lifetime in seconds."""
        return None

    def iter_range(self, sha256: str, start: int, length: int, chunk: int = 1 << 20) -> Iterator[bytes]:
        """`length` bytes from offset `start`, in chunks of at most `chunk` bytes (for streaming answers).
        The first chunk is read when the iterator is first advanced; raises FileNotFoundError then."""
        with self.open(sha256) as f:
            f.seek(start)
            left = length
            while left > 0:
                data = f.read(min(chunk, left))
                if not data:
                    raise EOFError(f"blob {sha256} ended {left} bytes before the requested range")
                left -= len(data)
                yield data

    def clean_staging(self, older_than_seconds: float = 24 * 3600) -> int:
        """Remove staged bytes left by crashed or abandoned writers. Returns how many were removed."""
        return 0

    def read_all(self, sha256: str, limit: int) -> bytes:
        """The whole object, for small objects only (git blobs); refuses anything over `limit` bytes."""
        with self.open(sha256) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"blob {sha256} is larger than {limit} bytes")
        return data

    def put_bytes(self, data: bytes) -> BlobInfo:
        w = self.writer(len(data))
        try:
            w.write(data)
            return w.commit()
        finally:
            w.abort()

    def put_stream(
        self, stream: BinaryIO, size: int, sha256: str | None = None, chunk: int = 1 << 20
    ) -> BlobInfo:
        w = self.writer(size)
        try:
            while True:
                buf = stream.read(chunk)
                if not buf:
                    break
                w.write(buf)
            return w.commit(sha256)
        finally:
            w.abort()


class DirectUploads(abc.ABC):
    """A store clients can upload into directly, with presigned URLs (S3), instead of through the hub.

    Uploaded bytes land in a staging area under the sha256 they claim; nothing is visible under a blob key
    until `direct_publish` streamed the staged bytes through the size and sha256 check.

    A `scope` (letters, digits, at most 16) tags what is staged for one purpose (the hub uses the repo the
    upload is for): `direct_publish` with a scope only looks at bytes staged under that scope, so one repo's
    verify never publishes bytes another repo's client is still uploading."""

    # The store's limits (S3's): largest single PUT, smallest part (all but the last), most parts.
    max_put_size: int = 5 * 1024**3
    min_part_size: int = 5 * 1024**2
    max_parts: int = 10_000

    @abc.abstractmethod
    def direct_put_url(self, sha256: str, ttl: int, scope: str = "") -> str:
        """A presigned URL for one PUT of the whole object (no other header needed) into staging."""

    @abc.abstractmethod
    def direct_multipart_start(
        self, sha256: str, name: str, parts: int, ttl: int, scope: str = ""
    ) -> list[str]:
        """Start a multipart upload into staging, named `name` (unique per upload); returns the presigned
        URLs of parts 1..`parts`, in order. Each part answer carries the part's ETag."""

    @abc.abstractmethod
    def direct_multipart_complete(self, sha256: str, name: str, etags: list[str], scope: str = "") -> None:
        """Assemble the parts of upload `name` (ETags in part order). Raises ChecksumError when the store
        does not have these parts, FileNotFoundError when there is no such upload."""

    @abc.abstractmethod
    def direct_multipart_abort(self, sha256: str, name: str, scope: str = "") -> None:
        """Drop the parts of upload `name` (nothing happens if there is no such upload)."""

    @abc.abstractmethod
    def direct_publish(self, sha256: str, size: int, scope: str = "") -> BlobInfo | None:
        """Check what was uploaded for `sha256` (size, then digest, by streaming it) and publish it under
        its key. None when nothing was uploaded; ChecksumError when nothing uploaded matches (the
        mismatching uploads are dropped). An object already published is checked the same way."""
