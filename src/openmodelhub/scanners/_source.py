"""Random access to the bytes being scanned: a file, a slice of one, or bytes in memory.

Scanners read only what they need (`read_at`), so a 10 GB file with a tiny header costs a few reads, and
archive members that are stored uncompressed are scanned in place as slices of their parent, never copied.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO, BinaryIO

from openmodelhub.protocol.seekable import open_seekable

BLOCK = 1 << 16


class Source:
    """Read-only random access to `size` bytes."""

    size: int

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes at `offset` (fewer only at the end)."""
        raise NotImplementedError

    def slice(self, offset: int, length: int) -> Source:
        """A view of part of this source, clipped to its end."""
        offset = max(0, min(offset, self.size))
        return _Slice(self, offset, max(0, min(length, self.size - offset)))

    def head(self, n: int) -> bytes:
        return self.read_at(0, n)

    def tail(self, n: int) -> bytes:
        start = max(0, self.size - n)
        return self.read_at(start, self.size - start)

    def file(self) -> BinaryIO:
        """A seekable file object over the source, for stdlib readers (zipfile, tarfile, py7zr)."""
        return open_seekable(self.size, self.read_at, buffer_size=BLOCK)


class BytesSource(Source):
    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = memoryview(data).cast("B")
        self.size = len(self._data)

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or offset >= self.size or n <= 0:  # hostile offsets never wrap or escape a slice
            return b""
        return bytes(self._data[offset : offset + n])


class FileSource(Source):
    """A file object (real file or spooled temporary) read with seek + read."""

    def __init__(self, f: IO[bytes], size: int | None = None) -> None:
        self._f = f
        if size is None:
            f.seek(0, os.SEEK_END)
            size = f.tell()
        self.size = size

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or offset >= self.size or n <= 0:  # hostile offsets never wrap or escape a slice
            return b""
        n = min(n, self.size - offset)
        self._f.seek(offset)
        out = self._f.read(n)
        return out if isinstance(out, bytes) else bytes(out)


class _Slice(Source):
    def __init__(self, parent: Source, offset: int, length: int) -> None:
        self._parent = parent
        self._offset = offset
        self.size = length

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or offset >= self.size or n <= 0:  # hostile offsets never wrap or escape a slice
            return b""
        return self._parent.read_at(self._offset + offset, min(n, self.size - offset))

    def slice(self, offset: int, length: int) -> Source:
        offset = max(0, min(offset, self.size))
        return _Slice(self._parent, self._offset + offset, max(0, min(length, self.size - offset)))


class Cursor:
    """Sequential little reads over a Source with a block cache (GGUF headers, protobuf fields)."""

    def __init__(self, src: Source, pos: int = 0, end: int | None = None) -> None:
        self.src = src
        self.pos = pos
        self.end = src.size if end is None else min(end, src.size)
        self._buf = b""
        self._buf_start = 0

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def read(self, n: int) -> bytes:
        """Exactly `n` bytes or EOFError: every length in a hostile file is checked against what is left."""
        if n < 0 or n > self.end - self.pos:
            raise EOFError(f"needs {n} bytes at {self.pos}, only {self.end - self.pos} left")
        rel = self.pos - self._buf_start
        if rel >= 0 and rel + n <= len(self._buf):
            out = self._buf[rel : rel + n]
        elif n > BLOCK:
            out = self.src.read_at(self.pos, n)
        else:
            self._buf_start = self.pos
            self._buf = self.src.read_at(self.pos, max(BLOCK, n))
            out = self._buf[:n]
        if len(out) != n:
            raise EOFError(f"short read at {self.pos}")
        self.pos += n
        return out

    def skip(self, n: int) -> None:
        if n < 0 or n > self.end - self.pos:
            raise EOFError(f"cannot skip {n} bytes at {self.pos}, only {self.end - self.pos} left")
        self.pos += n

    def byte(self) -> int:
        return self.read(1)[0]


def spooled() -> tempfile.SpooledTemporaryFile[bytes]:
    """Somewhere to unpack a compressed member: memory first, disk past 32 MiB."""
    return tempfile.SpooledTemporaryFile(max_size=32 * 1024**2, mode="w+b")
