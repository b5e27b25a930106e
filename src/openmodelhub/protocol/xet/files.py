"""Whole files: their Xet digest, and packing files into xorbs plus a shard (what an uploading client does).

`digest_stream` gives the Xet file hash (the id hf_xet reports and the Hub shows as ``X-Xet-Hash``), the size,
the sha256 and the chunk list in one pass. `XetPacker` chunks files, deduplicates chunks within the session,
packs new chunks into xorbs (≤ 64 MiB / 8192 chunks) and describes the files in a shard with verification
entries and sha256 — the server can use it to turn content it received another way (LFS, regular commits)
into Xet storage, and the tests use it to produce data independent of hf_xet.
"""

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from openmodelhub.protocol.xet.chunking import Chunker
from openmodelhub.protocol.xet.compression import CompressionScheme
from openmodelhub.protocol.xet.hashing import chunk_hash, file_hash, hash_to_hex, verification_range_hash
from openmodelhub.protocol.xet.shard import (
    CasInfo,
    FileInfo,
    FileSegment,
    build_shard,
    cas_info_for_xorb,
    sha256_field,
)
from openmodelhub.protocol.xet.xorb import MAX_XORB_BYTES, MAX_XORB_CHUNKS, BuiltXorb, build_xorb

_READ_SIZE = 8 << 20


@dataclass(frozen=True)
class FileDigest:
    """A file's Xet identity."""

    file_hash: bytes
    size: int
    sha256: bytes  # raw digest
    chunks: tuple[tuple[bytes, int], ...]  # (chunk hash, size) in file order

    @property
    def hex(self) -> str:
        """The Xet file id in string form (what ``X-Xet-Hash`` carries)."""
        return hash_to_hex(self.file_hash)


def digest_stream(stream: BinaryIO, read_size: int = _READ_SIZE) -> FileDigest:
    """Chunk and hash a binary stream in one pass (memory bounded by `read_size` plus one chunk)."""
    chunker = Chunker()
    sha = hashlib.sha256()
    chunks: list[tuple[bytes, int]] = []
    size = 0
    while True:
        block = stream.read(read_size)
        if not block:
            break
        sha.update(block)
        size += len(block)
        chunks.extend((chunk_hash(c), len(c)) for c in chunker.feed(block))
    chunks.extend((chunk_hash(c), len(c)) for c in chunker.finish())
    return FileDigest(file_hash(chunks), size, sha.digest(), tuple(chunks))


def digest_bytes(data: bytes) -> FileDigest:
    """`digest_stream` over an in-memory buffer."""
    return digest_stream(io.BytesIO(data))


# -- packing -------------------------------------------------------------------------------------------------


@dataclass
class PackResult:
    """What `XetPacker.finish` produced."""

    files: list[FileInfo]
    cas_infos: list[CasInfo]
    xorbs: list[BuiltXorb]  # empty when an `on_xorb` callback took them
    shard: bytes  # upload form: no footer
    digests: list[FileDigest] = field(default_factory=list)


@dataclass
class _OpenXorb:
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0


