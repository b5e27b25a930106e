"""The xorb format: parse, verify and build serialized xorbs.

A xorb is a sequence of chunks, each an 8-byte header (version 0, compressed size u24 LE, compression scheme
u8, uncompressed size u24 LE) followed by the compressed bytes (hub-docs docs/xet/xorb.md). Its hash is the
merkle hash of its chunks' (hash, uncompressed size) (docs/xet/hashing.md "Xorb Hashes").

A xorb may end with a footer (xet-core ``XorbObjectInfoV1``, ident ``XETBLOB``) listing chunk hashes and
boundaries. hf_xet uploads xorbs *without* it ("XORBs are sent without footer", xet-core
``file_upload_session.rs``); a reader recognises it because a chunk header can never begin with ``XETBLOB``.
Layout (all integers little-endian)::

    "XETBLOB" u8 version=1  hash[32] xorb_hash
    "XBLBHSH" u8 0  u32 n  hash[32] * n                      <- hashes section
    "XBLBBND" u8 1  u32 n  u32 * n chunk ends (serialized, incl. headers)  u32 * n chunk ends (uncompressed)
    u32 n  u32 hashes_section_offset_from_end  u32 boundary_section_offset_from_end  [16] reserved/nonce
    u32 info_length                                          <- bytes of the footer above, not counting itself

`read_xorb` decodes every chunk, checks sizes and limits, recomputes every chunk hash and the xorb hash and
compares with the expected hash and the footer. Every failure is a `XorbFormatError` subclass.
"""

import io
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from openmodelhub.protocol.xet.chunking import MAX_CHUNK_SIZE
from openmodelhub.protocol.xet.compression import CompressionScheme, compress, compress_best, decompress
from openmodelhub.protocol.xet.compression import scheme_from_byte as _scheme_from_byte
from openmodelhub.protocol.xet.errors import (
    XorbChunkHeaderError,
    XorbFooterError,
    XorbFormatError,
    XorbHashMismatchError,
    XorbTooLargeError,
    XorbTruncatedError,
)
from openmodelhub.protocol.xet.hashing import HASH_SIZE, chunk_hash, hash_to_hex, hex_to_hash, xorb_hash

CHUNK_HEADER_SIZE = 8
CHUNK_HEADER_VERSION = 0
#: xet-core rejects a compressed length above twice the maximum chunk size.
MAX_CHUNK_COMPRESSED_SIZE = 2 * MAX_CHUNK_SIZE
#: Most chunks a xorb may hold (docs/xet/deduplication.md "Xorbs"; xet-core MAX_XORB_CHUNKS).
MAX_XORB_CHUNKS = 8 * 1024
#: Most uncompressed bytes a xorb may hold (xet-core MAX_XORB_BYTES; docs/xet/xorb.md "64 MiB").
MAX_XORB_BYTES = 64 * 1024 * 1024
#: Largest chunk section we accept: 64 MiB of data that did not compress plus one header per chunk.
MAX_XORB_SERIALIZED_SIZE = MAX_XORB_BYTES + MAX_XORB_CHUNKS * CHUNK_HEADER_SIZE

FOOTER_IDENT = b"XETBLOB"
FOOTER_VERSION = 1
FOOTER_HASHES_IDENT = b"XBLBHSH"
FOOTER_HASHES_VERSION = 0
FOOTER_BOUNDARIES_IDENT = b"XBLBBND"
FOOTER_BOUNDARIES_VERSION = 1
FOOTER_RESERVED_SIZE = 16
_FOOTER_FIXED = 92  # footer bytes for zero chunks (xet-core XORB_OBJECT_INFO_DEFAULT_LENGTH)
_FOOTER_PER_CHUNK = HASH_SIZE + 4 + 4


def footer_length(num_chunks: int) -> int:
    """Bytes of a V1 footer for `num_chunks` chunks, including the trailing ``info_length`` u32."""
    return _FOOTER_FIXED + _FOOTER_PER_CHUNK * num_chunks + 4


