"""File reconstruction: from a file's segments to the reconstruction API answer, and back to bytes.

A file is a list of terms (xorb hash, chunk range [start, end)) whose decoded chunks, concatenated, are the
file (hub-docs docs/xet/file-reconstruction.md). For a byte range, the answer keeps only the chunks that
overlap it; ``offset_into_first_range`` says how many bytes of the first kept chunk to skip, and the client
truncates the tail itself (docs/xet/download-protocol.md "Range Downloads").

The JSON shapes follow xet-core ``cas_types`` (``QueryReconstructionResponse`` for ``/v1/reconstructions``,
``QueryReconstructionResponseV2`` for ``/v2/reconstructions``): hashes in Xet hex, chunk ranges end-exclusive,
byte ranges (``url_range`` / ``bytes``) end-*inclusive*, as an HTTP Range header wants them.
"""

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openmodelhub.protocol.xet.errors import RangeNotSatisfiableError, ReconstructionError
from openmodelhub.protocol.xet.hashing import hash_to_hex
from openmodelhub.protocol.xet.shard import FileSegment
from openmodelhub.protocol.xet.xorb import XorbFooter, XorbInfo, decode_chunks


@dataclass(frozen=True)
class XorbLayout:
    """Where each chunk of a stored xorb is: uncompressed sizes and serialized offsets.

    A shard does not carry serialized offsets (its CAS entries give uncompressed offsets), so a CAS must keep
    them from when it verified the xorb (`from_xorb_info`) or store xorbs with a footer (`from_footer`).
    """

    chunk_sizes: tuple[int, ...]
    chunk_offsets: tuple[int, ...]  # start of every chunk, then the end of the last one (len = chunks + 1)

    @classmethod
    def from_footer(cls, footer: XorbFooter) -> "XorbLayout":
        """From a stored xorb's footer (chunk ends and uncompressed ends)."""
        ends = footer.chunk_ends
        unpacked = (0, *footer.unpacked_ends)
        sizes = tuple(unpacked[i + 1] - unpacked[i] for i in range(len(ends)))
        return cls(sizes, (0, *ends))

    @classmethod
    def from_xorb_info(cls, info: XorbInfo) -> "XorbLayout":
        """From a verified xorb (footer, if any, excluded from the ranges)."""
        return cls(tuple(c.size for c in info.chunks), (*(c.offset for c in info.chunks), info.chunks_length))

    @property
    def num_chunks(self) -> int:
        """How many chunks the xorb holds."""
        return len(self.chunk_sizes)

    def byte_range(self, chunk_start: int, chunk_end: int) -> tuple[int, int]:
        """(first byte, last byte inclusive) of chunks [chunk_start, chunk_end) in the serialized xorb."""
        return self.chunk_offsets[chunk_start], self.chunk_offsets[chunk_end] - 1


@dataclass(frozen=True, slots=True)
class Term:
    """A term: chunks [chunk_start, chunk_end) of a xorb, `unpacked_length` bytes once decoded."""

    xorb_hash: bytes
    chunk_start: int
    chunk_end: int
    unpacked_length: int


@dataclass(frozen=True, slots=True)
class FetchRange:
    """A contiguous run of chunks to download from one xorb and its serialized byte range (end inclusive)."""

    chunk_start: int
    chunk_end: int
    byte_start: int
    byte_end: int

    @property
    def http_range(self) -> str:
        """The Range header value for these bytes."""
        return f"bytes={self.byte_start}-{self.byte_end}"

    def covers(self, term: Term) -> bool:
        """True if this fetch holds all of `term`'s chunks."""
        return self.chunk_start <= term.chunk_start and term.chunk_end <= self.chunk_end


@dataclass(frozen=True)
class ReconstructionPlan:
    """Everything a reconstruction answer needs, independent of URLs and JSON."""

    file_size: int
    range_start: int
    range_end: int  # inclusive; range_start - 1 for an empty file
    offset_into_first_range: int
    terms: tuple[Term, ...]
    fetches: dict[bytes, tuple[FetchRange, ...]]  # per xorb, merged, ascending

    @property
    def length(self) -> int:
        """Bytes of the requested range."""
        return self.range_end - self.range_start + 1


