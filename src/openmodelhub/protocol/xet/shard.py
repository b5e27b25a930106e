"""The MDB shard format: parse, build and validate shards.

Spec: hub-docs docs/xet/shard.md; exact footer layout and lookup tables from xet-core
``metadata_shard/shard_format.rs``. All integers are little-endian; every entry is 48 bytes.

::

    header   tag[32] u64 version=2 u64 footer_size (0 when the footer is omitted, as on upload; else 200)
    files    per file: FileDataSequenceHeader (hash, u32 flags, u32 n, 8 reserved)
                       n x FileDataSequenceEntry (xorb hash, u32 cas_flags, u32 unpacked bytes,
                                                  u32 chunk start, u32 chunk end exclusive)
                       n x FileVerificationEntry (range hash, 16 reserved)      if flags & 1<<31
                       1 x FileMetadataExt (sha256, 16 reserved)                if flags & 1<<30
                       (sha256 stored with each 8-byte word reversed: see `sha256_field`)
             bookend: 32 x 0xff + 16 x 0
    xorbs    per xorb: CASChunkSequenceHeader (hash, u32 flags, u32 n chunks, u32 bytes in cas,
                                                 u32 bytes on disk)
                       n x CASChunkSequenceEntry (chunk hash, u32 offset in the *uncompressed* xorb,
                                                 u32 bytes, u32 flags, u32 0)
             bookend
    lookups  (footer only) file: (u64 key, u32 entry index)*; xorb: (u64, u32)*;
             chunk: (u64, u32 xorb entry index, u32 chunk index)*;
             key = first 8 bytes of the hash as u64; each table sorted by key
    footer   u64 version=1, u64 file_info_offset, u64 cas_info_offset, u64 file_lookup_offset, u64 count,
             u64 cas_lookup_offset, u64 count, u64 chunk_lookup_offset, u64 count, hmac_key[32],
             u64 created, u64 key_expiry, 48 reserved, u64 stored_bytes_on_disk, u64 materialized_bytes,
             u64 stored_bytes, u64 footer_offset                                       (200 bytes)

`parse_shard` checks the structure (tag, versions, bookends, sizes, footer offsets, lookup tables);
`validate_shard` checks the meaning (chunk ranges inside their xorbs, segment sizes, verification hashes,
file hashes) against the xorbs the shard lists and, through a resolver, the xorbs the server already has.
"""

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from openmodelhub.protocol.xet.errors import (
    ShardCasInfoError,
    ShardChunkRangeError,
    ShardFileInfoError,
    ShardFooterError,
    ShardFormatError,
    ShardHeaderError,
    ShardTruncatedError,
    ShardUnknownXorbError,
    ShardVerificationError,
)
from openmodelhub.protocol.xet.hashing import (
    BOOKEND_HASH,
    ZERO_HASH,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    hmac_chunk_hash,
    is_global_dedup_eligible,
    verification_range_hash,
    xorb_hash,
)

SHARD_HEADER_TAG = b"HFRepoMetaData\x00" + bytes(
    [85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169]
)
SHARD_HEADER_VERSION = 2
SHARD_FOOTER_VERSION = 1
SHARD_HEADER_SIZE = 48
SHARD_FOOTER_SIZE = 200
ENTRY_SIZE = 48
#: Shards larger than this must be split (docs/xet/upload-protocol.md step 6).
MAX_SHARD_SIZE = 64 * 1024 * 1024

FILE_FLAG_WITH_VERIFICATION = 1 << 31
FILE_FLAG_WITH_METADATA_EXT = 1 << 30
#: CASChunkSequenceEntry flag: offer this chunk to the global dedup index.
CHUNK_FLAG_GLOBAL_DEDUP = 1 << 31
#: shard_key_expiry of a shard that never expires (xet-core default).
NO_EXPIRY = (1 << 64) - 1

_BOOKEND_ENTRY = BOOKEND_HASH + bytes(16)


@dataclass(frozen=True, slots=True)
class FileSegment:
    """One term of a file: chunks [chunk_start, chunk_end) of a xorb (FileDataSequenceEntry)."""

    xorb_hash: bytes
    unpacked_segment_bytes: int
    chunk_start: int
    chunk_end: int
    cas_flags: int = 0


