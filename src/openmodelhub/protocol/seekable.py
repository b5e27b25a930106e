"""A seekable, read-only binary file over anything that can read `n` bytes at an offset.

Scanner sources, Xet-reconstructed files and S3 objects are all random-access byte ranges of a known size;
stdlib readers (zipfile, tarfile, BufferedReader) want a file object. `SeekableReader` is that file object: it
keeps the position, answers `seek`/`tell`, clips every read to the size, and asks the caller's `read_at` for
the bytes.
"""

import io
from collections.abc import Callable
from typing import Any, BinaryIO

ReadAt = Callable[[int, int], bytes | bytearray | memoryview]

READALL_CHUNK = 16 * 1024 * 1024  # `readall` reads at most this much per call of `read_at`


class SeekableReader(io.RawIOBase):
    """`size` bytes read with `read_at(offset, n)`, which returns at most `n` bytes starting at `offset`.

    The reader only calls `read_at` with `0 <= offset < size` and `0 < n <= size - offset`. A shorter answer
    is a short read (what it returned is what `readinto` reports); an empty one reads as the end of the file.
    `on_close` (if any) runs once when the reader is closed, to release whatever `read_at` holds open.
    """

    def __init__(self, size: int, read_at: ReadAt, *, on_close: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._on_close: Callable[[], None] | None = None  # set before anything can fail: `close` reads it
        if size < 0:
            raise ValueError(f"negative size {size}")
        self.size = size
        self._read_at = read_at
        self._on_close = on_close
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        want = min(len(view), self.size - self._pos)
        if want <= 0:  # at or past the end (a seek may go beyond it, as on a real file)
            return 0
        data = self._read_at(self._pos, want)
        n = len(data)
        if n > want:
            raise OSError(f"read_at returned {n} bytes at {self._pos}, asked for at most {want}")
        view[:n] = data
        self._pos += n
        return n

    def readall(self) -> bytes:
        """The rest of the file, in reads of at most READALL_CHUNK bytes (stops at a short read of 0)."""
        out = bytearray()
        while True:
            left = self.size - self._pos
            if left <= 0:
                return bytes(out)
            chunk = bytearray(min(left, READALL_CHUNK))
            n = self.readinto(chunk)
            if not n:
                return bytes(out)
            out += memoryview(chunk)[:n]

    def close(self) -> None:
        release, self._on_close = self._on_close, None
        try:
            if release is not None and not self.closed:
                release()
        finally:
            super().close()


def open_seekable(
    size: int, read_at: ReadAt, *, buffer_size: int, on_close: Callable[[], None] | None = None
) -> BinaryIO:
    """A buffered `SeekableReader`: small reads (headers, varints) are served from one larger `read_at`."""
    return io.BufferedReader(SeekableReader(size, read_at, on_close=on_close), buffer_size=buffer_size)