# -- chunk headers -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChunkHeader:
    """The 8-byte header in front of every chunk."""

    compressed_size: int
    scheme: CompressionScheme
    uncompressed_size: int
    version: int = CHUNK_HEADER_VERSION

    def to_bytes(self) -> bytes:
        """The serialized header."""
        return (
            bytes([self.version])
            + self.compressed_size.to_bytes(3, "little")
            + bytes([int(self.scheme)])
            + self.uncompressed_size.to_bytes(3, "little")
        )

    @classmethod
    def parse(cls, raw: bytes, *, offset: int = 0, index: int = 0) -> "ChunkHeader":
        """Parse and validate a header; `offset`/`index` only make messages precise."""
        if len(raw) != CHUNK_HEADER_SIZE:
            raise XorbTruncatedError(f"chunk {index} at byte {offset}: header is {len(raw)} of 8 bytes")
        where = f"chunk {index} at byte {offset}"
        version = raw[0]
        if version != CHUNK_HEADER_VERSION:
            raise XorbChunkHeaderError(
                f"{where}: chunk header version {version} is not supported (expected 0)"
            )
        try:
            scheme = _scheme_from_byte(raw[4])
        except XorbChunkHeaderError as exc:
            raise XorbChunkHeaderError(f"{where}: {exc}") from None
        compressed = int.from_bytes(raw[1:4], "little")
        uncompressed = int.from_bytes(raw[5:8], "little")
        if uncompressed == 0:
            raise XorbChunkHeaderError(f"{where}: chunk is empty (uncompressed size 0)")
        if uncompressed > MAX_CHUNK_SIZE:
            raise XorbChunkHeaderError(
                f"{where}: uncompressed size {uncompressed} exceeds the {MAX_CHUNK_SIZE}-byte chunk limit"
            )
        if compressed > MAX_CHUNK_COMPRESSED_SIZE:
            raise XorbChunkHeaderError(
                f"{where}: compressed size {compressed} exceeds the {MAX_CHUNK_COMPRESSED_SIZE}-byte limit"
            )
        if scheme == CompressionScheme.NONE and compressed != uncompressed:
            raise XorbChunkHeaderError(
                f"{where}: uncompressed chunk declares {compressed} stored bytes, {uncompressed} data bytes"
            )
        return cls(compressed, scheme, uncompressed, version)


# -- parsed xorbs --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class XorbChunk:
    """One chunk of a xorb as laid out in its serialized form."""

    hash: bytes
    size: int  # uncompressed bytes
    offset: int  # byte offset of the chunk header in the serialized xorb
    packed_size: int  # header + compressed bytes
    scheme: CompressionScheme

    @property
    def end(self) -> int:
        """Byte offset just past this chunk in the serialized xorb."""
        return self.offset + self.packed_size