@dataclass(frozen=True)
class FileInfo:
    """A file's reconstruction as a shard records it."""

    file_hash: bytes
    entries: tuple[FileSegment, ...]
    verification: tuple[bytes, ...] | None = None  # one range hash per entry
    sha256: bytes | None = (
        None  # FileMetadataExt bytes: see `sha256_field`; hash_to_hex() gives the sha256 hex
    )
    flags: int | None = None  # as parsed; derived from the optional parts when building

    @property
    def size(self) -> int:
        """The file's length in bytes."""
        return sum(e.unpacked_segment_bytes for e in self.entries)

    @property
    def sha256_hex(self) -> str | None:
        """The content's sha256 as usual lowercase hex (what an LFS pointer carries), if the shard has it."""
        return hash_to_hex(self.sha256) if self.sha256 is not None else None

    @property
    def effective_flags(self) -> int:
        """The header flags this file info serializes with."""
        if self.flags is not None:
            return self.flags
        flags = FILE_FLAG_WITH_VERIFICATION if self.verification is not None else 0
        return flags | (FILE_FLAG_WITH_METADATA_EXT if self.sha256 is not None else 0)


@dataclass(frozen=True, slots=True)
class CasChunk:
    """One chunk of a xorb as a shard lists it (CASChunkSequenceEntry)."""

    chunk_hash: bytes
    # "chunk_byte_range_start": where the chunk starts in the xorb's *uncompressed* data (sum of the sizes
    # before it) -- not a serialized offset, as hf_xet's shards show.
    unpacked_offset: int
    size: int  # uncompressed bytes
    flags: int = 0


@dataclass(frozen=True)
class CasInfo:
    """A xorb and its chunks (CASChunkSequenceHeader + entries)."""

    xorb_hash: bytes
    chunks: tuple[CasChunk, ...]
    num_bytes_in_cas: int  # sum of uncompressed chunk sizes
    num_bytes_on_disk: int  # serialized xorb length; hf_xet 1.8 uploads leave it 0
    cas_flags: int = 0

    def chunk_list(self) -> list[tuple[bytes, int]]:
        """(hash, size) of the chunks in order."""
        return [(c.chunk_hash, c.size) for c in self.chunks]


@dataclass(frozen=True)
class ShardFooter:
    """The optional 200-byte shard footer."""

    file_info_offset: int
    cas_info_offset: int
    file_lookup_offset: int
    file_lookup_count: int
    cas_lookup_offset: int
    cas_lookup_count: int
    chunk_lookup_offset: int
    chunk_lookup_count: int
    chunk_hash_hmac_key: bytes
    creation_timestamp: int
    key_expiry: int
    stored_bytes_on_disk: int
    materialized_bytes: int
    stored_bytes: int
    footer_offset: int
    version: int = SHARD_FOOTER_VERSION

    def to_bytes(self) -> bytes:
        """The serialized footer."""
        return (
            struct.pack(
                "<9Q",
                self.version,
                self.file_info_offset,
                self.cas_info_offset,
                self.file_lookup_offset,
                self.file_lookup_count,
                self.cas_lookup_offset,
                self.cas_lookup_count,
                self.chunk_lookup_offset,
                self.chunk_lookup_count,
            )
            + self.chunk_hash_hmac_key
            + struct.pack("<2Q", self.creation_timestamp, self.key_expiry)
            + bytes(48)
            + struct.pack(
                "<4Q",
                self.stored_bytes_on_disk,
                self.materialized_bytes,
                self.stored_bytes,
                self.footer_offset,
            )
        )

    @classmethod
    def parse(cls, raw: bytes) -> "ShardFooter":
        """Parse the 200 footer bytes (version checked; offsets checked by `parse_shard`)."""
        if len(raw) != SHARD_FOOTER_SIZE:
            raise ShardTruncatedError(f"shard footer is {len(raw)} of {SHARD_FOOTER_SIZE} bytes")
        head = struct.unpack_from("<9Q", raw, 0)
        if head[0] != SHARD_FOOTER_VERSION:
            raise ShardFooterError(f"shard footer version {head[0]} is not supported (expected 1)")
        key = raw[72:104]
        created, expiry = struct.unpack_from("<2Q", raw, 104)
        on_disk, materialized, stored, footer_offset = struct.unpack_from("<4Q", raw, 168)
        return cls(
            head[1], head[2], head[3], head[4], head[5], head[6], head[7], head[8],
            key, created, expiry, on_disk, materialized, stored, footer_offset, head[0],
        )  # fmt: skip


