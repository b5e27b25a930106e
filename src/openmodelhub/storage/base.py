"""The blob store interface.

A blob store keeps immutable byte strings under their sha256. Writers stream bytes into a staging area while
hashing them; the bytes become visible under their key only after size and digest were checked, so a reader
never sees a partial object and a crash leaves only staging files behind.
"""

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from openmodelhub.protocol.digests import StreamingDigest


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
        """Verify size (and sha256 when given) and publish the object. Raises ChecksumError."""

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

    def local_path(self, sha256: str) -> Path | None:
        """A filesystem path to the bytes when the store is local (lets the server use sendfile)."""
        return None

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