@dataclass(frozen=True)
class XorbFooter:
    """The optional xorb footer (xet-core ``XorbObjectInfoV1``)."""

    xorb_hash: bytes
    chunk_hashes: tuple[bytes, ...]
    chunk_ends: tuple[int, ...]  # end offset of each chunk in the serialized xorb (headers included)
    unpacked_ends: tuple[int, ...]  # end offset of each chunk in the concatenated uncompressed data
    reserved: bytes = bytes(FOOTER_RESERVED_SIZE)  # xet-core puts an upload nonce in the first 4 bytes

    def to_bytes(self) -> bytes:
        """The serialized footer, trailing ``info_length`` included."""
        n = len(self.chunk_hashes)
        if not (len(self.chunk_ends) == len(self.unpacked_ends) == n):
            raise XorbFooterError("footer vectors must all have one entry per chunk")
        boundary_from_end = 7 + 1 + 4 + 8 * n + 4 + 4 + 4 + FOOTER_RESERVED_SIZE
        hashes_from_end = 7 + 1 + 4 + HASH_SIZE * n + boundary_from_end
        body = b"".join(
            [
                FOOTER_IDENT,
                bytes([FOOTER_VERSION]),
                self.xorb_hash,
                FOOTER_HASHES_IDENT,
                bytes([FOOTER_HASHES_VERSION]),
                struct.pack("<I", n),
                *self.chunk_hashes,
                FOOTER_BOUNDARIES_IDENT,
                bytes([FOOTER_BOUNDARIES_VERSION]),
                struct.pack("<I", n),
                struct.pack(f"<{n}I", *self.chunk_ends),
                struct.pack(f"<{n}I", *self.unpacked_ends),
                struct.pack("<III", n, hashes_from_end, boundary_from_end),
                self.reserved,
            ]
        )
        return body + struct.pack("<I", len(body))

    @classmethod
    def parse(cls, raw: bytes) -> "XorbFooter":
        """Parse a footer (``XETBLOB`` ident to trailing ``info_length``) and check its framing."""
        if len(raw) < footer_length(0):
            raise XorbTruncatedError(
                f"xorb footer is {len(raw)} bytes, shorter than the smallest footer (96)"
            )
        if raw[:7] != FOOTER_IDENT:
            raise XorbFooterError("xorb footer does not start with XETBLOB")
        if raw[7] != FOOTER_VERSION:
            raise XorbFooterError(
                f"xorb footer version {raw[7]} is not supported (expected {FOOTER_VERSION})"
            )
        (info_length,) = struct.unpack_from("<I", raw, len(raw) - 4)
        if info_length != len(raw) - 4:
            raise XorbFooterError(
                f"xorb footer length field says {info_length} bytes, footer has {len(raw) - 4}"
            )
        pos = 8
        footer_hash = raw[pos : pos + HASH_SIZE]
        pos += HASH_SIZE
        if raw[pos : pos + 7] != FOOTER_HASHES_IDENT or raw[pos + 7] != FOOTER_HASHES_VERSION:
            raise XorbFooterError("xorb footer hash section has a wrong ident or version")
        pos += 8
        (n,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if len(raw) != footer_length(n):
            raise XorbFooterError(
                f"xorb footer lists {n} chunks but is {len(raw)} bytes (expected {footer_length(n)})"
            )
        hashes = tuple(raw[pos + i * HASH_SIZE : pos + (i + 1) * HASH_SIZE] for i in range(n))
        pos += HASH_SIZE * n
        if raw[pos : pos + 7] != FOOTER_BOUNDARIES_IDENT or raw[pos + 7] != FOOTER_BOUNDARIES_VERSION:
            raise XorbFooterError("xorb footer boundary section has a wrong ident or version")
        pos += 8
        (n3,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        ends = struct.unpack_from(f"<{n}I", raw, pos)
        pos += 4 * n
        unpacked = struct.unpack_from(f"<{n}I", raw, pos)
        pos += 4 * n
        n_final, hashes_from_end, boundary_from_end = struct.unpack_from("<III", raw, pos)
        pos += 12
        reserved = raw[pos : pos + FOOTER_RESERVED_SIZE]
        if not (n == n3 == n_final):
            raise XorbFooterError(f"xorb footer chunk counts disagree ({n}, {n3}, {n_final})")
        expected_boundary = 12 + 8 * n + 12 + FOOTER_RESERVED_SIZE
        expected_hashes = 12 + HASH_SIZE * n + expected_boundary
        if (hashes_from_end, boundary_from_end) != (expected_hashes, expected_boundary):
            raise XorbFooterError(
                f"xorb footer section offsets ({hashes_from_end}, {boundary_from_end}) should be "
                f"({expected_hashes}, {expected_boundary})"
            )
        return cls(footer_hash, hashes, tuple(ends), tuple(unpacked), reserved)


@dataclass(frozen=True)
class XorbInfo:
    """What reading (and verifying) a serialized xorb established."""

    hash: bytes
    chunks: tuple[XorbChunk, ...]
    chunks_length: int  # bytes of the chunk section (the whole xorb when there is no footer)
    footer: XorbFooter | None = None
    chunk_data: tuple[bytes, ...] | None = None  # uncompressed chunks, only when asked for

    @property
    def hex(self) -> str:
        """The xorb hash in Xet string form."""
        return hash_to_hex(self.hash)

    @property
    def total_length(self) -> int:
        """Serialized size, footer included."""
        return self.chunks_length + (footer_length(len(self.chunks)) if self.footer is not None else 0)

    @property
    def uncompressed_size(self) -> int:
        """Sum of the chunks' uncompressed sizes."""
        return sum(c.size for c in self.chunks)

    def chunk_list(self) -> list[tuple[bytes, int]]:
        """(hash, uncompressed size) of every chunk, in order."""
        return [(c.hash, c.size) for c in self.chunks]

    def byte_range(self, start: int, end: int) -> tuple[int, int]:
        """(first byte, last byte inclusive) of chunks [start, end) in the serialized xorb."""
        if not 0 <= start < end <= len(self.chunks):
            raise XorbFormatError(
                f"chunk range [{start}, {end}) is outside this xorb's {len(self.chunks)} chunks"
            )
        return self.chunks[start].offset, self.chunks[end - 1].end - 1

    def build_footer(self) -> XorbFooter:
        """The footer describing these chunks (for storing xorbs the way xet-core's local CAS does)."""
        unpacked: list[int] = []
        total = 0
        for c in self.chunks:
            total += c.size
            unpacked.append(total)
        return XorbFooter(
            self.hash, tuple(c.hash for c in self.chunks), tuple(c.end for c in self.chunks), tuple(unpacked)
        )


class _Source:
    """Counting reader over bytes or a binary stream."""

    def __init__(self, source: bytes | bytearray | memoryview | BinaryIO) -> None:
        self._stream: BinaryIO = (
            io.BytesIO(bytes(source)) if isinstance(source, bytes | bytearray | memoryview) else source
        )
        self.position = 0

    def read(self, n: int) -> bytes:
        """Up to `n` bytes (fewer only at end of data)."""
        parts: list[bytes] = []
        missing = n
        while missing > 0:
            piece = self._stream.read(missing)
            if not piece:
                break
            parts.append(piece)
            missing -= len(piece)
        data = b"".join(parts)
        self.position += len(data)
        return data


def _expected_raw(expected_hash: bytes | str | None) -> bytes | None:
    if expected_hash is None or isinstance(expected_hash, bytes):
        return expected_hash
    return hex_to_hash(expected_hash)


def read_xorb(
    source: bytes | bytearray | memoryview | BinaryIO,
    *,
    expected_hash: bytes | str | None = None,
    keep_data: bool = False,
    max_chunks: int = MAX_XORB_CHUNKS,
    max_uncompressed: int = MAX_XORB_BYTES,
    max_serialized: int = MAX_XORB_SERIALIZED_SIZE,
) -> XorbInfo:
    """Decode and verify a serialized xorb, chunk by chunk (one chunk in memory at a time unless `keep_data`).

    Checks: header version/scheme/sizes, every chunk decompresses to its declared size, chunk count and byte
    limits, the recomputed xorb hash equals `expected_hash` (raw bytes or Xet hex) if given, and an optional
    footer agrees with the data. Raises a `XorbFormatError` subclass on the first problem.
    """
    expected = _expected_raw(expected_hash)
    src = _Source(source)
    chunks: list[XorbChunk] = []
    data: list[bytes] = []
    uncompressed_total = 0
    footer: XorbFooter | None = None
    while True:
        offset = src.position
        raw_header = src.read(CHUNK_HEADER_SIZE)
        if not raw_header:
            break
        if raw_header[:7] == FOOTER_IDENT:
            footer = XorbFooter.parse(raw_header + src.read(footer_length(len(chunks)) - len(raw_header)))
            if src.read(1):
                raise XorbFooterError(f"unexpected bytes after the xorb footer (at byte {src.position - 1})")
            break
        index = len(chunks)
        header = ChunkHeader.parse(raw_header, offset=offset, index=index)
        if index + 1 > max_chunks:
            raise XorbTooLargeError(f"xorb has more than {max_chunks} chunks")
        if offset + CHUNK_HEADER_SIZE + header.compressed_size > max_serialized:
            raise XorbTooLargeError(f"xorb is larger than {max_serialized} bytes")
        body = src.read(header.compressed_size)
        if len(body) != header.compressed_size:
            raise XorbTruncatedError(
                f"chunk {index} at byte {offset}: {len(body)} of {header.compressed_size} data bytes present"
            )
        try:
            plain = decompress(body, header.scheme, header.uncompressed_size)
        except XorbFormatError as exc:
            raise type(exc)(f"chunk {index} at byte {offset}: {exc}") from None
        uncompressed_total += len(plain)
        if uncompressed_total > max_uncompressed:
            raise XorbTooLargeError(f"xorb holds more than {max_uncompressed} uncompressed bytes")
        chunks.append(
            XorbChunk(chunk_hash(plain), len(plain), offset, CHUNK_HEADER_SIZE + len(body), header.scheme)
        )
        if keep_data:
            data.append(plain)
    if not chunks:
        raise XorbFormatError("xorb has no chunks")
    computed = xorb_hash((c.hash, c.size) for c in chunks)
    info = XorbInfo(computed, tuple(chunks), chunks[-1].end, footer, tuple(data) if keep_data else None)
    if footer is not None:
        _check_footer(info, footer)
    if expected is not None and computed != expected:
        raise XorbHashMismatchError(
            f"xorb hash computed from its {len(chunks)} chunks is {hash_to_hex(computed)}, "
            f"not {hash_to_hex(expected)}"
        )
    return info


def verify_xorb(source: bytes | bytearray | memoryview | BinaryIO, expected_hash: bytes | str) -> XorbInfo:
    """`read_xorb` with a mandatory expected hash: what a CAS does with ``POST /v1/xorbs/default/{hash}``."""
    return read_xorb(source, expected_hash=expected_hash)


def _check_footer(info: XorbInfo, footer: XorbFooter) -> None:
    want = info.build_footer()
    if footer.xorb_hash != info.hash:
        raise XorbFooterError(
            f"xorb footer names hash {hash_to_hex(footer.xorb_hash)}, the chunks hash to {info.hex}"
        )
    if len(footer.chunk_hashes) != len(info.chunks):
        raise XorbFooterError(
            f"xorb footer lists {len(footer.chunk_hashes)} chunks, the xorb has {len(info.chunks)}"
        )
    for name in ("chunk_hashes", "chunk_ends", "unpacked_ends"):
        got, expected = getattr(footer, name), getattr(want, name)
        if got != expected:
            i = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
            raise XorbFooterError(f"xorb footer {name.replace('_', ' ')} disagree with the data at chunk {i}")


# -- decoding ranges fetched from a xorb ---------------------------------------------------------------------


def decode_chunks(data: bytes | bytearray | memoryview, expected_count: int | None = None) -> list[bytes]:
    """Uncompressed chunks from a run of serialized chunks (e.g. the bytes of one fetch range).

    Unlike `read_xorb` this neither hashes nor requires a whole xorb; it stops at the end of the data or at a
    footer, and checks the number of chunks when `expected_count` is given.
    """
    src = _Source(data)
    out: list[bytes] = []
    while True:
        offset = src.position
        raw_header = src.read(CHUNK_HEADER_SIZE)
        if not raw_header or raw_header[:7] == FOOTER_IDENT:
            break
        header = ChunkHeader.parse(raw_header, offset=offset, index=len(out))
        body = src.read(header.compressed_size)
        if len(body) != header.compressed_size:
            raise XorbTruncatedError(f"chunk {len(out)} at byte {offset}: data is truncated")
        out.append(decompress(body, header.scheme, header.uncompressed_size))
    if expected_count is not None and len(out) != expected_count:
        raise XorbFormatError(f"expected {expected_count} chunks in the fetched range, found {len(out)}")
    return out


# -- building ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltXorb:
    """A serialized xorb and what it contains."""

    info: XorbInfo
    data: bytes

    @property
    def hash(self) -> bytes:
        """The xorb hash (raw)."""
        return self.info.hash


def _scheme_arg(compression: str | CompressionScheme) -> CompressionScheme | None:
    if isinstance(compression, CompressionScheme):
        return compression
    names = {"auto": None, "none": CompressionScheme.NONE, "lz4": CompressionScheme.LZ4}
    names["bg4-lz4"] = CompressionScheme.BG4_LZ4
    if compression not in names:
        raise ValueError(f"unknown compression {compression!r}; use auto, none, lz4 or bg4-lz4")
    return names[compression]


def build_xorb(
    chunks: Iterable[bytes], *, compression: str | CompressionScheme = "auto", with_footer: bool = False
) -> BuiltXorb:
    """Serialize chunks (already cut by the chunker) into a xorb.

    `compression`: ``auto`` keeps the smallest of LZ4 and BG4-LZ4 per chunk, or stores it raw when neither is
    smaller; a fixed scheme is still stored raw when it would not shrink the chunk (as xet-core does).
    `with_footer` appends the ``XETBLOB`` footer (hf_xet's uploads omit it; its local CAS stores it).
    """
    fixed = _scheme_arg(compression)
    parts: list[bytes] = []
    metas: list[XorbChunk] = []
    offset = 0
    total = 0
    for chunk in chunks:
        if not chunk:
            raise XorbFormatError("cannot store an empty chunk in a xorb")
        if len(chunk) > MAX_CHUNK_SIZE:
            raise XorbFormatError(f"a chunk of {len(chunk)} bytes exceeds the {MAX_CHUNK_SIZE}-byte limit")
        if fixed is None:
            scheme, body = compress_best(chunk)
        else:
            scheme, body = fixed, compress(chunk, fixed)
            if scheme != CompressionScheme.NONE and len(body) >= len(chunk):
                scheme, body = CompressionScheme.NONE, bytes(chunk)
        header = ChunkHeader(len(body), scheme, len(chunk))
        parts += [header.to_bytes(), body]
        metas.append(XorbChunk(chunk_hash(chunk), len(chunk), offset, CHUNK_HEADER_SIZE + len(body), scheme))
        offset += CHUNK_HEADER_SIZE + len(body)
        total += len(chunk)
    if not metas:
        raise XorbFormatError("a xorb needs at least one chunk")
    if len(metas) > MAX_XORB_CHUNKS or total > MAX_XORB_BYTES:
        raise XorbTooLargeError(f"{len(metas)} chunks / {total} bytes exceed the xorb limits")
    info = XorbInfo(xorb_hash((c.hash, c.size) for c in metas), tuple(metas), offset)
    if with_footer:
        footer = info.build_footer()
        info = XorbInfo(info.hash, info.chunks, info.chunks_length, footer)
        parts.append(footer.to_bytes())
    return BuiltXorb(info, b"".join(parts))


def xorb_hash_of_chunks(chunks: Sequence[bytes]) -> bytes:
    """The hash a xorb made of these uncompressed chunks would have (no serialization needed)."""
    return xorb_hash((chunk_hash(c), len(c)) for c in chunks)