@dataclass(frozen=True)
class Shard:
    """A parsed shard."""

    files: tuple[FileInfo, ...]
    xorbs: tuple[CasInfo, ...]
    footer: ShardFooter | None = None

    @property
    def hmac_key(self) -> bytes | None:
        """The key the CAS chunk hashes are protected with (global dedup answers), or None."""
        if self.footer is None or self.footer.chunk_hash_hmac_key == ZERO_HASH:
            return None
        return self.footer.chunk_hash_hmac_key

    def xorb(self, xorb_hash: bytes) -> CasInfo | None:
        """The CAS info block for a xorb hash, if the shard lists it."""
        for info in self.xorbs:
            if info.xorb_hash == xorb_hash:
                return info
        return None


# -- parsing -------------------------------------------------------------------------------------------------


def _truncate(h: bytes) -> int:
    """xet-core's lookup key: the first 8 bytes of the hash as a little-endian u64."""
    return int.from_bytes(h[:8], "little")


class _Cursor:
    def __init__(self, data: bytes, end: int) -> None:
        self.data = data
        self.pos = SHARD_HEADER_SIZE
        self.end = end

    def entry(self, what: str) -> bytes:
        if self.pos + ENTRY_SIZE > self.end:
            raise ShardTruncatedError(f"shard ends inside {what} at byte {self.pos}")
        raw = self.data[self.pos : self.pos + ENTRY_SIZE]
        self.pos += ENTRY_SIZE
        return raw

    def require(self, count: int, what: str) -> None:
        # Checked before allocating, so a lying count cannot make us build huge lists.
        if self.pos + count * ENTRY_SIZE > self.end:
            raise ShardTruncatedError(f"shard is too short for {count} {what} at byte {self.pos}")


def _parse_files(cur: _Cursor) -> list[FileInfo]:
    files: list[FileInfo] = []
    while True:
        raw = cur.entry("the file info section (missing bookend?)")
        fhash = raw[:32]
        if fhash == BOOKEND_HASH:
            return files
        flags, count = struct.unpack_from("<II", raw, 32)
        with_verification = bool(flags & FILE_FLAG_WITH_VERIFICATION)
        with_ext = bool(flags & FILE_FLAG_WITH_METADATA_EXT)
        cur.require(
            count * (2 if with_verification else 1) + (1 if with_ext else 0), f"entries of file {len(files)}"
        )
        entries = []
        for _ in range(count):
            e = cur.entry("a file data sequence entry")
            cas_flags, unpacked, c_start, c_end = struct.unpack_from("<4I", e, 32)
            entries.append(FileSegment(e[:32], unpacked, c_start, c_end, cas_flags))
        verification = (
            tuple(cur.entry("a verification entry")[:32] for _ in range(count)) if with_verification else None
        )
        sha = cur.entry("a metadata extension")[:32] if with_ext else None
        files.append(FileInfo(fhash, tuple(entries), verification, sha, flags))


def _parse_xorbs(cur: _Cursor) -> list[CasInfo]:
    xorbs: list[CasInfo] = []
    while True:
        raw = cur.entry("the CAS info section (missing bookend?)")
        xhash = raw[:32]
        if xhash == BOOKEND_HASH:
            return xorbs
        cas_flags, count, in_cas, on_disk = struct.unpack_from("<4I", raw, 32)
        cur.require(count, f"chunk entries of xorb {hash_to_hex(xhash)}")
        chunks = []
        for _ in range(count):
            e = cur.entry("a CAS chunk entry")
            offset, size, flags = struct.unpack_from("<3I", e, 32)
            chunks.append(CasChunk(e[:32], offset, size, flags))
        xorbs.append(CasInfo(xhash, tuple(chunks), in_cas, on_disk, cas_flags))


