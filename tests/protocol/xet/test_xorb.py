"""Xorb building, parsing and verification, including every way a body can be wrong."""

import io
import random
import struct

import numpy as np
import pytest

from openmodelhub.protocol.xet import (
    MAX_CHUNK_SIZE,
    ChunkHeader,
    CompressionScheme,
    XorbChunkHeaderError,
    XorbDecompressionError,
    XorbFooter,
    XorbFooterError,
    XorbFormatError,
    XorbHashMismatchError,
    XorbTooLargeError,
    XorbTruncatedError,
    build_xorb,
    chunk_bytes,
    chunk_hash,
    decode_chunks,
    hash_to_hex,
    read_xorb,
    verify_xorb,
    xorb_hash,
)
from openmodelhub.protocol.xet.compression import bg4_regroup, bg4_split, compress, decompress, lz4_compress

RND = random.Random(42)
FLOATS = np.random.default_rng(0).standard_normal(150_000).astype(np.float32).tobytes()
DATA = RND.randbytes(400_000) + FLOATS + b"the quick brown fox " * 20_000
CHUNKS = chunk_bytes(DATA)


def test_bg4_split_and_regroup_are_inverse() -> None:
    # [A1 A2 A3 A4 B1 B2 B3 B4] -> [A1 B1 A2 B2 A3 B3 A4 B4]
    assert bg4_split(bytes.fromhex("a1a2a3a4b1b2b3b4")) == bytes.fromhex("a1b1a2b2a3b3a4b4")
    for n in range(0, 13):
        data = bytes(range(n))
        assert bg4_regroup(bg4_split(data)) == data
    # remainder bytes go to the first groups (docs/xet/xorb.md)
    assert bg4_split(bytes([1, 2, 3, 4, 5, 6])) == bytes([1, 5, 2, 6, 3, 4])


def test_chunk_header_layout() -> None:
    header = ChunkHeader(0x010203, CompressionScheme.LZ4, 0x020000)
    raw = header.to_bytes()
    assert raw == bytes([0, 0x03, 0x02, 0x01, 1, 0x00, 0x00, 0x02])
    assert ChunkHeader.parse(raw) == header


@pytest.mark.parametrize("compression", ["none", "lz4", "bg4-lz4", "auto"])
def test_round_trip_every_scheme(compression: str) -> None:
    built = build_xorb(CHUNKS, compression=compression)
    info = read_xorb(built.data, expected_hash=built.hash, keep_data=True)
    assert info.chunk_data == tuple(CHUNKS)
    assert info.hash == xorb_hash((chunk_hash(c), len(c)) for c in CHUNKS) == built.hash
    assert info.chunks_length == len(built.data) and info.footer is None
    schemes = {c.scheme for c in info.chunks}
    if compression == "none":
        assert schemes == {CompressionScheme.NONE}
    if compression == "auto":
        # random data stays raw, float32 prefers byte grouping, text compresses with plain LZ4
        assert schemes == {CompressionScheme.NONE, CompressionScheme.LZ4, CompressionScheme.BG4_LZ4}
        assert len(built.data) < len(build_xorb(CHUNKS, compression="none").data)


def test_footer_round_trip_and_stream_input() -> None:
    built = build_xorb(CHUNKS, with_footer=True)
    assert built.data[built.info.chunks_length :][:7] == b"XETBLOB"
    info = read_xorb(io.BytesIO(built.data), expected_hash=hash_to_hex(built.hash))
    assert info.footer is not None and info.footer == built.info.footer
    assert info.total_length == len(built.data)
    assert info.footer.unpacked_ends[-1] == len(DATA)
    assert XorbFooter.parse(info.footer.to_bytes()) == info.footer


def test_byte_ranges_of_chunk_runs() -> None:
    built = build_xorb(CHUNKS)
    info = built.info
    first, last = info.byte_range(1, 3)
    assert decode_chunks(built.data[first : last + 1], 2) == CHUNKS[1:3]
    with pytest.raises(XorbFormatError):
        info.byte_range(2, 2)
    with pytest.raises(XorbFormatError):
        info.byte_range(0, len(CHUNKS) + 1)


# -- corruption ----------------------------------------------------------------------------------------------


def _first_chunk_with(data: bytes, scheme: CompressionScheme) -> tuple[int, ChunkHeader]:
    info = read_xorb(data)
    for c in info.chunks:
        if c.scheme == scheme:
            return c.offset, ChunkHeader.parse(data[c.offset : c.offset + 8])
    raise AssertionError(f"no {scheme} chunk")


@pytest.fixture(scope="module")
def mixed() -> bytes:
    return build_xorb(CHUNKS).data


