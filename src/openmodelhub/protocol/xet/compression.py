"""Chunk compression schemes of the xorb format: none, LZ4 (frame format) and byte-grouping-4 + LZ4.

Spec: hub-docs docs/xet/xorb.md "Chunk Compression Schemes". xet-core uses the LZ4 *frame* format
(``lz4_flex::frame``), not raw blocks, so python-lz4's ``lz4.frame`` reads and writes the same bytes.

Decompression is bounded: a chunk header declares its uncompressed size, and we never produce more than that
(plus one byte to detect the overrun), so a hostile frame cannot balloon memory.
"""

from enum import IntEnum

import lz4.frame

from openmodelhub.protocol.xet.errors import XorbChunkHeaderError, XorbDecompressionError


class CompressionScheme(IntEnum):
    """The compression byte of a chunk header."""

    NONE = 0
    LZ4 = 1
    BG4_LZ4 = 2  # "ByteGrouping4LZ4"

    @property
    def label(self) -> str:
        """xet-core's name for the scheme (``none``, ``lz4``, ``bg4-lz4``)."""
        return {0: "none", 1: "lz4", 2: "bg4-lz4"}[self.value]


def scheme_from_byte(value: int) -> CompressionScheme:
    """The scheme for a header byte; XorbChunkHeaderError for unknown values."""
    try:
        return CompressionScheme(value)
    except ValueError:
        raise XorbChunkHeaderError(
            f"unknown chunk compression scheme {value} (known: 0 none, 1 lz4, 2 bg4-lz4)"
        ) from None


def bg4_split(data: bytes) -> bytes:
    """Byte grouping: bytes 0,4,8,… then 1,5,9,… then 2,6,… then 3,7,… (docs/xet/xorb.md)."""
    return b"".join(data[i::4] for i in range(4))


def bg4_regroup(grouped: bytes) -> bytes:
    """Inverse of `bg4_split`; the first ``len % 4`` groups are one byte longer."""
    n = len(grouped)
    base, extra = divmod(n, 4)
    out = bytearray(n)
    position = 0
    for i in range(4):
        size = base + (1 if i < extra else 0)
        out[i::4] = grouped[position : position + size]
        position += size
    return bytes(out)


def lz4_compress(data: bytes) -> bytes:
    """One LZ4 frame, 64 KiB independent blocks, no checksums and no stored size (what lz4_flex writes)."""
    return lz4.frame.compress(
        data,
        block_size=lz4.frame.BLOCKSIZE_MAX64KB,
        block_linked=False,
        content_checksum=False,
        store_size=False,
    )


def lz4_decompress(data: bytes, max_size: int) -> bytes:
    """Decompress concatenated LZ4 frames; XorbDecompressionError if corrupt, truncated or too big."""
    out = bytearray()
    remaining = bytes(data)
    if not remaining:
        raise XorbDecompressionError("LZ4 chunk data is empty")
    while remaining:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        try:
            piece = decompressor.decompress(remaining, max_length=max_size - len(out) + 1)
        except RuntimeError as exc:  # python-lz4 reports every frame error as RuntimeError
            raise XorbDecompressionError(f"LZ4 chunk data is corrupt: {exc}") from exc
        out += piece
        if len(out) > max_size:
            raise XorbDecompressionError(
                f"LZ4 chunk data decompresses to more than the declared {max_size} bytes"
            )
        if not decompressor.eof:
            raise XorbDecompressionError("LZ4 chunk data is truncated (the frame does not end)")
        remaining = decompressor.unused_data
    return bytes(out)


def compress(data: bytes, scheme: CompressionScheme) -> bytes:
    """`data` compressed with `scheme` (NONE returns it unchanged)."""
    if scheme == CompressionScheme.NONE:
        return bytes(data)
    if scheme == CompressionScheme.LZ4:
        return lz4_compress(data)
    return lz4_compress(bg4_split(data))


def decompress(data: bytes, scheme: CompressionScheme, uncompressed_size: int) -> bytes:
    """Decode a chunk body and check it has exactly `uncompressed_size` bytes."""
    if scheme == CompressionScheme.NONE:
        out = bytes(data)
    elif scheme == CompressionScheme.LZ4:
        out = lz4_decompress(data, uncompressed_size)
    else:
        out = bg4_regroup(lz4_decompress(data, uncompressed_size))
    if len(out) != uncompressed_size:
        raise XorbDecompressionError(
            f"chunk decompresses to {len(out)} bytes but its header declares {uncompressed_size}"
        )
    return out


def compress_best(
    data: bytes, schemes: tuple[CompressionScheme, ...] | None = None
) -> tuple[CompressionScheme, bytes]:
    """The smallest encoding among `schemes` (default LZ4 and BG4-LZ4); NONE when nothing is smaller.

    The spec leaves the choice to the writer ("brute force" is one of its strategies). Like xet-core, a
    compressed form is kept only if strictly smaller than the raw bytes.
    """
    best_scheme, best = CompressionScheme.NONE, bytes(data)
    for scheme in schemes if schemes is not None else (CompressionScheme.LZ4, CompressionScheme.BG4_LZ4):
        if scheme == CompressionScheme.NONE:
            continue
        encoded = compress(data, scheme)
        if len(encoded) < len(best):
            best_scheme, best = scheme, encoded
    return best_scheme, best