def parse_shard(data: bytes | bytearray | memoryview, *, max_size: int = MAX_SHARD_SIZE) -> Shard:
    """Parse a shard (with or without footer) and check its structure; raises `ShardFormatError`s."""
    raw = bytes(data)
    if len(raw) > max_size:
        raise ShardFormatError(f"shard is {len(raw)} bytes, more than the {max_size}-byte limit")
    if len(raw) < SHARD_HEADER_SIZE:
        raise ShardTruncatedError(f"shard is {len(raw)} bytes, shorter than its 48-byte header")
    if raw[:32] != SHARD_HEADER_TAG:
        raise ShardHeaderError("not a shard: the 32-byte header tag is wrong")
    version, footer_size = struct.unpack_from("<2Q", raw, 32)
    if version != SHARD_HEADER_VERSION:
        raise ShardHeaderError(f"shard header version {version} is not supported (expected 2)")
    if footer_size not in (0, SHARD_FOOTER_SIZE):
        raise ShardHeaderError(
            f"shard header footer_size is {footer_size}; it must be 0 or {SHARD_FOOTER_SIZE}"
        )
    if footer_size and len(raw) < SHARD_HEADER_SIZE + footer_size:
        raise ShardTruncatedError("shard is too short for the footer its header announces")
    body_end = len(raw) - footer_size
    cur = _Cursor(raw, body_end)
    files = _parse_files(cur)
    cas_start = cur.pos
    xorbs = _parse_xorbs(cur)
    shard = Shard(tuple(files), tuple(xorbs))
    if not footer_size:
        if cur.pos != len(raw):
            raise ShardFormatError(f"{len(raw) - cur.pos} unexpected bytes after the CAS info section")
        return shard
    footer = ShardFooter.parse(raw[body_end:])
    _check_footer(raw, footer, shard, cas_start, cur.pos)
    return Shard(shard.files, shard.xorbs, footer)


def _check_footer(raw: bytes, footer: ShardFooter, shard: Shard, cas_start: int, sections_end: int) -> None:
    expected_offsets = {
        "file_info_offset": SHARD_HEADER_SIZE,
        "cas_info_offset": cas_start,
        "file_lookup_offset": sections_end,
        "cas_lookup_offset": sections_end + 12 * footer.file_lookup_count,
    }
    expected_offsets["chunk_lookup_offset"] = (
        expected_offsets["cas_lookup_offset"] + 12 * footer.cas_lookup_count
    )
    expected_offsets["footer_offset"] = (
        expected_offsets["chunk_lookup_offset"] + 16 * footer.chunk_lookup_count
    )
    for name, offset in expected_offsets.items():
        if getattr(footer, name) != offset:
            raise ShardFooterError(
                f"shard footer {name} is {getattr(footer, name)}, the sections put it at {offset}"
            )
    if footer.footer_offset != len(raw) - SHARD_FOOTER_SIZE:
        raise ShardFooterError(
            f"shard footer_offset {footer.footer_offset} does not match the footer position {len(raw) - 200}"
        )
    total_chunks = sum(len(x.chunks) for x in shard.xorbs)
    counts = (footer.file_lookup_count, footer.cas_lookup_count, footer.chunk_lookup_count)
    if counts != (len(shard.files), len(shard.xorbs), total_chunks):
        raise ShardFooterError(
            f"shard lookup tables have {counts} entries for {len(shard.files)} files, "
            f"{len(shard.xorbs)} xorbs and {total_chunks} chunks"
        )
    want_files, want_xorbs, want_chunks = _lookup_tables(shard)
    got_files = [struct.unpack_from("<QI", raw, footer.file_lookup_offset + 12 * i) for i in range(counts[0])]
    got_xorbs = [struct.unpack_from("<QI", raw, footer.cas_lookup_offset + 12 * i) for i in range(counts[1])]
    got_chunks = [
        struct.unpack_from("<QII", raw, footer.chunk_lookup_offset + 16 * i) for i in range(counts[2])
    ]
    tables: list[tuple[str, Sequence[tuple[int, ...]], Sequence[tuple[int, ...]]]] = [
        ("file", got_files, want_files),
        ("xorb", got_xorbs, want_xorbs),
        ("chunk", got_chunks, want_chunks),
    ]
    for name, got, want in tables:
        if not _table_matches(got, want):
            raise ShardFooterError(f"shard {name} lookup table does not match the shard's sections")