LayoutSource = Mapping[bytes, XorbLayout] | Callable[[bytes], XorbLayout | None]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_byte_range(header: str, file_size: int) -> tuple[int, int]:
    """(start, end inclusive) of a single-range ``Range`` header, clipped to the file.

    ``bytes=a-b``, ``bytes=a-`` and the suffix form ``bytes=-n`` are accepted. RangeNotSatisfiableError when
    the range starts at or after the end of the file (HTTP 416); ReconstructionError for anything malformed.
    """
    match = _RANGE.fullmatch(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        raise ReconstructionError(f"unsupported Range header {header[:100]!r} (expected bytes=start-end)")
    first, last = match.group(1), match.group(2)
    if not first:
        suffix = int(last)
        if suffix == 0 or file_size == 0:
            raise RangeNotSatisfiableError(f"range {header!r} selects no bytes of a {file_size}-byte file")
        return max(0, file_size - suffix), file_size - 1
    start = int(first)
    end = int(last) if last else file_size - 1
    if end < start:
        raise ReconstructionError(f"Range header {header!r} ends before it starts")
    if start >= file_size:
        raise RangeNotSatisfiableError(f"range starts at byte {start} but the file has {file_size} bytes")
    return start, min(end, file_size - 1)


def _layout(source: LayoutSource, xorb_hash: bytes) -> XorbLayout:
    layout = source.get(xorb_hash) if isinstance(source, Mapping) else source(xorb_hash)
    if layout is None:
        raise ReconstructionError(f"no layout for xorb {hash_to_hex(xorb_hash)}")
    return layout


def plan_reconstruction(
    segments: Sequence[FileSegment], layouts: LayoutSource, byte_range: tuple[int, int] | None = None
) -> ReconstructionPlan:
    """The terms and fetch ranges that reconstruct `byte_range` (start, end inclusive; whole file if None).

    Terms are trimmed to the chunks that overlap the range; fetch ranges merge overlapping and adjacent chunk
    runs of the same xorb. Checks each segment against its xorb layout (ReconstructionError if the stored data
    disagrees) and raises RangeNotSatisfiableError for a range starting at or past the end of the file.
    """
    file_size = sum(s.unpacked_segment_bytes for s in segments)
    if byte_range is None:
        start, end = 0, file_size - 1
    else:
        start, end = byte_range
        if start < 0 or end < start:
            raise ReconstructionError(f"invalid byte range ({start}, {end})")
        if start >= file_size:
            raise RangeNotSatisfiableError(f"range starts at byte {start} but the file has {file_size} bytes")
        end = min(end, file_size - 1)

    terms: list[Term] = []
    offset_into_first = 0
    position = 0  # file offset of the current segment
    for n, seg in enumerate(segments):
        seg_end = position + seg.unpacked_segment_bytes
        if seg_end <= start or position > end:
            position = seg_end
            continue
        layout = _layout(layouts, seg.xorb_hash)
        if not 0 <= seg.chunk_start < seg.chunk_end <= layout.num_chunks:
            raise ReconstructionError(
                f"segment {n} uses chunks [{seg.chunk_start}, {seg.chunk_end}) of xorb "
                f"{hash_to_hex(seg.xorb_hash)}, which has {layout.num_chunks}"
            )
        sizes = layout.chunk_sizes[seg.chunk_start : seg.chunk_end]
        if sum(sizes) != seg.unpacked_segment_bytes:
            raise ReconstructionError(
                f"segment {n} declares {seg.unpacked_segment_bytes} bytes, its chunks hold {sum(sizes)}"
            )
        first = last = None
        chunk_pos = position
        kept = 0
        first_chunk_pos = position
        for i, size in enumerate(sizes):
            chunk_end_pos = chunk_pos + size
            if chunk_end_pos > start and chunk_pos <= end:
                if first is None:
                    first, first_chunk_pos = seg.chunk_start + i, chunk_pos
                last = seg.chunk_start + i
                kept += size
            chunk_pos = chunk_end_pos
        assert first is not None and last is not None  # the segment overlaps the range
        if not terms:
            offset_into_first = start - first_chunk_pos
        terms.append(Term(seg.xorb_hash, first, last + 1, kept))
        position = seg_end

    fetches: dict[bytes, tuple[FetchRange, ...]] = {}
    runs: dict[bytes, list[tuple[int, int]]] = {}
    for t in terms:
        runs.setdefault(t.xorb_hash, []).append((t.chunk_start, t.chunk_end))
    for xorb, chunk_runs in runs.items():
        layout = _layout(layouts, xorb)
        merged: list[list[int]] = []
        for a, b in sorted(chunk_runs):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        fetches[xorb] = tuple(FetchRange(a, b, *layout.byte_range(a, b)) for a, b in merged)
    return ReconstructionPlan(file_size, start, end, offset_into_first, tuple(terms), fetches)


# -- JSON answers --------------------------------------------------------------------------------------------


def _terms_json(plan: ReconstructionPlan) -> list[dict[str, Any]]:
    return [
        {
            "hash": hash_to_hex(t.xorb_hash),
            "unpacked_length": t.unpacked_length,
            "range": {"start": t.chunk_start, "end": t.chunk_end},
        }
        for t in plan.terms
    ]


def plan_to_v1_json(plan: ReconstructionPlan, url_for: Callable[[bytes, FetchRange], str]) -> dict[str, Any]:
    """``QueryReconstructionResponse`` (GET /v1/reconstructions/{file_id}): one URL per fetch range.

    `url_for(xorb_hash, fetch)` returns the (typically signed) URL the client GETs with ``Range: bytes=a-b``.
    """
    return {
        "offset_into_first_range": plan.offset_into_first_range,
        "terms": _terms_json(plan),
        "fetch_info": {
            hash_to_hex(xorb): [
                {
                    "range": {"start": f.chunk_start, "end": f.chunk_end},
                    "url": url_for(xorb, f),
                    "url_range": {"start": f.byte_start, "end": f.byte_end},
                }
                for f in ranges
            ]
            for xorb, ranges in plan.fetches.items()
        },
    }


def plan_to_v2_json(
    plan: ReconstructionPlan,
    url_for: Callable[[bytes, Sequence[FetchRange]], str],
    *,
    multi_range: bool = True,
) -> dict[str, Any]:
    """``QueryReconstructionResponseV2`` (GET /v2/reconstructions/{file_id}).

    With `multi_range` all ranges of a xorb share one URL (the client then sends a multi-range request and
    must get ``multipart/byteranges`` back); without it each range gets its own entry, so a plain single-range
    server is enough. `url_for(xorb_hash, ranges)` returns the URL for those ranges.
    """

    def entry(xorb: bytes, ranges: Sequence[FetchRange]) -> dict[str, Any]:
        return {
            "url": url_for(xorb, ranges),
            "ranges": [
                {
                    "chunks": {"start": f.chunk_start, "end": f.chunk_end},
                    "bytes": {"start": f.byte_start, "end": f.byte_end},
                }
                for f in ranges
            ],
        }

    xorbs: dict[str, list[dict[str, Any]]] = {}
    for xorb, ranges in plan.fetches.items():
        groups = [list(ranges)] if multi_range else [[f] for f in ranges]
        xorbs[hash_to_hex(xorb)] = [entry(xorb, g) for g in groups]
    return {
        "offset_into_first_range": plan.offset_into_first_range,
        "terms": _terms_json(plan),
        "xorbs": xorbs,
    }


# -- assembling bytes ----------------------------------------------------------------------------------------


def iter_plan_bytes(
    plan: ReconstructionPlan, read_range: Callable[[bytes, FetchRange], bytes]
) -> Iterator[bytes]:
    """The bytes of the planned range, in order, fetching each fetch range once via `read_range`.

    `read_range(xorb_hash, fetch)` returns the serialized bytes ``fetch.byte_start..fetch.byte_end`` of the
    xorb. Only the most recent fetch range per xorb is kept decoded, so memory stays bounded. Checks each
    term's decoded length against its ``unpacked_length`` (ReconstructionError otherwise).
    """
    cache: dict[bytes, tuple[FetchRange, list[bytes]]] = {}
    skip = plan.offset_into_first_range
    remaining = plan.length
    for t in plan.terms:
        if remaining <= 0:
            break
        cached = cache.get(t.xorb_hash)
        if cached is None or not cached[0].covers(t):
            fetch = next((f for f in plan.fetches.get(t.xorb_hash, ()) if f.covers(t)), None)
            if fetch is None:
                raise ReconstructionError(f"no fetch range covers a term of xorb {hash_to_hex(t.xorb_hash)}")
            raw = read_range(t.xorb_hash, fetch)
            expected = fetch.byte_end - fetch.byte_start + 1
            if len(raw) != expected:
                raise ReconstructionError(f"fetched {len(raw)} bytes of xorb range, expected {expected}")
            cached = (fetch, decode_chunks(raw, fetch.chunk_end - fetch.chunk_start))
            cache[t.xorb_hash] = cached
        fetch, chunks = cached
        pieces = chunks[t.chunk_start - fetch.chunk_start : t.chunk_end - fetch.chunk_start]
        if sum(len(p) for p in pieces) != t.unpacked_length:
            raise ReconstructionError(
                f"term of xorb {hash_to_hex(t.xorb_hash)} decodes to {sum(len(p) for p in pieces)} bytes, "
                f"expected {t.unpacked_length}"
            )
        for piece in pieces:
            if skip >= len(piece):
                skip -= len(piece)
                continue
            out = piece[skip : skip + remaining]
            skip = 0
            remaining -= len(out)
            yield out
            if remaining <= 0:
                break


def reconstruct_bytes(
    segments: Sequence[FileSegment],
    xorbs: Mapping[bytes, bytes],
    layouts: LayoutSource,
    byte_range: tuple[int, int] | None = None,
) -> bytes:
    """The file (or a byte range of it) from its segments and whole serialized xorbs held in memory."""
    plan = plan_reconstruction(segments, layouts, byte_range)
    return b"".join(iter_plan_bytes(plan, lambda xorb, f: xorbs[xorb][f.byte_start : f.byte_end + 1]))
