"""Xet content-defined chunking (gearhash CDC), byte-identical to xet-core's chunker.

Spec: hub-docs docs/xet/chunking.md. Reference: xet-core ``xet_data/src/deduplication/chunking.rs``.

The rule: ``h = (h << 1) + TABLE[b]`` (64-bit wrapping) for every byte; a chunk ends after the byte where
``h & MASK == 0`` once the chunk is at least MIN_CHUNK_SIZE long, or at MAX_CHUNK_SIZE regardless; ``h``
resets to 0 at every boundary; whatever is left at the end of the stream is the last chunk.

Why this implementation is vectorised: after the shift-and-add, a byte's contribution is shifted out after 64
more bytes, so ``h`` at position *i* depends only on bytes *i-63 .. i*. Boundaries are only tested at least
MIN_CHUNK_SIZE (8 KiB) into a chunk, so the value there never depends on where the chunk started or on the
reset. That lets us compute the windowed hash of every position at once with numpy (six shift-and-add passes
over the block, doubling the window each time), pick the candidate positions, and then apply the min/max rules
in a short Python loop over candidates (about one per 64 KiB). xet-core's scan skip (``MIN - 64 - 1``) is the
same observation; both give the byte-by-byte result.
"""

from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any, BinaryIO

from openmodelhub.protocol.xet.gear import GEAR_TABLE

if TYPE_CHECKING:
    import numpy as np

TARGET_CHUNK_SIZE = 64 * 1024
MIN_CHUNK_SIZE = TARGET_CHUNK_SIZE // 8
MAX_CHUNK_SIZE = TARGET_CHUNK_SIZE * 2
#: The 16 top bits of the 64-bit gear hash (target size - 1, shifted all the way left).
MASK = 0xFFFF_0000_0000_0000
HASH_WINDOW = 64

# Positions hashed per numpy pass; bounds the temporary arrays (8 bytes per position, two of them) to ~16 MiB.
_BLOCK = 1 << 20
_READ_SIZE = 8 << 20


@cache
def _numpy() -> tuple[Any, Any, Any]:
    """numpy, the gear table as uint64 and the match limit (h & MASK == 0  <=>  h < 2**48). Imported on first
    use: numpy costs every process ~17 MB, and only the ones that chunk need it."""
    import numpy

    return numpy, numpy.array(GEAR_TABLE, dtype=numpy.uint64), numpy.uint64(1 << 48)


def _window_hashes(buf: bytes) -> "np.ndarray":
    """The gear hash over the last 64 bytes ending at every position of `buf` (fewer at the very start)."""
    np, table, _ = _numpy()
    h = table[np.frombuffer(buf, dtype=np.uint8)]
    width = 1
    while width < HASH_WINDOW:
        # h_{2w}[i] = (h_w[i - w] << w) + h_w[i]; the right side is materialised before the in-place add.
        h[width:] += h[:-width] << np.uint64(width)
        width *= 2
    return h


class Chunker:
    """Streaming chunker: `feed` blocks of any size, then `finish`; boundaries do not depend on the blocks.

    Holds at most one unfinished chunk (< MAX_CHUNK_SIZE bytes) between calls.
    """

    def __init__(self) -> None:
        self._pending = b""  # bytes of the current, unfinished chunk

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Consume `data`; return the chunks completed by it, in order."""
        view = memoryview(data).cast("B")
        out: list[bytes] = []
        for offset in range(0, len(view), _BLOCK):
            out.extend(self._feed_block(bytes(view[offset : offset + _BLOCK])))
        return out

    def finish(self) -> list[bytes]:
        """End of stream: the last chunk if bytes are left; the chunker is then ready for a new stream."""
        rest, self._pending = self._pending, b""
        return [rest] if rest else []

    def _feed_block(self, block: bytes) -> list[bytes]:
        pending = self._pending
        base = len(pending)
        # Positions inside `pending` were already tested against this same chunk start; only the new block's
        # positions need hashes, and for those the 63 bytes before the block are enough.
        prefix = pending[-(HASH_WINDOW - 1) :]
        np, _, match_limit = _numpy()
        hashes = _window_hashes(prefix + block)[len(prefix) :]
        candidates = np.flatnonzero(hashes < match_limit) + base  # a boundary would follow these positions

        combined = pending + block
        total = len(combined)
        chunks: list[bytes] = []
        start = 0
        while True:
            first_testable = start + MIN_CHUNK_SIZE - 1
            j = int(np.searchsorted(candidates, first_testable))
            forced_end = start + MAX_CHUNK_SIZE
            if j < len(candidates) and int(candidates[j]) + 1 <= forced_end:
                end = int(candidates[j]) + 1
            elif forced_end <= total:
                end = forced_end
            else:
                break
            chunks.append(combined[start:end])
            start = end
        self._pending = combined[start:]
        return chunks


def chunk_bytes(data: bytes | bytearray | memoryview) -> list[bytes]:
    """All chunks of an in-memory buffer (no chunk for an empty buffer)."""
    chunker = Chunker()
    return chunker.feed(data) + chunker.finish()


def chunk_boundaries(data: bytes | bytearray | memoryview) -> list[int]:
    """End offsets (exclusive) of the chunks of `data`; the last is ``len(data)`` (none if empty)."""
    ends: list[int] = []
    position = 0
    for chunk in chunk_bytes(data):
        position += len(chunk)
        ends.append(position)
    return ends


def iter_chunks(stream: BinaryIO, read_size: int = _READ_SIZE) -> Iterator[bytes]:
    """Chunks of a binary stream, read `read_size` bytes at a time (memory stays bounded by the read size)."""
    chunker = Chunker()
    while True:
        block = stream.read(read_size)
        if not block:
            break
        yield from chunker.feed(block)
    yield from chunker.finish()