def _table_matches(got: Sequence[tuple[int, ...]], want: Sequence[tuple[int, ...]]) -> bool:
    # Keys must be sorted (readers binary-search them); entries with equal keys may come in any order.
    keys = [entry[0] for entry in got]
    return keys == sorted(keys) and sorted(got) == sorted(want)


def _lookup_tables(
    shard: Shard,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int, int]]]:
    file_table: list[tuple[int, int]] = []
    index = 0
    for f in shard.files:
        file_table.append((_truncate(f.file_hash), index))
        index += (
            1 + len(f.entries) * (2 if f.verification is not None else 1) + (1 if f.sha256 is not None else 0)
        )
    xorb_table: list[tuple[int, int]] = []
    chunk_table: list[tuple[int, int, int]] = []
    index = 0
    for x in shard.xorbs:
        xorb_table.append((_truncate(x.xorb_hash), index))
        chunk_table.extend((_truncate(c.chunk_hash), index, i) for i, c in enumerate(x.chunks))
        index += 1 + len(x.chunks)
    # xet-core writes file and xorb tables in hash order (as the sections are), the chunk table by key.
    return sorted(file_table), sorted(xorb_table), sorted(chunk_table, key=lambda t: t[0])


# -- building ------------------------------------------------------------------------------------------------


def _file_bytes(f: FileInfo) -> bytes:
    flags = f.effective_flags
    with_verification = bool(flags & FILE_FLAG_WITH_VERIFICATION)
    with_ext = bool(flags & FILE_FLAG_WITH_METADATA_EXT)
    if with_verification and (f.verification is None or len(f.verification) != len(f.entries)):
        raise ShardFileInfoError("a file with the verification flag needs one verification hash per entry")
    if with_ext and f.sha256 is None:
        raise ShardFileInfoError("a file with the metadata-ext flag needs a sha256")
    parts = [f.file_hash, struct.pack("<II", flags, len(f.entries)), bytes(8)]
    for e in f.entries:
        parts += [
            e.xorb_hash,
            struct.pack("<4I", e.cas_flags, e.unpacked_segment_bytes, e.chunk_start, e.chunk_end),
        ]
    if with_verification:
        assert f.verification is not None
        parts += [h + bytes(16) for h in f.verification]
    if with_ext:
        assert f.sha256 is not None
        parts.append(f.sha256 + bytes(16))
    return b"".join(parts)


def _xorb_bytes(x: CasInfo) -> bytes:
    parts = [
        x.xorb_hash,
        struct.pack("<4I", x.cas_flags, len(x.chunks), x.num_bytes_in_cas, x.num_bytes_on_disk),
    ]
    for c in x.chunks:
        parts += [c.chunk_hash, struct.pack("<4I", c.unpacked_offset, c.size, c.flags, 0)]
    return b"".join(parts)


