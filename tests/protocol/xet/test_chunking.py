"""Content-defined chunking: the vectorised chunker against a byte-by-byte reference and against hf_xet.

The reference below is the spec's pseudocode (docs/xet/chunking.md) written out literally. hf_xet's file
hashes are a merkle tree over (chunk hash, chunk size), so equal file hashes mean identical chunk boundaries.
"""

import random
from pathlib import Path

import hf_xet
import numpy as np
import pytest

from openmodelhub.protocol.xet import (
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    Chunker,
    chunk_boundaries,
    chunk_bytes,
    digest_bytes,
    digest_stream,
    iter_chunks,
)
from openmodelhub.protocol.xet.chunking import MASK
from openmodelhub.protocol.xet.gear import GEAR_TABLE

M64 = (1 << 64) - 1


def reference_boundaries(data: bytes) -> list[int]:
    """docs/xet/chunking.md pseudocode, one byte at a time."""
    if len(data) < MIN_CHUNK_SIZE:
        return [len(data)] if data else []
    h, start, out = 0, 0, []
    for i, b in enumerate(data):
        h = ((h << 1) + GEAR_TABLE[b]) & M64
        size = i + 1 - start
        if size < MIN_CHUNK_SIZE:
            continue
        if size >= MAX_CHUNK_SIZE or (h & MASK) == 0:
            out.append(i + 1)
            start, h = i + 1, 0
    if start < len(data):
        out.append(len(data))
    return out


def _low_entropy(n: int) -> bytes:
    words = [b"weight", b"bias", b"layer.", b"0", b"1", b"\n", b" ", b"attention"]
    rnd = random.Random(7)
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(words)
    return bytes(out[:n])


SAMPLES = {
    "random": random.Random(1).randbytes(1_500_000),
    "zeros": bytes(700_000),  # no content boundary ever: forced 128 KiB cuts
    "text": _low_entropy(900_000),
    "float32": np.random.default_rng(3).standard_normal(200_000).astype(np.float32).tobytes(),
    "tiny": b"hello",
    "exact-min": random.Random(2).randbytes(MIN_CHUNK_SIZE),
    "min-plus-one": random.Random(2).randbytes(MIN_CHUNK_SIZE + 1),
    "empty": b"",
}


def test_gear_table_is_the_gearhash_default_table() -> None:
    assert len(GEAR_TABLE) == 256 and len(set(GEAR_TABLE)) == 256
    assert GEAR_TABLE[0] == 0xB088D3A9E840F559 and GEAR_TABLE[255] == 0x63C7A906C1DD187B
    assert MASK == 0xFFFF_0000_0000_0000 and (MIN_CHUNK_SIZE, MAX_CHUNK_SIZE) == (8192, 131072)


@pytest.mark.parametrize("name", SAMPLES)
def test_matches_the_byte_by_byte_reference(name: str) -> None:
    data = SAMPLES[name]
    assert chunk_boundaries(data) == reference_boundaries(data)


def test_size_rules_hold() -> None:
    data = SAMPLES["random"] + SAMPLES["zeros"] + SAMPLES["text"]
    chunks = chunk_bytes(data)
    assert b"".join(chunks) == data
    assert all(MIN_CHUNK_SIZE <= len(c) <= MAX_CHUNK_SIZE for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= MAX_CHUNK_SIZE
    assert all(len(c) == MAX_CHUNK_SIZE for c in chunk_bytes(SAMPLES["zeros"])[:-1])


def test_streaming_does_not_depend_on_block_sizes() -> None:
    data = SAMPLES["random"] + SAMPLES["text"]
    expected = chunk_bytes(data)
    rnd = random.Random(11)
    for _ in range(3):
        chunker, got, pos = Chunker(), [], 0
        while pos < len(data):
            n = rnd.choice([1, 7, 64, 4096, 70_000, 300_000])
            got += chunker.feed(data[pos : pos + n])
            pos += n
        got += chunker.finish()
        assert got == expected
    # the chunker is reusable after finish()
    chunker = Chunker()
    assert chunker.feed(data) + chunker.finish() == expected
    assert chunker.feed(b"abc") + chunker.finish() == [b"abc"]


def test_iter_chunks_and_digest_stream_read_in_blocks(tmp_path: Path) -> None:
    data = SAMPLES["random"]
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    with path.open("rb") as f:
        assert list(iter_chunks(f, read_size=100_000)) == chunk_bytes(data)
    with path.open("rb") as f:
        assert digest_stream(f, read_size=12345) == digest_bytes(data)


def _repeated_blocks(total: int) -> bytes:
    # ~20 MiB where 1 MiB blocks recur, so the file deduplicates against itself
    rnd = random.Random(20)
    blocks = [rnd.randbytes(1 << 20) for _ in range(6)]
    out = bytearray()
    while len(out) < total:
        out += rnd.choice(blocks)
        out += rnd.randbytes(rnd.randrange(1, 50_000))  # shift alignment between repeats
    return bytes(out[:total])


HF_XET_FILES = {
    "empty": lambda: b"",
    "one-byte": lambda: b"\x00",
    "100KiB": lambda: random.Random(100).randbytes(100 * 1024),
    "5MiB": lambda: random.Random(5).randbytes(5 << 20),
    "20MiB-repeated-blocks": lambda: _repeated_blocks(20 << 20),
    "zeros-3MiB": lambda: bytes(3 << 20),
    "float32": lambda: SAMPLES["float32"],
    "text": lambda: SAMPLES["text"],
}


def test_file_hashes_equal_hf_xet(tmp_path: Path) -> None:
    paths, digests = [], {}
    for name, make in HF_XET_FILES.items():
        data = make()
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
        digests[str(path)] = digest_bytes(data)
    results = hf_xet.hash_files(paths)
    assert len(results) == len(paths)
    for path, result in zip(paths, results, strict=True):
        ours = digests[path]
        assert (Path(path).name, result.hash, result.file_size) == (Path(path).name, ours.hex, ours.size)
    assert digests[paths[0]].hex == "0" * 64
