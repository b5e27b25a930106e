"""Xet storage and the Xet CAS (issue #4, docs/decisions/0008-xet-storage.md).

Built on the pure protocol library `openmodelhub.protocol.xet` (docs/xet.md). Two layers:

- `XetStore`: the storage model. A xorb is an ordinary blob, keyed by the sha256 of its bytes as uploaded (so
  every blob store backend, fsck and backups handle it unchanged); `xet_xorbs` maps its Xet hash to that blob
  and keeps its chunk layout. `xet_files` maps content (by sha256, as a commit's lfsFile names it) to its Xet
  file hash and segments. `XetStore` verifies and stores xorbs, records verified files, reconstructs bytes
  (streamed, any range) and packs blob content into xorbs (background job `xet_index`).
- `XetService`: the CAS protocol with its checks: HMAC-signed access tokens scoped to one repo (read or write,
  and a revision), xorb and shard uploads, global dedup answers, reconstruction answers, signed xorb URLs,
  and storage accounting (logical bytes against stored blob and xorb bytes).

Everything a client sends is verified before anything is stored: a xorb must hash to its name, decompress and
stay within the limits; a shard must be well formed, reference only stored xorbs and carry verification
hashes that match; the bytes each file reconstructs to must hash to the sha256 the shard claims. A failure is
a `XetDataInvalid` (400) and stores nothing.
"""

import base64
import fcntl
import hashlib
import hmac
import io
import json
import logging
import queue
import secrets
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmodelhub.db.models import (
    Blob,
    GitBlob,
    Repo,
    RepoCommit,
    XetChunk,
    XetFile,
    XetShard,
    XetShardXorb,
    XetXorb,
)
from openmodelhub.protocol.digests import HEX64, StreamingDigest
from openmodelhub.protocol.seekable import open_seekable
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.protocol.xet import (
    MAX_XORB_CHUNKS,
    FileSegment,
    RangeNotSatisfiableError,
    ReconstructionPlan,
    Shard,
    XetFormatError,
    XetPacker,
    XorbInfo,
    XorbLayout,
    build_dedup_shard,
    cas_info_for_xorb,
    decode_chunks,
    hash_to_hex,
    hex_to_hash,
    is_hash_hex,
    parse_byte_range,
    parse_shard,
    plan_reconstruction,
    plan_to_v1_json,
    plan_to_v2_json,
    validate_shard,
    verify_xorb,
)
from openmodelhub.protocol.xet.xorb import MAX_XORB_SERIALIZED_SIZE, footer_length
from openmodelhub.services.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RangeNotSatisfiable,
    XetDataInvalid,
    XetTokenInvalid,
)
from openmodelhub.services.gitstore import MODE_DIR, GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.storage import BlobInfo, ChecksumError
from openmodelhub.storage.base import BlobWriter

if TYPE_CHECKING:
    from openmodelhub.services.repos import RepoService

log = logging.getLogger("openmodelhub.xet")

LAYOUT_ENTRY = 40  # per chunk: raw hash (32), u32 uncompressed size, u32 serialized end offset
MAX_XORB_UPLOAD = MAX_XORB_SERIALIZED_SIZE + footer_length(MAX_XORB_CHUNKS)
MAX_SHARD_UPLOAD = 64 * 1024 * 1024
READ_GROUP = 4 << 20  # serialized bytes read from a xorb at once when reconstructing
DEDUP_MAX_CHUNKS = 64 * 1024  # chunk entries in one dedup answer (~4 GiB of content)
DEDUP_SHARDS = 4  # most recent upload shards whose xorbs answer a dedup query together
PENDING_XORB_AGE = timedelta(hours=24)  # xorbs no shard lists yet: an upload still going, or interrupted
TOKEN_PREFIX = "xet_"


# -- records -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredXorb:
    """A stored xorb: where its bytes are and where each chunk is in them."""

    hash: bytes
    blob_sha256: str
    size: int
    chunk_hashes: tuple[bytes, ...]
    layout: XorbLayout

    def chunk_list(self) -> list[tuple[bytes, int]]:
        """(hash, uncompressed size) of every chunk, in order."""
        return list(zip(self.chunk_hashes, self.layout.chunk_sizes, strict=True))


@dataclass(frozen=True)
class StoredFile:
    """Content that can be reconstructed from stored xorbs."""

    sha256: str
    file_hash: str  # Xet hex
    size: int
    git_sha1: str
    segments: tuple[FileSegment, ...]

    @property
    def xorb_hashes(self) -> set[bytes]:
        return {s.xorb_hash for s in self.segments}


@dataclass(frozen=True)
class XetToken:
    """What a Xet access token grants: one repo, read or write, at one revision, until `exp`."""

    repo_id: int
    repo_type: str
    repo_name: str  # "namespace/name"
    scope: str  # "read" | "write"
    revision: str  # read tokens: the commit the revision resolved to; write tokens: the revision asked for
    exp: int


def pack_layout(info: XorbInfo) -> bytes:
    """The `xet_xorbs.layout` bytes of a verified xorb."""
    return b"".join(c.hash + struct.pack("<II", c.size, c.end) for c in info.chunks)