def build_shard(
    files: Iterable[FileInfo],
    xorbs: Iterable[CasInfo],
    *,
    with_footer: bool = False,
    hmac_key: bytes | None = None,
    creation_timestamp: int = 0,
    key_expiry: int = NO_EXPIRY,
    sort: bool = True,
) -> bytes:
    """Serialize a shard.

    Without footer (``with_footer=False``) it is a shard *upload* body (docs/xet/shard.md: "MUST NOT include
    the footer"). With footer it is what a CAS stores and answers global dedup queries with; `hmac_key` then
    says the chunk hashes given are already HMAC-protected (see `hashing.hmac_chunk_hash`). `sort` orders
    files and xorbs by hash as xet-core does (its lookup tables rely on it).
    """
    file_list = list(files)
    xorb_list = list(xorbs)
    if sort:
        file_list.sort(key=lambda f: hash_to_hex(f.file_hash))
        xorb_list.sort(key=lambda x: hash_to_hex(x.xorb_hash))
    footer_size = SHARD_FOOTER_SIZE if with_footer else 0
    head = SHARD_HEADER_TAG + struct.pack("<2Q", SHARD_HEADER_VERSION, footer_size)
    file_section = b"".join(_file_bytes(f) for f in file_list) + _BOOKEND_ENTRY
    cas_section = b"".join(_xorb_bytes(x) for x in xorb_list) + _BOOKEND_ENTRY
    body = head + file_section + cas_section
    if not with_footer:
        return body
    shard = Shard(tuple(file_list), tuple(xorb_list))
    file_table, xorb_table, chunk_table = _lookup_tables(shard)
    lookups = b"".join(
        [
            b"".join(struct.pack("<QI", k, i) for k, i in file_table),
            b"".join(struct.pack("<QI", k, i) for k, i in xorb_table),
            b"".join(struct.pack("<QII", k, i, j) for k, i, j in chunk_table),
        ]
    )
    file_lookup = len(body)
    footer = ShardFooter(
        file_info_offset=SHARD_HEADER_SIZE,
        cas_info_offset=SHARD_HEADER_SIZE + len(file_section),
        file_lookup_offset=file_lookup,
        file_lookup_count=len(file_table),
        cas_lookup_offset=file_lookup + 12 * len(file_table),
        cas_lookup_count=len(xorb_table),
        chunk_lookup_offset=file_lookup + 12 * len(file_table) + 12 * len(xorb_table),
        chunk_lookup_count=len(chunk_table),
        chunk_hash_hmac_key=hmac_key if hmac_key is not None else ZERO_HASH,
        creation_timestamp=creation_timestamp,
        key_expiry=key_expiry,
        stored_bytes_on_disk=sum(x.num_bytes_on_disk for x in xorb_list),
        materialized_bytes=sum(f.size for f in file_list),
        stored_bytes=sum(x.num_bytes_in_cas for x in xorb_list),
        footer_offset=len(body) + len(lookups),
    )
    return body + lookups + footer.to_bytes()


def cas_info_for_xorb(
    xorb_hash_: bytes,
    chunks: Sequence[tuple[bytes, int]],
    serialized_length: int = 0,
    *,
    dedup_flags: bool = False,
) -> CasInfo:
    """A CAS info block for a xorb from its chunks' (hash, uncompressed size).

    `serialized_length` goes to ``num_bytes_on_disk`` (hf_xet leaves it 0 in uploads; a CAS answering dedup
    queries may fill it in). `dedup_flags` sets CHUNK_FLAG_GLOBAL_DEDUP on chunks whose hash is 0 mod 1024.
    """
    entries: list[CasChunk] = []
    offset = 0
    for h, size in chunks:
        flags = CHUNK_FLAG_GLOBAL_DEDUP if dedup_flags and is_global_dedup_eligible(h) else 0
        entries.append(CasChunk(h, offset, size, flags))
        offset += size
    return CasInfo(xorb_hash_, tuple(entries), offset, serialized_length)


def build_dedup_shard(
    xorbs: Iterable[CasInfo],
    *,
    hmac_key: bytes | None = None,
    creation_timestamp: int = 0,
    key_expiry: int = NO_EXPIRY,
) -> bytes:
    """A global-dedup answer (``GET /v1/chunks/default/{chunk}``): CAS info only, with footer.

    With `hmac_key` every chunk hash is replaced by ``hmac_chunk_hash(hash, key)`` and the key goes in the
    footer, so the client learns nothing about chunks it does not already have (docs/xet/deduplication.md).
    `key_expiry` (unix seconds) tells the client when to stop using the answer.
    """
    listed = list(xorbs)
    if hmac_key is not None:
        if len(hmac_key) != 32 or hmac_key == ZERO_HASH:
            raise ValueError("an HMAC key is 32 bytes and not all zeros")
        listed = [
            CasInfo(
                x.xorb_hash,
                tuple(
                    CasChunk(hmac_chunk_hash(c.chunk_hash, hmac_key), c.unpacked_offset, c.size, c.flags)
                    for c in x.chunks
                ),
                x.num_bytes_in_cas,
                x.num_bytes_on_disk,
                x.cas_flags,
            )
            for x in listed
        ]
    return build_shard(
        [],
        listed,
        with_footer=True,
        hmac_key=hmac_key,
        creation_timestamp=creation_timestamp,
        key_expiry=key_expiry,
    )