def test_flipped_byte_in_raw_chunk_changes_the_hash(mixed: bytes) -> None:
    offset, header = _first_chunk_with(mixed, CompressionScheme.NONE)
    bad = bytearray(mixed)
    bad[offset + 8 + header.compressed_size // 2] ^= 0x01
    expected = read_xorb(mixed).hash
    with pytest.raises(XorbHashMismatchError, match="not " + hash_to_hex(expected)):
        verify_xorb(bytes(bad), expected)


def test_flipped_byte_in_lz4_chunk_is_caught(mixed: bytes) -> None:
    offset, header = _first_chunk_with(mixed, CompressionScheme.LZ4)
    expected = read_xorb(mixed).hash
    for position in (8, 12, header.compressed_size // 2, header.compressed_size - 2):
        bad = bytearray(mixed)
        bad[offset + 8 + position] ^= 0x5A
        with pytest.raises((XorbDecompressionError, XorbHashMismatchError)):
            verify_xorb(bytes(bad), expected)


def test_truncated_lz4_frame(mixed: bytes) -> None:
    offset, header = _first_chunk_with(mixed, CompressionScheme.LZ4)
    body = mixed[offset + 8 : offset + 8 + header.compressed_size]
    short = body[: len(body) // 2]
    patched = ChunkHeader(len(short), header.scheme, header.uncompressed_size).to_bytes()
    bad = mixed[:offset] + patched + short + mixed[offset + 8 + header.compressed_size :]
    with pytest.raises(XorbDecompressionError, match=r"truncated|corrupt"):
        read_xorb(bad)


def test_lz4_output_larger_than_declared() -> None:
    data = b"a" * 50_000
    frame = lz4_compress(data)
    with pytest.raises(XorbDecompressionError, match="more than the declared"):
        decompress(frame, CompressionScheme.LZ4, 40_000)
    with pytest.raises(XorbDecompressionError, match="header declares"):
        decompress(frame[:0] + compress(data[:10], CompressionScheme.LZ4), CompressionScheme.LZ4, 11)


def test_truncated_body(mixed: bytes) -> None:
    with pytest.raises(XorbTruncatedError, match="data bytes present"):
        read_xorb(mixed[:-5])
    with pytest.raises(XorbTruncatedError, match="header"):
        read_xorb(mixed + b"\x00\x01\x00")


def test_wrong_expected_hash(mixed: bytes) -> None:
    with pytest.raises(XorbHashMismatchError):
        verify_xorb(mixed, b"\x11" * 32)
    with pytest.raises(XorbHashMismatchError):
        verify_xorb(mixed, "ab" * 32)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (bytes([1, 4, 0, 0, 0, 4, 0, 0]), "version 1"),
        (bytes([0, 4, 0, 0, 7, 4, 0, 0]), "compression scheme 7"),
        (bytes([0, 4, 0, 0, 0, 0, 0, 0]), "empty"),
        (bytes([0, 1, 0, 2, 1, 1, 0, 2]), "uncompressed size 131073"),
        (bytes([0, 1, 0, 4, 1, 0, 0, 1]), "compressed size 262145"),
        (bytes([0, 5, 0, 0, 0, 4, 0, 0]), "5 stored bytes, 4 data bytes"),
    ],
)
def test_bad_chunk_headers(header: bytes, message: str) -> None:
    with pytest.raises(XorbChunkHeaderError, match=message):
        read_xorb(header + b"\x00" * 8)


def test_empty_and_oversized_xorbs() -> None:
    with pytest.raises(XorbFormatError, match="no chunks"):
        read_xorb(b"")
    small = build_xorb([b"x" * 10] * 5, compression="none").data
    with pytest.raises(XorbTooLargeError, match="more than 4 chunks"):
        read_xorb(small, max_chunks=4)
    with pytest.raises(XorbTooLargeError, match="uncompressed"):
        read_xorb(small, max_uncompressed=45)
    with pytest.raises(XorbTooLargeError, match="larger than"):
        read_xorb(small, max_serialized=50)
    with pytest.raises(XorbFormatError):
        build_xorb([])
    with pytest.raises(XorbFormatError):
        build_xorb([b"x" * (MAX_CHUNK_SIZE + 1)])


def test_footer_inconsistencies() -> None:
    built = build_xorb(CHUNKS[:4], with_footer=True)
    start = built.info.chunks_length
    footer = built.data[start:]
    # wrong hash inside the footer
    bad = bytearray(built.data)
    bad[start + 8] ^= 1
    with pytest.raises(XorbFooterError, match="names hash"):
        read_xorb(bytes(bad))
    # a chunk end that disagrees with the data
    n = 4
    ends_at = start + 8 + 32 + 12 + 32 * n + 12
    bad = bytearray(built.data)
    bad[ends_at : ends_at + 4] = struct.pack("<I", 1)
    with pytest.raises(XorbFooterError, match="chunk ends"):
        read_xorb(bytes(bad))
    # wrong trailing length, and trailing garbage
    with pytest.raises(XorbFooterError, match="length field"):
        read_xorb(built.data[:-4] + struct.pack("<I", len(footer)))
    with pytest.raises(XorbFooterError, match="after the xorb footer"):
        read_xorb(built.data + b"\x00")
    with pytest.raises(XorbFooterError, match="version"):
        read_xorb(built.data[:start] + b"XETBLOB\x00" + footer[8:])
