"""Digests the protocol is built on: git object ids (sha1) and LFS pointers (sha256)."""

import hashlib
import re

# `\Z`, not `$`: `$` also matches before a trailing newline, which would let "<hex>\n" through.
HEX40 = re.compile(r"^[0-9a-f]{40}\Z")
HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1\n"


def git_blob_sha1(data: bytes) -> str:
    """The id git gives a blob with this content (`git hash-object`)."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The canonical Git LFS pointer file for an object."""
    return LFS_POINTER_PREFIX + f"oid sha256:{sha256}\nsize {size}\n".encode()


def parse_lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """(sha256, size) if `data` is a canonical LFS pointer, else None."""
    if not data.startswith(LFS_POINTER_PREFIX) or len(data) > 1024:
        return None
    oid = size = None
    for line in data.decode("ascii", "replace").splitlines()[1:]:
        if line.startswith("oid sha256:"):
            oid = line[len("oid sha256:") :]
        elif line.startswith("size "):
            size = line[len("size ") :]
    if oid is None or size is None or not HEX64.match(oid) or not size.isdigit():
        return None
    return oid, int(size)


class StreamingDigest:
    """sha256 of the content and its git blob id, computed in one pass.

    A git blob id hashes the length first, so the size must be known before the bytes arrive; every upload
    path knows it (LFS batch announces it, base64 length gives it). `size` counts what really came.
    """

    def __init__(self, expected_size: int) -> None:
        self.expected_size = expected_size
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(b"blob %d\0" % expected_size)

    def update(self, chunk: bytes) -> None:
        self._sha256.update(chunk)
        self._sha1.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def git_sha1(self) -> str:
        """Valid only when `size == expected_size`."""
        return self._sha1.hexdigest()