def sha256_field(digest: bytes) -> bytes:
    """The 32 bytes a FileMetadataExt stores for a sha256 digest.

    hf_xet stores the sha256 the way it stores a Xet hash parsed from hex: each 8-byte word reversed, so that
    ``hash_to_hex(field)`` prints the ordinary sha256 hex. (Observed in hf_xet 1.8 uploads; the spec does not
    say.) `digest` is the raw 32-byte sha256.
    """
    return hex_to_hash(digest.hex())


# -- validation ----------------------------------------------------------------------------------------------

#: Resolves a xorb hash to its chunks' (hash, size), or None if the server does not know the xorb.
XorbResolver = Callable[[bytes], Sequence[tuple[bytes, int]] | None]


@dataclass
class ShardValidation:
    """What `validate_shard` established."""

    file_sizes: dict[bytes, int] = field(default_factory=dict)  # file hash -> size
    referenced_xorbs: set[bytes] = field(default_factory=set)  # every xorb a file segment uses
    external_xorbs: set[bytes] = field(default_factory=set)  # referenced but not listed in the shard
    unchecked_files: set[bytes] = field(default_factory=set)  # file hash not recomputable (xorb unresolvable)


def validate_shard(
    shard: Shard,
    resolve_xorb: XorbResolver | Mapping[bytes, Sequence[tuple[bytes, int]]] | None = None,
    *,
    require_verification: bool = True,
    require_sha256: bool = False,
) -> ShardValidation:
    """Check that a parsed shard is internally consistent and that its files are what they claim.

    - CAS info: chunk offsets are the running sum of chunk sizes, byte totals match, the chunk list hashes to
      the xorb hash; with a resolver, every listed xorb must be known and its real chunk list must match;
    - files: verification entries present for all files or none (all when `require_verification`, the rule for
      uploads), sha256 present when `require_sha256`; every segment non-empty with start < end;
    - every segment's xorb is either in the shard or resolved by `resolve_xorb` (else ShardUnknownXorbError,
      unless no resolver was given: the xorb is then reported in ``external_xorbs`` and the file unchecked);
    - for resolvable xorbs: chunk range inside the xorb, segment size = sum of its chunk sizes, verification
      hash = range hash of its chunk hashes, and the file hash = aggregated hash of all its chunks.

    Shards whose chunk hashes are HMAC-protected (global dedup answers) can only get the structural checks.
    """
    result = ShardValidation()
    protected = shard.hmac_key is not None
    listed: dict[bytes, Sequence[tuple[bytes, int]]] = {}
    for x in shard.xorbs:
        _check_cas_info(x)
        listed[x.xorb_hash] = x.chunk_list()
        if not protected and xorb_hash(listed[x.xorb_hash]) != x.xorb_hash:
            raise ShardCasInfoError(
                f"the chunks listed for xorb {hash_to_hex(x.xorb_hash)} do not hash to that xorb hash"
            )
        if resolve_xorb is None:
            continue
        known = _resolve(x.xorb_hash, {}, resolve_xorb)
        if known is None:
            raise ShardUnknownXorbError(
                f"the shard lists xorb {hash_to_hex(x.xorb_hash)}, which the server does not have "
                "(xorbs must be uploaded before the shard that lists them)"
            )
        if not protected and list(known) != listed[x.xorb_hash]:
            raise ShardCasInfoError(
                f"the shard's chunk list for xorb {hash_to_hex(x.xorb_hash)} differs from the uploaded xorb"
            )
        listed[x.xorb_hash] = known

    with_verification = [f.verification is not None for f in shard.files]
    if any(with_verification) and not all(with_verification):
        raise ShardFileInfoError("some files in the shard have verification entries and some do not")
    if require_verification and shard.files and not all(with_verification):
        raise ShardFileInfoError("shard uploads must carry a verification entry for every file segment")

    for n, f in enumerate(shard.files):
        label = f"file {n} ({hash_to_hex(f.file_hash)})"
        if require_sha256 and f.sha256 is None:
            raise ShardFileInfoError(f"{label} has no sha256 metadata extension")
        if f.verification is not None and len(f.verification) != len(f.entries):
            raise ShardFileInfoError(
                f"{label} has {len(f.verification)} verification entries for {len(f.entries)}"
            )
        if not f.entries and f.file_hash != ZERO_HASH:
            raise ShardFileInfoError(f"{label} has no segments but is not the empty file")
        all_chunks: list[tuple[bytes, int]] = []
        checkable = not protected
        for i, e in enumerate(f.entries):
            where = f"{label} segment {i}"
            if e.chunk_start >= e.chunk_end:
                raise ShardChunkRangeError(
                    f"{where}: empty or reversed chunk range [{e.chunk_start}, {e.chunk_end})"
                )
            if e.unpacked_segment_bytes == 0:
                raise ShardFileInfoError(f"{where}: segment has 0 bytes")
            result.referenced_xorbs.add(e.xorb_hash)
            chunks = _resolve(e.xorb_hash, listed, resolve_xorb)
            if chunks is None:
                if resolve_xorb is not None:
                    raise ShardUnknownXorbError(
                        f"{where} references xorb {hash_to_hex(e.xorb_hash)}, which is neither in the shard "
                        "nor known to the server (upload the xorb first)"
                    )
                result.external_xorbs.add(e.xorb_hash)
                checkable = False
                continue
            if e.xorb_hash not in listed:
                result.external_xorbs.add(e.xorb_hash)
            if e.chunk_end > len(chunks):
                raise ShardChunkRangeError(
                    f"{where}: chunk range [{e.chunk_start}, {e.chunk_end}) is outside xorb "
                    f"{hash_to_hex(e.xorb_hash)}, which has {len(chunks)} chunks"
                )
            if protected:
                continue
            piece = list(chunks[e.chunk_start : e.chunk_end])
            size = sum(s for _, s in piece)
            if size != e.unpacked_segment_bytes:
                raise ShardVerificationError(
                    f"{where}: segment declares {e.unpacked_segment_bytes} bytes, its chunks hold {size}"
                )
            if f.verification is not None:
                want = verification_range_hash(h for h, _ in piece)
                if f.verification[i] != want:
                    raise ShardVerificationError(
                        f"{where}: verification hash does not match the chunks it covers"
                    )
            all_chunks.extend(piece)
        result.file_sizes[f.file_hash] = f.size
        if not checkable:
            result.unchecked_files.add(f.file_hash)
            continue
        computed = file_hash(all_chunks)
        if computed != f.file_hash:
            raise ShardVerificationError(
                f"{label}: the file hash computed from its segments' chunks is {hash_to_hex(computed)}"
            )
    return result