def unpack_layout(raw: bytes) -> tuple[tuple[bytes, ...], XorbLayout]:
    """(chunk hashes, layout) from `xet_xorbs.layout` bytes."""
    n = len(raw) // LAYOUT_ENTRY
    hashes: list[bytes] = []
    sizes: list[int] = []
    ends: list[int] = []
    for i in range(n):
        base = i * LAYOUT_ENTRY
        hashes.append(raw[base : base + 32])
        size, end = struct.unpack_from("<II", raw, base + 32)
        sizes.append(size)
        ends.append(end)
    return tuple(hashes), XorbLayout(tuple(sizes), (0, *ends))


def _segments_json(segments: Iterable[FileSegment]) -> list[list[Any]]:
    return [
        [hash_to_hex(s.xorb_hash), s.chunk_start, s.chunk_end, s.unpacked_segment_bytes] for s in segments
    ]


def _segments_from_json(raw: list[Any]) -> tuple[FileSegment, ...]:
    return tuple(FileSegment(hex_to_hash(h), int(n), int(a), int(b)) for h, a, b, n in raw)


def insert_ignore(s: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT rows, skipping those whose primary key exists (portable: SQLite and PostgreSQL)."""
    if not rows:
        return
    name = s.get_bind().dialect.name
    if name == "postgresql":
        s.execute(postgresql.insert(model).values(rows).on_conflict_do_nothing())
    elif name == "sqlite":
        s.execute(sqlite.insert(model).values(rows).on_conflict_do_nothing())
    else:  # pragma: no cover - the hub runs on SQLite and PostgreSQL only
        for row in rows:
            if s.get(model, row[model.__mapper__.primary_key[0].name]) is None:
                s.add(model(**row))


# Size of the xorbs the `xet_index` job builds from blobs (at most MAX_XORB_BYTES, see `index_blob`).
INDEX_XORB_BYTES = 16 * 1024 * 1024


class _Lru:
    """A small thread-safe LRU map (for immutable values: xorb layouts, the files of a commit)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


# -- the storage model ---------------------------------------------------------------------------------------
class XetStore:
    """Xorbs and Xet files of one hub (one instance per hub: `XetStore.of`)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._xorbs = _Lru(512)

    @classmethod
    def of(cls, hub: Hub) -> "XetStore":
        """The hub's store (built once, so its caches are shared)."""
        store = hub._services.get("xet_store")
        if not isinstance(store, XetStore):
            store = cls(hub)
            hub._services["xet_store"] = store
        return store

    # -- lookups -------------------------------------------------------------------------------------------
    def xorb(self, xorb_hash: bytes) -> StoredXorb | None:
        cached: StoredXorb | None = self._xorbs.get(xorb_hash)
        if cached is not None:
            return cached
        with self.hub.read() as s:
            row = s.get(XetXorb, hash_to_hex(xorb_hash))
        if row is None:
            return None
        hashes, layout = unpack_layout(row.layout)
        found = StoredXorb(xorb_hash, row.blob_sha256, row.size, hashes, layout)
        self._xorbs.put(xorb_hash, found)
        return found

    def layout(self, xorb_hash: bytes) -> XorbLayout | None:
        x = self.xorb(xorb_hash)
        return x.layout if x is not None else None

    def chunk_list(self, xorb_hash: bytes) -> list[tuple[bytes, int]] | None:
        x = self.xorb(xorb_hash)
        return x.chunk_list() if x is not None else None

    @staticmethod
    def _file(row: XetFile) -> StoredFile:
        return StoredFile(
            row.sha256, row.file_hash, row.size, row.git_sha1, _segments_from_json(row.segments)
        )

    def file(self, sha256: str) -> StoredFile | None:
        """The Xet file of this content, if its xorbs are all recorded."""
        with self.hub.read() as s:
            row = s.get(XetFile, sha256)
            if row is None:
                return None
            found = self._file(row)
            xorbs = {hash_to_hex(h) for h in found.xorb_hashes}
            known = (
                set(s.scalars(select(XetXorb.hash).where(XetXorb.hash.in_(xorbs))).all()) if xorbs else set()
            )
        return found if known == xorbs else None

    def file_by_hash(self, file_hash: str) -> StoredFile | None:
        with self.hub.read() as s:
            row = s.scalars(select(XetFile).where(XetFile.file_hash == file_hash)).first()
            return self._file(row) if row is not None else None

    def file_hashes(self, sha256s: Iterable[str]) -> dict[str, str]:
        """sha256 -> Xet file hash, for the contents that have one."""
        wanted = sorted(set(sha256s))
        if not wanted:
            return {}
        with self.hub.read() as s:
            rows = s.execute(
                select(XetFile.sha256, XetFile.file_hash).where(XetFile.sha256.in_(wanted))
            ).all()
        return {a: b for a, b in rows}

    # -- reading -------------------------------------------------------------------------------------------
    def _read(self, blob_sha256: str, start: int, length: int) -> bytes:
        try:
            return b"".join(self.hub.blobs.iter_range(blob_sha256, start, length, chunk=length))
        except (FileNotFoundError, EOFError) as exc:
            raise XetDataInvalid(f"stored xorb data {blob_sha256} is missing or truncated: {exc}") from exc

    def plan(self, f: StoredFile, byte_range: tuple[int, int] | None = None) -> ReconstructionPlan:
        """The library's reconstruction plan for (a range of) a stored file."""
        try:
            return plan_reconstruction(f.segments, self.layout, byte_range)
        except RangeNotSatisfiableError as exc:
            raise RangeNotSatisfiable(str(exc), size=f.size) from exc
        except XetFormatError as exc:
            raise XetDataInvalid(f"file {f.file_hash}: {exc}") from exc

    def iter_bytes(self, f: StoredFile, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes `start..end` (inclusive; default: to the end) of a stored file, read from its xorbs in pieces
        of at most `READ_GROUP` serialized bytes (memory stays bounded whatever the file size)."""
        last = f.size - 1 if end is None else min(end, f.size - 1)
        if f.size == 0 or last < start:
            return
        plan = self.plan(f, (start, last))
        skip = plan.offset_into_first_range
        remaining = plan.length
        for term in plan.terms:
            x = self.xorb(term.xorb_hash)
            if x is None:
                raise XetDataInvalid(
                    f"xorb {hash_to_hex(term.xorb_hash)} of file {f.file_hash} is not stored"
                )
            offsets, sizes = x.layout.chunk_offsets, x.layout.chunk_sizes
            i = term.chunk_start
            while i < term.chunk_end and remaining > 0:
                j = i + 1
                while j < term.chunk_end and offsets[j + 1] - offsets[i] <= READ_GROUP:
                    j += 1
                raw = self._read(x.blob_sha256, offsets[i], offsets[j] - offsets[i])
                try:
                    pieces = decode_chunks(raw, j - i)
                except XetFormatError as exc:
                    raise XetDataInvalid(f"stored xorb {hash_to_hex(x.hash)}: {exc}") from exc
                out: list[bytes] = []
                for k, piece in enumerate(pieces):
                    if len(piece) != sizes[i + k]:
                        raise XetDataInvalid(
                            f"stored xorb {hash_to_hex(x.hash)} chunk {i + k} has a wrong size"
                        )
                    if skip >= len(piece):
                        skip -= len(piece)
                        continue
                    part = piece[skip : skip + remaining] if skip or len(piece) - skip > remaining else piece
                    skip = 0
                    remaining -= len(part)
                    out.append(part)
                    if remaining <= 0:
                        break
                if out:
                    yield out[0] if len(out) == 1 else b"".join(out)
                i = j

    def open(self, f: StoredFile) -> BinaryIO:
        """A seekable reader over a stored file (buffered: scanners read headers in small pieces). Each read
        plans its range and decodes only the chunks it overlaps."""

        def read_at(offset: int, n: int) -> bytes:
            return b"".join(self.iter_bytes(f, offset, offset + n - 1))

        return open_seekable(f.size, read_at, buffer_size=1 << 20)

    def digest(self, f: StoredFile) -> StreamingDigest:
        """sha256 and git blob id of what the file reconstructs to."""
        d = StreamingDigest(f.size)
        for piece in self.iter_bytes(f):
            d.update(piece)
        return d

    # -- writing xorbs ---------------------------------------------------------------------------------------
    def record_xorb(self, info: XorbInfo, blob: BlobInfo, repo_id: int | None) -> bool:
        """Record a verified, stored xorb and index its chunks. False when it was recorded already."""
        hex_hash = hash_to_hex(info.hash)
        try:
            with self.hub.write.begin() as s:
                existing = s.get(XetXorb, hex_hash)
                if existing is not None:
                    existing.uploads += 1
                    return False
                s.add(
                    XetXorb(
                        hash=hex_hash,
                        blob_sha256=blob.sha256,
                        size=blob.size,
                        chunk_count=len(info.chunks),
                        unpacked_size=info.uncompressed_size,
                        layout=pack_layout(info),
                        repo_id=repo_id,
                        uploads=1,
                    )
                )
                s.flush()
                rows: dict[str, dict[str, Any]] = {}
                for i, c in enumerate(info.chunks):
                    rows.setdefault(hash_to_hex(c.hash), {"xorb_hash": hex_hash, "chunk_index": i})
                insert_ignore(s, XetChunk, [{"hash": h, **v} for h, v in rows.items()])
        except IntegrityError:
            return False  # recorded concurrently by another upload of the same xorb
        return True

    def note_duplicate(self, xorb_hash: bytes) -> None:
        """Count an upload of a xorb that was stored already (seen in `omh storage stats`)."""
        with self.hub.write.begin() as s:
            s.execute(
                update(XetXorb)
                .where(XetXorb.hash == hash_to_hex(xorb_hash))
                .values(uploads=XetXorb.uploads + 1)
            )

    def stored(self, xorb_hash: bytes) -> bool:
        x = self.xorb(xorb_hash)
        return x is not None and self.hub.blobs.exists(x.blob_sha256)

    def store_built_xorb(self, data: bytes, info: XorbInfo, repo_id: int | None) -> None:
        """Store a xorb this hub built itself (from content uploaded another way)."""
        if self.stored(info.hash):
            return
        blob = self.hub.blobs.put_bytes(data)
        self.record_xorb(info, blob, repo_id)

    # -- recording files -------------------------------------------------------------------------------------
    def record_files(self, files: Sequence[StoredFile], xorbs: Iterable[bytes], repo_id: int | None) -> None:
        """Record verified files and an upload shard listing `xorbs` (answered together on dedup)."""
        with self.hub.write.begin() as s:
            shard = XetShard(repo_id=repo_id, files=len(files))
            s.add(shard)
            s.flush()
            insert_ignore(
                s,
                XetShardXorb,
                [{"shard_id": shard.id, "xorb_hash": hash_to_hex(h)} for h in sorted(set(xorbs))],
            )
            for f in files:
                if s.get(XetFile, f.sha256) is not None:
                    continue
                if (
                    s.scalars(select(XetFile.sha256).where(XetFile.file_hash == f.file_hash)).first()
                    is not None
                ):
                    continue  # the same Xet file under another sha256 cannot happen for verified files
                s.add(
                    XetFile(
                        sha256=f.sha256,
                        file_hash=f.file_hash,
                        size=f.size,
                        git_sha1=f.git_sha1,
                        segments=_segments_json(f.segments),
                        repo_id=repo_id,
                    )
                )

    # -- converting blob content (job `xet_index`) ---------------------------------------------------------
    def index_blob(self, sha256: str, repo_id: int | None) -> StoredFile | None:
        """Chunk a stored blob into xorbs and record it as a Xet file (idempotent). None: not a blob, or
        indexed already (by this call's wait for another job chunking the same content, see below)."""
        if not HEX64.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        # Two commits of the same content start two jobs; chunking a large file twice at once costs twice the
        # CPU and memory for nothing. Jobs of this host's processes take turns per content: a file lock of
        # one of 256 stripes (by the digest's first byte), so the lock files stay few. On several hosts a rare
        # double run is still correct: the records are idempotent.
        locks = self.hub.settings.tmp_dir / "xet-index"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{sha256[:2]}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return self._index_blob(sha256, repo_id)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _index_blob(self, sha256: str, repo_id: int | None) -> StoredFile | None:
        with self.hub.read() as s:
            if s.get(XetFile, sha256) is not None:
                return None
            row = s.get(Blob, sha256)
        if row is None or row.size == 0:
            return None
        try:
            stream = self.hub.blobs.open(sha256)
        except FileNotFoundError:
            return None
        packer = XetPacker(
            compression="lz4",
            # A xorb is built in memory (its chunks, then the serialized copy): 16 MiB xorbs keep a job's
            # peak at about +80 MB of RSS where the 64 MiB maximum costs about +190 MB (a 256 MiB blob);
            # readers and the reconstruction API see no difference.
            max_xorb_bytes=INDEX_XORB_BYTES,
            on_xorb=lambda built: self.store_built_xorb(built.data, built.info, repo_id),
        )
        with stream:
            digest = packer.add_stream(stream)
        result = packer.finish()
        if digest.sha256.hex() != sha256:
            raise XetDataInvalid(f"stored blob {sha256} hashes to {digest.sha256.hex()}")
        info = result.files[0]
        f = StoredFile(sha256, hash_to_hex(info.file_hash), digest.size, row.git_sha1, info.entries)
        self.record_files([f], [c.xorb_hash for c in result.cas_infos], repo_id)
        return f


# -- xorb uploads: verified while they stream into the blob store -------------------------------------------
class _Pipe(io.RawIOBase):
    """Bytes handed from the request to a verifier thread, through a bounded queue."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
        self._buf = bytearray()
        self._eof = False
        self.stopped = threading.Event()  # the reader is gone (verified, or failed)
        self.aborted = threading.Event()  # the writer is gone (the request failed): the reader gives up

    def readable(self) -> bool:
        return True

    def feed(self, chunk: bytes | None) -> None:
        while not self.stopped.is_set():
            try:
                self._queue.put(chunk, timeout=0.05)
                return
            except queue.Full:
                continue

    def read(self, n: int = -1) -> bytes:
        while (n < 0 or len(self._buf) < n) and not self._eof:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self.aborted.is_set():
                    raise XetDataInvalid("the xorb upload was interrupted") from None
                continue
            if item is None:
                self._eof = True
            else:
                self._buf += item
        if n < 0:
            n = len(self._buf)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


class XorbUpload:
    """One `POST /v1/xorbs/default/{hash}`: `write` the body as it arrives, then `finish` (or `abort`).

    The body goes into a blob writer (staged, hashed) and, through a bounded pipe, into `verify_xorb` running
    in its own thread, so a xorb is read once and never held whole in memory. Nothing becomes visible unless
    the verification passed: the staged bytes are published, then recorded."""

    def __init__(self, store: XetStore, xorb_hash: bytes, size: int, repo_id: int | None) -> None:
        self.store = store
        self.hash = xorb_hash
        self.size = size
        self.repo_id = repo_id
        self.duplicate = store.stored(xorb_hash)
        self._writer: BlobWriter | None = None
        self._pipe: _Pipe | None = None
        self._thread: threading.Thread | None = None
        self._result: XorbInfo | None = None
        self._error: BaseException | None = None
        self._received = 0
        if not self.duplicate:
            self._writer = store.hub.blobs.writer(size)
            self._pipe = _Pipe()
            self._thread = threading.Thread(target=self._verify, name="xorb-verify", daemon=True)
            self._thread.start()

    def _verify(self) -> None:
        assert self._pipe is not None
        try:
            self._result = verify_xorb(cast(BinaryIO, self._pipe), self.hash)
            if self._pipe.read(1):
                raise XetDataInvalid("bytes after the end of the xorb")
        except BaseException as exc:  # handed to `finish`
            self._error = exc
        finally:
            self._pipe.stopped.set()

    def write(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self.size:
            raise BadRequest(f"the xorb body is longer than its Content-Length ({self.size} bytes)")
        if self._writer is None or self._error is not None:
            return  # a duplicate (discarded) or already invalid (drained, then answered 400)
        assert self._pipe is not None
        self._writer.write(chunk)
        self._pipe.feed(chunk)

    def finish(self) -> bool:
        """Publish and record the xorb; True when it was new. XetDataInvalid when it is not a valid xorb."""
        if self._received != self.size:
            self.abort()
            raise BadRequest(f"the xorb body has {self._received} bytes, its Content-Length says {self.size}")
        if self.duplicate:
            self.store.note_duplicate(self.hash)
            return False
        assert self._writer is not None and self._pipe is not None and self._thread is not None
        self._pipe.feed(None)
        self._thread.join()
        if self._error is not None or self._result is None:
            self.abort()
            error = self._error
            if isinstance(error, XetFormatError):
                raise XetDataInvalid(f"xorb {hash_to_hex(self.hash)} rejected: {error}") from error
            if isinstance(error, XetDataInvalid):
                raise error
            raise XetDataInvalid(f"xorb {hash_to_hex(self.hash)} could not be verified: {error}")
        try:
            blob = self._writer.commit()
        except ChecksumError as exc:
            raise BadRequest(f"xorb {hash_to_hex(self.hash)}: {exc}") from exc
        finally:
            self._writer.abort()
        return self.store.record_xorb(self._result, blob, self.repo_id)

    def abort(self) -> None:
        if self._pipe is not None:
            self._pipe.aborted.set()
            self._pipe.stopped.set()
        if self._writer is not None:
            self._writer.abort()


# -- the CAS protocol ----------------------------------------------------------------------------------------
@dataclass
class StorageStats:
    """Logical bytes (what the files add up to) against what is stored (whole blobs and xorbs)."""

    scope: str  # "hub" | "namespace" | "repo"
    name: str
    repos: int = 0
    files: int = 0  # distinct contents
    logical_bytes: int = 0  # each repo's distinct contents, summed over the repos
    unique_bytes: int = 0  # distinct contents, counted once
    blob_files: int = 0
    blob_bytes: int = 0  # contents stored as whole blobs
    xet_files: int = 0
    xet_file_bytes: int = 0  # contents reconstructible from xorbs
    both_files: int = 0  # contents stored both ways (a blob, and chunked into xorbs)
    both_bytes: int = 0
    xorbs: int = 0
    xorb_bytes: int = 0  # hub: every stored xorb; repo/namespace: xorbs its uploads stored first
    xorb_bytes_referenced: int = 0  # xorbs the scope's contents use, whoever stored them
    redundant_xorb_uploads: int = 0  # xorbs sent again although stored
    both_paths: list[str] = field(default_factory=list)  # a few contents stored both ways (sha256)

    @property
    def stored_bytes(self) -> int:
        return self.blob_bytes + self.xorb_bytes

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items()}
        data["stored_bytes"] = self.stored_bytes
        data["dedup_ratio"] = round(self.logical_bytes / self.stored_bytes, 3) if self.stored_bytes else None
        return data


class XetService:
    """Tokens and the CAS endpoints, with their authorization checks."""

    def __init__(self, hub: Hub, git: GitStore, repos: "RepoService") -> None:
        from openmodelhub.services.repo_content import RepoContents  # it imports services that import this

        self.hub = hub
        self.git = git
        self.repos = repos
        self.store = XetStore.of(hub)
        self.contents = RepoContents(hub, repos)
        self._commit_files = _Lru(256)

    @property
    def enabled(self) -> bool:
        return self.hub.settings.xet_enabled

    def _require_enabled(self) -> None:
        if not self.enabled:
            raise NotFound("Xet is not enabled on this hub (OMH_XET_ENABLED=false)")

    # -- tokens --------------------------------------------------------------------------------------------
    def _mac(self, payload: str) -> str:
        digest = hmac.new(self.hub.secret, f"xet-token:{payload}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue_token(self, repo: Repo, scope: str, revision: str) -> XetToken:
        """A token for `repo`; the caller checked the hub token's access (read, or write) already."""
        self._require_enabled()
        exp = int(time.time()) + self.hub.settings.xet_token_ttl_seconds
        return XetToken(repo.id, repo.type, f"{repo.namespace}/{repo.name}", scope, revision, exp)

    def encode_token(self, token: XetToken) -> str:
        body = json.dumps(
            {"r": token.repo_id, "t": token.repo_type, "n": token.repo_name, "s": token.scope,
             "v": token.revision, "e": token.exp},
            separators=(",", ":"),
        )  # fmt: skip
        payload = base64.urlsafe_b64encode(body.encode()).rstrip(b"=").decode()
        return f"{TOKEN_PREFIX}{payload}.{self._mac(payload)}"

    def check_token(self, authorization: str | None, scope: str, *, now: float | None = None) -> XetToken:
        """The token of an `Authorization: Bearer` header, checked (signature, expiry, scope)."""
        self._require_enabled()
        if not authorization or not authorization.lower().startswith("bearer "):
            raise XetTokenInvalid("Xet requests need 'Authorization: Bearer <Xet access token>'")
        raw = authorization[7:].strip()
        if not raw.startswith(TOKEN_PREFIX) or raw.count(".") != 1:
            raise XetTokenInvalid(
                "this is not a Xet access token of this hub (get one from .../xet-*-token/)"
            )
        payload, mac = raw[len(TOKEN_PREFIX) :].split(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise XetTokenInvalid("the Xet access token has an invalid signature")
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            token = XetToken(
                int(data["r"]), str(data["t"]), str(data["n"]), str(data["s"]), str(data["v"]), int(data["e"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise XetTokenInvalid("the Xet access token is malformed") from exc
        if token.exp < (time.time() if now is None else now):
            raise XetTokenInvalid("the Xet access token has expired; refresh it through the token URL")
        if scope == "write" and token.scope != "write":
            raise Forbidden(f"this Xet token only reads {token.repo_name}; uploads need a write token")
        if scope == "read" and token.scope != "read":
            raise Forbidden(
                f"this Xet token is for uploads to {token.repo_name}; downloads need a read token"
            )
        return token

    # -- xorbs ---------------------------------------------------------------------------------------------
    def start_xorb_upload(self, token: XetToken, xorb_hex: str, size: int | None) -> XorbUpload:
        if not is_hash_hex(xorb_hex):
            raise BadRequest(f"{xorb_hex[:80]!r} is not a Xet hash (64 hexadecimal digits)")
        if size is None:
            raise BadRequest("a xorb upload needs a Content-Length header")
        if size <= 0:
            raise XetDataInvalid("a xorb has at least one chunk; the body is empty")
        if size > MAX_XORB_UPLOAD:
            raise PayloadTooLarge(f"a xorb has at most {MAX_XORB_UPLOAD} bytes; this one says {size}")
        return XorbUpload(self.store, hex_to_hash(xorb_hex), size, token.repo_id)

    # -- shards --------------------------------------------------------------------------------------------
    def upload_shard(self, token: XetToken, body: bytes) -> int:
        """Validate a shard against the stored xorbs, verify every new file's bytes against its sha256 and
        record the files. Returns how many files the shard registered."""
        if len(body) > MAX_SHARD_UPLOAD:
            raise PayloadTooLarge(f"a shard has at most {MAX_SHARD_UPLOAD} bytes")
        try:
            shard: Shard = parse_shard(body)
            validate_shard(shard, self.store.chunk_list, require_sha256=True)
        except XetFormatError as exc:
            raise XetDataInvalid(f"shard rejected: {exc}") from exc
        for x in shard.xorbs:
            if not self.store.stored(x.xorb_hash):
                raise XetDataInvalid(f"shard rejected: xorb {hash_to_hex(x.xorb_hash)} is not stored")
        files: list[StoredFile] = []
        referenced: set[bytes] = {x.xorb_hash for x in shard.xorbs}
        # Content the token's repo may name in its commits from now on: every file the shard proved (its
        # chunk hashes match the stored xorbs and its file hash; new files also hash to their sha256).
        reached: list[str] = []
        for n, info in enumerate(shard.files):
            referenced |= {e.xorb_hash for e in info.entries}
            if not info.entries:
                continue  # the empty file (hf_xet lists it with an all-zero sha256); stored inline by commits
            sha256 = info.sha256_hex or ""
            if not HEX64.match(sha256):
                raise XetDataInvalid(f"shard rejected: file {n} has no valid sha256")
            known = self.store.file(sha256)
            if known is not None and known.file_hash == hash_to_hex(info.file_hash):
                reached.append(sha256)
                continue
            candidate = StoredFile(sha256, hash_to_hex(info.file_hash), info.size, "", info.entries)
            for h in candidate.xorb_hashes:
                if not self.store.stored(h):
                    raise XetDataInvalid(
                        f"shard rejected: file {n} uses xorb {hash_to_hex(h)}, which is not stored"
                    )
            digest = self.store.digest(candidate)
            if digest.size != info.size or digest.sha256 != sha256:
                raise XetDataInvalid(
                    f"shard rejected: file {n} ({candidate.file_hash}) claims sha256 {sha256}, but its "
                    f"{info.size} bytes reconstruct to sha256 {digest.sha256}"
                )
            files.append(
                StoredFile(sha256, candidate.file_hash, info.size, digest.git_sha1, candidate.segments)
            )
            reached.append(sha256)
        self.store.record_files(files, referenced, token.repo_id)
        try:
            self.contents.record(token.repo_id, reached)
        except IntegrityError as exc:  # the repo was deleted while its token was still valid
            raise NotFound(f"{token.repo_name} no longer exists") from exc
        return len(shard.files)

    # -- global dedup --------------------------------------------------------------------------------------
    def dedup_shard(self, token: XetToken, chunk_hex: str) -> bytes | None:
        """The answer to `GET /v1/chunks/default/{chunk}`: a shard listing the stored xorbs that hold this
        chunk and the xorbs uploaded with them, chunk hashes HMAC-protected; None when the chunk is unknown.

        The HMAC key is fresh for every answer, so the client can only recognise chunks it already has."""
        if not is_hash_hex(chunk_hex):
            raise BadRequest(f"{chunk_hex[:80]!r} is not a Xet hash")
        with self.hub.read() as s:
            hit = s.get(XetChunk, chunk_hex)
            if hit is None:
                return None
            shard_ids = s.scalars(
                select(XetShardXorb.shard_id)
                .where(XetShardXorb.xorb_hash == hit.xorb_hash)
                .order_by(XetShardXorb.shard_id.desc())
                .limit(DEDUP_SHARDS)
            ).all()
            ordered = [hit.xorb_hash]
            if shard_ids:
                ordered += s.scalars(
                    select(XetShardXorb.xorb_hash).where(XetShardXorb.shard_id.in_(shard_ids))
                ).all()
            # Xorbs of an upload that has no shard yet (still running, or interrupted): a client resuming
            # it finds them all through the first chunk it asks about and re-sends only what is missing.
            since = utcnow().replace(tzinfo=None) - PENDING_XORB_AGE
            ordered += s.scalars(
                select(XetXorb.hash)
                .outerjoin(XetShardXorb, XetShardXorb.xorb_hash == XetXorb.hash)
                .where(XetXorb.repo_id == token.repo_id, XetXorb.created_at >= since)
                .where(XetShardXorb.xorb_hash.is_(None))
                .order_by(XetXorb.created_at.desc())
                .limit(256)
            ).all()
        infos: list[Any] = []
        chunks = 0
        for hex_hash in dict.fromkeys(ordered):
            x = self.store.xorb(hex_to_hash(hex_hash))
            if x is None:
                continue
            if infos and chunks + len(x.chunk_hashes) > DEDUP_MAX_CHUNKS:
                break
            chunks += len(x.chunk_hashes)
            infos.append(cas_info_for_xorb(x.hash, x.chunk_list(), x.size, dedup_flags=True))
        if not infos:
            return None
        now = int(time.time())
        return build_dedup_shard(
            infos,
            hmac_key=secrets.token_bytes(32),
            creation_timestamp=now,
            key_expiry=now + self.hub.settings.xet_token_ttl_seconds,
        )

    # -- downloads -----------------------------------------------------------------------------------------
    def commit_contents(self, commit: str) -> frozenset[str]:
        """sha256 of every file of a commit (cached: commits are immutable)."""
        cached: frozenset[str] | None = self._commit_files.get(commit)
        if cached is not None:
            return cached
        tree = self.git.commit_tree(commit)
        oids = [e.oid for e in self.git.iter_tree(tree, recursive=True) if not e.is_dir]
        found = frozenset(m.sha256 for m in self.git.blob_metas(oids).values())
        self._commit_files.put(commit, found)
        return found

    def readable_file(self, token: XetToken, file_hex: str) -> StoredFile:
        """The file a read token may reconstruct: one of the files of the token's commit."""
        if not is_hash_hex(file_hex):
            raise BadRequest(f"{file_hex[:80]!r} is not a Xet file hash")
        f = self.store.file_by_hash(file_hex)
        if f is None:
            raise NotFound(f"no Xet file {file_hex} on this hub")
        if f.sha256 not in self.commit_contents(token.revision):
            raise Forbidden(
                f"Xet file {file_hex} is not part of {token.repo_name} at {token.revision[:12]}, "
                "which is all this token may read"
            )
        return f

    def reconstruction(
        self,
        f: StoredFile,
        range_header: str | None,
        version: int,
        url_for: Callable[[str], str],
    ) -> dict[str, Any]:
        """The `/v1` or `/v2/reconstructions/{file}` answer; `url_for(blob sha256)` signs a xorb URL."""
        byte_range = None
        if range_header:
            try:
                byte_range = parse_byte_range(range_header, f.size)
            except RangeNotSatisfiableError as exc:
                raise RangeNotSatisfiable(str(exc), size=f.size) from exc
            except XetFormatError as exc:
                raise BadRequest(str(exc)) from exc
        if f.size == 0:
            return {"offset_into_first_range": 0, "terms": [], "xorbs" if version == 2 else "fetch_info": {}}
        plan = self.store.plan(f, byte_range)

        def blob_url(xorb: bytes, *_: object) -> str:
            x = self.store.xorb(xorb)
            if x is None:
                raise XetDataInvalid(f"xorb {hash_to_hex(xorb)} is not stored")
            return url_for(x.blob_sha256)

        if version == 1:
            return plan_to_v1_json(plan, blob_url)
        return plan_to_v2_json(plan, blob_url, multi_range=False)

    def sign_xorb_url(self, blob_sha256: str) -> str:
        """`exp=..&sig=..` for `/xet/xorb-data/{blob sha256}` (hf_xet sends no Authorization there)."""
        exp = int(time.time()) + self.hub.settings.xet_token_ttl_seconds
        mac = hmac.new(self.hub.secret, f"xorb:{blob_sha256}:{exp}".encode(), hashlib.sha256).hexdigest()
        return f"exp={exp}&sig={mac}"

    def check_xorb_url(self, blob_sha256: str, exp: str | None, sig: str | None) -> None:
        if not HEX64.match(blob_sha256) or not exp or not sig or not exp.isdigit():
            raise Forbidden("this xorb URL is not signed")
        mac = hmac.new(self.hub.secret, f"xorb:{blob_sha256}:{exp}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, sig):
            raise Forbidden("this xorb URL has an invalid signature")
        if int(exp) < time.time():
            raise Forbidden("this xorb URL has expired; ask for the reconstruction again")

    # -- accounting ----------------------------------------------------------------------------------------
    def _repo_contents(self, s: Session, repo_id: int) -> set[str]:
        """sha256 of every file of every commit the repo recorded (all branches, tags and history)."""
        commits = s.scalars(select(RepoCommit.commit_oid).where(RepoCommit.repo_id == repo_id)).all()
        seen_trees: set[str] = set()
        blob_oids: set[str] = set()
        stack = []
        for c in commits:
            try:
                stack.append(self.git.commit_tree(c))
            except Exception:  # a damaged commit is fsck's business, not the statistics'
                continue
        while stack:
            tree_oid = stack.pop()
            if tree_oid in seen_trees:
                continue
            seen_trees.add(tree_oid)
            for item in self.git.get_tree(tree_oid).iteritems():
                child = item.sha.decode()
                if item.mode == MODE_DIR:
                    stack.append(child)
                else:
                    blob_oids.add(child)
        contents: set[str] = set()
        oids = sorted(blob_oids)
        for i in range(0, len(oids), 500):
            contents.update(s.scalars(select(GitBlob.sha256).where(GitBlob.oid.in_(oids[i : i + 500]))).all())
        return contents

    def storage_stats(self, *, namespace: str | None = None, repo: Repo | None = None) -> StorageStats:
        """Storage accounting of the hub, one namespace, or one repo."""
        with self.hub.read() as s:
            if repo is not None:
                repos = [repo]
                stats = StorageStats("repo", f"{repo.type}s/{repo.namespace}/{repo.name}")
            elif namespace is not None:
                repos = list(s.scalars(select(Repo).where(Repo.namespace == namespace)).all())
                stats = StorageStats("namespace", namespace)
            else:
                repos = list(s.scalars(select(Repo)).all())
                stats = StorageStats("hub", "hub")
            stats.repos = len(repos)
            contents: set[str] = set()
            for r in repos:
                mine = self._repo_contents(s, r.id)
                contents |= mine
                sizes = self._sizes(s, mine)
                stats.logical_bytes += sum(sizes.values())
            if stats.scope == "hub":
                # Every content the hub knows, committed or not yet: uploads waiting for their commit count.
                contents |= set(s.scalars(select(Blob.sha256)).all())
                contents |= set(s.scalars(select(XetFile.sha256)).all())
            sizes = self._sizes(s, contents)
            xet = {
                r.sha256: r
                for batch in _batches(sorted(contents))
                for r in s.scalars(select(XetFile).where(XetFile.sha256.in_(batch))).all()
            }
            repo_ids = [r.id for r in repos]
            if stats.scope == "hub":
                xorb_rows = s.execute(select(XetXorb.size, XetXorb.uploads)).all()
            else:
                xorb_rows = (
                    s.execute(
                        select(XetXorb.size, XetXorb.uploads).where(XetXorb.repo_id.in_(repo_ids))
                    ).all()
                    if repo_ids
                    else []
                )
            referenced: set[str] = set()
            for row in xet.values():
                referenced |= {seg[0] for seg in row.segments}
            ref_sizes = (
                s.execute(
                    select(func.coalesce(func.sum(XetXorb.size), 0)).where(
                        XetXorb.hash.in_(sorted(referenced))
                    )
                ).scalar_one()
                if referenced
                else 0
            )
        stats.files = len(contents)
        stats.unique_bytes = sum(sizes.values())
        for sha in sorted(contents):
            stored = self.hub.blobs.size(sha)
            has_xet = sha in xet
            if stored is not None:
                stats.blob_files += 1
                stats.blob_bytes += stored
            if has_xet:
                stats.xet_files += 1
                stats.xet_file_bytes += xet[sha].size
            if has_xet and stored is not None:
                stats.both_files += 1
                stats.both_bytes += stored
                if len(stats.both_paths) < 20:
                    stats.both_paths.append(sha)
        stats.xorbs = len(xorb_rows)
        stats.xorb_bytes = sum(int(size) for size, _ in xorb_rows)
        stats.redundant_xorb_uploads = sum(int(n) - 1 for _, n in xorb_rows if n > 1)
        stats.xorb_bytes_referenced = int(ref_sizes)
        return stats

    @staticmethod
    def _sizes(s: Session, shas: set[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for batch in _batches(sorted(shas)):
            rows = s.execute(select(Blob.sha256, Blob.size).where(Blob.sha256.in_(batch))).all()
            out.update((sha, size) for sha, size in rows)
            missing = [x for x in batch if x not in out]
            if missing:
                query = select(XetFile.sha256, XetFile.size).where(XetFile.sha256.in_(missing))
                out.update((sha, size) for sha, size in s.execute(query).all())
        return out

    # -- background conversion ------------------------------------------------------------------------------
    def index_commit(self, repo: Repo, commit: str) -> int:
        """Chunk the LFS files of a commit that are stored only as blobs into xorbs. Returns how many."""
        if not self.enabled or not self.hub.settings.xet_index_uploads:
            return 0
        tree = self.git.commit_tree(commit)
        oids = [e.oid for e in self.git.iter_tree(tree, recursive=True) if not e.is_dir]
        lfs = {m.sha256 for m in self.git.blob_metas(oids).values() if m.is_lfs and m.size > 0}
        done = self.store.file_hashes(lfs)
        count = 0
        for sha in sorted(lfs - set(done)):
            if self.store.index_blob(sha, repo.id) is not None:
                count += 1
        return count


def _batches(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