class XetPacker:
    """Pack files into xorbs and a shard.

    Chunks already seen in this session are referenced, not stored again (`dedup`). Closed xorbs go to
    `on_xorb` as soon as they are full (so a caller can upload or store them and drop them) or are kept for
    `finish`. Segment references to the xorb still open are resolved when it closes, so file infos only exist
    after `finish`.
    """

    def __init__(
        self,
        *,
        compression: str | CompressionScheme = "auto",
        dedup: bool = True,
        max_xorb_bytes: int = MAX_XORB_BYTES,
        max_xorb_chunks: int = MAX_XORB_CHUNKS,
        on_xorb: Callable[[BuiltXorb], None] | None = None,
    ) -> None:
        self._compression = compression
        self._dedup = dedup
        self._max_bytes = max_xorb_bytes
        self._max_chunks = max_xorb_chunks
        self._on_xorb = on_xorb
        self._open = _OpenXorb()
        self._open_id = 0
        self._closed: dict[int, BuiltXorb] = {}  # xorb id -> built xorb (data dropped if on_xorb took it)
        self._kept: list[BuiltXorb] = []
        self._known: dict[bytes, tuple[int, int]] = {}  # chunk hash -> (xorb id, chunk index)
        self._files: list[tuple[FileDigest, list[tuple[int, int]]]] = []  # digest, (xorb id, index) per chunk

    def add_stream(self, stream: BinaryIO, read_size: int = _READ_SIZE) -> FileDigest:
        """Chunk a file and queue its new chunks into xorbs; returns its digest."""
        chunker = Chunker()
        sha = hashlib.sha256()
        refs: list[tuple[int, int]] = []
        chunks: list[tuple[bytes, int]] = []
        size = 0
        while True:
            block = stream.read(read_size)
            if not block:
                break
            sha.update(block)
            size += len(block)
            for c in chunker.feed(block):
                chunks.append(self._add_chunk(c, refs))
        for c in chunker.finish():
            chunks.append(self._add_chunk(c, refs))
        digest = FileDigest(file_hash(chunks), size, sha.digest(), tuple(chunks))
        self._files.append((digest, refs))
        return digest

    def add_bytes(self, data: bytes) -> FileDigest:
        """`add_stream` over an in-memory buffer."""
        return self.add_stream(io.BytesIO(data))

    def _add_chunk(self, data: bytes, refs: list[tuple[int, int]]) -> tuple[bytes, int]:
        h = chunk_hash(data)
        if self._dedup and h in self._known:
            refs.append(self._known[h])
            return h, len(data)
        if self._open.chunks and (
            self._open.size + len(data) > self._max_bytes or len(self._open.chunks) + 1 > self._max_chunks
        ):
            self._close_open()
        ref = (self._open_id, len(self._open.chunks))
        self._open.chunks.append(data)
        self._open.size += len(data)
        self._known.setdefault(h, ref)
        refs.append(ref)
        return h, len(data)

    def _close_open(self) -> None:
        if not self._open.chunks:
            return
        built = build_xorb(self._open.chunks, compression=self._compression)
        if self._on_xorb is not None:
            self._on_xorb(built)
            self._closed[self._open_id] = BuiltXorb(built.info, b"")
        else:
            self._closed[self._open_id] = built
            self._kept.append(built)
        self._open = _OpenXorb()
        self._open_id += 1

    def finish(self) -> PackResult:
        """Close the last xorb and build every file info and the shard (upload form)."""
        self._close_open()
        files: list[FileInfo] = []
        for digest, refs in self._files:
            segments: list[FileSegment] = []
            verification: list[bytes] = []
            start = 0
            while start < len(refs):
                xorb_id, first = refs[start]
                end = start + 1
                while end < len(refs) and refs[end] == (xorb_id, first + (end - start)):
                    end += 1
                info = self._closed[xorb_id].info
                run = info.chunks[first : first + (end - start)]
                segments.append(FileSegment(info.hash, sum(c.size for c in run), first, first + len(run)))
                verification.append(verification_range_hash(c.hash for c in run))
                start = end
            sha = sha256_field(digest.sha256)
            files.append(FileInfo(digest.file_hash, tuple(segments), tuple(verification), sha))
        cas_infos = [
            cas_info_for_xorb(x.info.hash, x.info.chunk_list(), x.info.chunks_length)
            for x in self._closed.values()
        ]
        shard = build_shard(_unique_files(files), cas_infos)
        return PackResult(files, cas_infos, list(self._kept), shard, [d for d, _ in self._files])


def _unique_files(files: list[FileInfo]) -> list[FileInfo]:
    # The same content added twice is one file entry in a shard.
    seen: dict[bytes, FileInfo] = {}
    for f in files:
        seen.setdefault(f.file_hash, f)
    return list(seen.values())