def _resolve(
    xorb_hash_: bytes,
    listed: Mapping[bytes, Sequence[tuple[bytes, int]]],
    resolver: XorbResolver | Mapping[bytes, Sequence[tuple[bytes, int]]] | None,
) -> Sequence[tuple[bytes, int]] | None:
    if xorb_hash_ in listed:
        return listed[xorb_hash_]
    if resolver is None:
        return None
    if isinstance(resolver, Mapping):
        return resolver.get(xorb_hash_)
    return resolver(xorb_hash_)


def _check_cas_info(x: CasInfo) -> None:
    label = f"xorb {hash_to_hex(x.xorb_hash)}"
    if not x.chunks:
        raise ShardCasInfoError(f"{label} is listed with no chunks")
    offset = 0
    for i, c in enumerate(x.chunks):
        if c.size == 0:
            raise ShardCasInfoError(f"{label} chunk {i} has 0 bytes")
        if c.unpacked_offset != offset:
            raise ShardCasInfoError(
                f"{label} chunk {i} is listed at uncompressed offset {c.unpacked_offset}, "
                f"the chunks before it add up to {offset}"
            )
        offset += c.size
    if x.num_bytes_in_cas != offset:
        raise ShardCasInfoError(f"{label} declares {x.num_bytes_in_cas} bytes, its chunks hold {offset}")
