"""protocol/seekable.py: the one seekable file object over a `read_at(offset, n)` function (scanner sources,
Xet-reconstructed files and S3 objects all read through it)."""

import io
import zipfile

import pytest

from openmodelhub.protocol import seekable
from openmodelhub.protocol.seekable import SeekableReader, open_seekable

DATA = bytes(range(256)) * 40  # 10 240 bytes, every offset distinguishable modulo 256


class Recorder:
    """A `read_at` over DATA that records its calls and checks the reader keeps its promises."""

    def __init__(self, data: bytes = DATA, most: int | None = None) -> None:
        self.data = data
        self.most = most  # answer at most this many bytes per call (short reads)
        self.calls: list[tuple[int, int]] = []

    def __call__(self, offset: int, n: int) -> bytes:
        assert 0 <= offset < len(self.data), f"read_at called at {offset}"
        assert 0 < n <= len(self.data) - offset, f"read_at called for {n} bytes at {offset}"
        self.calls.append((offset, n))
        end = offset + (n if self.most is None else min(n, self.most))
        return self.data[offset:end]


def test_reads_and_tells_like_a_file() -> None:
    r = SeekableReader(len(DATA), Recorder())
    assert r.readable() and r.seekable() and not r.writable()
    assert r.read(10) == DATA[:10]
    assert r.tell() == 10
    assert r.read(5) == DATA[10:15]
    assert r.read() == DATA[15:]
    assert r.tell() == len(DATA)
    assert r.read(1) == b""


def test_seek_from_start_current_and_end() -> None:
    r = SeekableReader(len(DATA), Recorder())
    assert r.seek(100) == 100
    assert r.read(3) == DATA[100:103]
    assert r.seek(-50, io.SEEK_CUR) == 53
    assert r.read(2) == DATA[53:55]
    assert r.seek(7, io.SEEK_CUR) == 62
    assert r.seek(-4, io.SEEK_END) == len(DATA) - 4
    assert r.read() == DATA[-4:]
    assert r.seek(0, io.SEEK_END) == len(DATA)


def test_negative_positions_are_an_error_and_leave_the_position_alone() -> None:
    r = SeekableReader(len(DATA), Recorder())
    r.seek(20)
    with pytest.raises(OSError, match="negative seek position -1"):
        r.seek(-1)
    with pytest.raises(OSError, match="negative seek position"):
        r.seek(-21, io.SEEK_CUR)
    with pytest.raises(OSError, match="negative seek position"):
        r.seek(-len(DATA) - 1, io.SEEK_END)
    assert r.tell() == 20


def test_an_unknown_whence_is_refused() -> None:
    r = SeekableReader(len(DATA), Recorder())
    with pytest.raises(ValueError, match="invalid whence 3"):
        r.seek(0, 3)
    assert r.tell() == 0


def test_reads_past_the_end_are_empty_and_never_reach_read_at() -> None:
    rec = Recorder()
    r = SeekableReader(len(DATA), rec)
    assert r.seek(len(DATA) + 1000) == len(DATA) + 1000  # beyond the end is a position, as on a real file
    assert r.read(10) == b""
    assert r.readinto(bytearray(10)) == 0
    assert r.read() == b""
    assert rec.calls == []
    r.seek(len(DATA) - 3)
    assert r.read(100) == DATA[-3:]  # clipped to the size: read_at is asked for 3 bytes, not 100
    assert rec.calls == [(len(DATA) - 3, 3)]


def test_readinto_fills_bytearrays_and_memoryviews() -> None:
    r = SeekableReader(len(DATA), Recorder())
    buf = bytearray(8)
    assert r.readinto(buf) == 8
    assert bytes(buf) == DATA[:8]
    wide = memoryview(bytearray(16)).cast("I")  # 4 items of 4 bytes: the reader writes bytes, not items
    assert r.readinto(wide) == 16
    assert wide.tobytes() == DATA[8:24]
    r.seek(len(DATA) - 2)
    tail = bytearray(b"xxxxx")
    assert r.readinto(tail) == 2
    assert bytes(tail) == DATA[-2:] + b"xxx"  # only what was read is written


def test_short_reads_are_reported_as_they_come_and_buffered_reads_complete_them() -> None:
    raw = SeekableReader(len(DATA), Recorder(most=7))
    buf = bytearray(100)
    assert raw.readinto(buf) == 7
    assert raw.tell() == 7
    assert bytes(buf[:7]) == DATA[:7]
    assert raw.readall() == DATA[7:]  # readall keeps asking until the end

    buffered = open_seekable(len(DATA), Recorder(most=7), buffer_size=64)
    buffered.seek(1000)
    assert buffered.read(300) == DATA[1000:1300]


def test_an_empty_answer_before_the_size_reads_as_the_end() -> None:
    truncated = DATA[:100]

    def read_at(offset: int, n: int) -> bytes:
        return truncated[offset : offset + n]

    r = SeekableReader(len(DATA), read_at)  # claims more than read_at has
    assert r.read() == truncated
    assert r.tell() == 100
    r.seek(500)
    assert r.read(10) == b""


def test_read_at_answering_more_than_asked_is_an_error() -> None:
    r = SeekableReader(len(DATA), lambda offset, n: DATA[offset : offset + n + 1])
    with pytest.raises(OSError, match="asked for at most 4"):
        r.readinto(bytearray(4))
    assert r.tell() == 0


def test_readall_reads_in_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seekable, "READALL_CHUNK", 4096)
    rec = Recorder()
    r = SeekableReader(len(DATA), rec)
    r.seek(10)
    assert r.readall() == DATA[10:]
    assert rec.calls == [(10, 4096), (4106, 4096), (8202, len(DATA) - 8202)]


def test_an_empty_source() -> None:
    rec = Recorder(b"")
    f = open_seekable(0, rec, buffer_size=16)
    assert f.read() == b""
    assert f.seek(0, io.SEEK_END) == 0
    assert rec.calls == []


def test_a_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="negative size"):
        SeekableReader(-1, Recorder())


def test_close_releases_once_and_reading_after_close_fails() -> None:
    released: list[str] = []
    f = open_seekable(len(DATA), Recorder(), buffer_size=32, on_close=lambda: released.append("x"))
    assert f.read(4) == DATA[:4]
    f.close()
    f.close()
    assert released == ["x"]
    with pytest.raises(ValueError):
        f.read(1)


def test_close_still_closes_when_releasing_fails() -> None:
    def boom() -> None:
        raise RuntimeError("release failed")

    r = SeekableReader(len(DATA), Recorder(), on_close=boom)
    with pytest.raises(RuntimeError, match="release failed"):
        r.close()
    assert r.closed
    r.close()  # the release is not tried twice


def test_stdlib_readers_work_over_it() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.txt", b"alpha" * 1000)
        z.writestr("b.bin", DATA, compress_type=zipfile.ZIP_STORED)
    blob = out.getvalue()

    def read_at(offset: int, n: int) -> bytes:
        return blob[offset : offset + n]

    with zipfile.ZipFile(open_seekable(len(blob), read_at, buffer_size=512)) as z:
        assert z.namelist() == ["a.txt", "b.bin"]
        assert z.read("a.txt") == b"alpha" * 1000
        assert z.read("b.bin") == DATA
