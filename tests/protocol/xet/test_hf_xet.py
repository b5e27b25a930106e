"""The library against the real client: what hf_xet 1.8 uploads, and whether hf_xet can read what we serve.

A module-wide capture uploads a set of files (empty, 1 byte, 100 KiB, 5 MiB, ~20 MiB of repeated blocks,
float32 data, text and a 70 MiB file that needs two xorbs) with hf_xet's `XetSession` to the recording server.
Every captured xorb and shard is then parsed and verified with the library, the files are rebuilt from the
captured xorbs, captured data is damaged in the ways a hostile or buggy client could, and finally hf_xet
downloads files from the recording server answering with our reconstruction plans (v2, and v1 fallback),
and deduplicates a second upload against a global-dedup shard we built.
"""

import dataclasses
import hashlib
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from openmodelhub.protocol.xet import (
    ChunkHeader,
    CompressionScheme,
    FileDigest,
    FileInfo,
    ShardChunkRangeError,
    ShardFooterError,
    ShardTruncatedError,
    ShardUnknownXorbError,
    ShardVerificationError,
    XetPacker,
    XorbDecompressionError,
    XorbHashMismatchError,
    XorbInfo,
    XorbLayout,
    XorbTruncatedError,
    build_dedup_shard,
    build_shard,
    digest_bytes,
    hash_to_hex,
    hex_to_hash,
    parse_shard,
    read_xorb,
    reconstruct_bytes,
    validate_shard,
    verify_xorb,
)
from tests.protocol.xet.conftest import run_hf_xet
from tests.protocol.xet.recording_cas import ACCESS_TOKEN, Recording, RecordingCas


def _repeated_blocks(total: int) -> bytes:
    rnd = random.Random(20)
    blocks = [rnd.randbytes(1 << 20) for _ in range(5)]
    out = bytearray()
    while len(out) < total:
        out += rnd.choice(blocks) + rnd.randbytes(rnd.randrange(1, 40_000))
    return bytes(out[:total])


def _files() -> dict[str, bytes]:
    rnd = random.Random(77)
    return {
        "empty.bin": b"",
        "one.bin": b"\x01",
        "100k.bin": rnd.randbytes(100 * 1024),
        "5m.bin": rnd.randbytes(5 << 20),
        "20m-repeated.bin": _repeated_blocks(20 << 20),
        "weights.f32": np.random.default_rng(5).standard_normal(400_000).astype(np.float32).tobytes(),
        "config.txt": "".join(f"layer.{i}.weight = {i * 0.5}\n" for i in range(60_000)).encode(),
        "70m.bin": rnd.randbytes(70 << 20),
    }


@dataclass
class Capture:
    files: dict[str, bytes]
    reported: dict[str, dict]  # file name -> what hf_xet returned (hash, file_size, sha256)
    rec: Recording
    xorbs: dict[bytes, XorbInfo]  # verified captured xorbs by raw hash
    raw_xorbs: dict[bytes, bytes]
    digests: dict[str, FileDigest]  # our chunking and hashing of each file

    def resolver(self) -> dict[bytes, list[tuple[bytes, int]]]:
        return {h: info.chunk_list() for h, info in self.xorbs.items()}

    def layouts(self) -> dict[bytes, XorbLayout]:
        return {h: XorbLayout.from_xorb_info(info) for h, info in self.xorbs.items()}

    def shard_files(self) -> dict[bytes, FileInfo]:
        return {f.file_hash: f for raw in self.rec.shards for f in parse_shard(raw).files}


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    home = tmp_path_factory.mktemp("hf-xet-upload")
    files = _files()
    paths = []
    for name, data in files.items():
        (home / name).write_bytes(data)
        paths.append(str(home / name))
    with RecordingCas() as cas:
        results = run_hf_xet(home, "upload", cas.token_url("write"), *paths)
    reported = {Path(p).name: r for p, r in zip(paths, results, strict=True)}
    xorbs = {hex_to_hash(h): verify_xorb(body, h) for h, body in cas.rec.xorbs.items()}
    raw = {hex_to_hash(h): body for h, body in cas.rec.xorbs.items()}
    digests = {name: digest_bytes(data) for name, data in files.items()}
    yield Capture(files, reported, cas.rec, xorbs, raw, digests)


# -- (b) what hf_xet sends -----------------------------------------------------------------------------------


def test_hf_xet_talks_the_protocol_we_documented(capture: Capture) -> None:
    requests = capture.rec.requests
    token = [r for r in requests if "/xet-write-token/" in r.path]
    assert (
        token
        and token[0].method == "GET"
        and token[0].path == "/api/models/alice/xet-test/xet-write-token/main"
    )
    assert token[0].headers["authorization"] == "Bearer hf_recording_test_token"
    cas = [r for r in requests if r.path.startswith("/cas/")]
    assert cas and all(r.headers.get("authorization") == f"Bearer {ACCESS_TOKEN}" for r in cas)
    posts = {(r.method, r.path.rsplit("/", 1)[0]) for r in cas}
    assert ("POST", "/cas/v1/xorbs/default") in posts
    assert ("POST", "/cas/v2") in posts  # /cas/v2/shards
    # hf_xet 1.8 first asks for an upload grant (not in the spec) and falls back on 404
    grants = [r for r in cas if r.path.startswith("/cas/v1/xorb-grants/default/")]
    assert grants and all(r.status == 404 for r in grants)
    assert grants[0].json_body is not None and b'"length"' in grants[0].json_body
    # global dedup queries use the prefix "default" and chunk hashes in Xet hex
    queries = [r.path.rsplit("/", 1)[1] for r in cas if r.path.startswith("/cas/v1/chunks/default/")]
    first_chunks = {hash_to_hex(d.chunks[0][0]) for d in capture.digests.values() if d.size}
    assert queries and first_chunks <= set(queries)
    assert capture.rec.shard_paths == ["/cas/v2/shards"]


def test_every_captured_xorb_verifies(capture: Capture) -> None:
    assert len(capture.xorbs) >= 2  # 70 MiB cannot fit one xorb
    schemes = set()
    for h, info in capture.xorbs.items():
        assert info.footer is None  # hf_xet uploads xorbs without footer
        assert info.chunks_length == len(capture.raw_xorbs[h])
        assert len(info.chunks) <= 8192 and info.uncompressed_size <= 64 << 20
        schemes |= {c.scheme for c in info.chunks}
    assert schemes == {CompressionScheme.NONE, CompressionScheme.LZ4, CompressionScheme.BG4_LZ4}


def test_shards_validate_and_describe_the_files(capture: Capture) -> None:
    resolver = capture.resolver()
    for raw in capture.rec.shards:
        assert struct.unpack_from("<Q", raw, 40)[0] == 0  # no footer on upload
        shard = parse_shard(raw)
        assert shard.footer is None
        result = validate_shard(shard, resolver, require_sha256=True)
        assert result.unchecked_files == set()
        for x in shard.xorbs:  # the CAS section lists exactly the uploaded chunks
            assert x.chunk_list() == capture.xorbs[x.xorb_hash].chunk_list()
            assert x.num_bytes_on_disk == 0  # hf_xet 1.8 leaves it unset
    shard_files = capture.shard_files()
    for name, data in capture.files.items():
        ours = capture.digests[name]
        assert capture.reported[name]["hash"] == ours.hex, name
        info = shard_files[ours.file_hash]
        # same chunk boundaries and hashes: the file's segments walk exactly our chunk list
        walked = [ch for e in info.entries for ch in resolver[e.xorb_hash][e.chunk_start : e.chunk_end]]
        assert walked == list(ours.chunks), name
        assert info.size == len(data)
        if data:
            assert info.sha256_hex == hashlib.sha256(data).hexdigest() == capture.reported[name]["sha256"]
        else:  # hf_xet reports and stores an all-zero sha256 for the empty file
            assert info.sha256_hex == "0" * 64 and info.entries == ()
    # the repeated 1 MiB blocks were deduplicated: some chunks are referenced more than once
    repeated = shard_files[capture.digests["20m-repeated.bin"].file_hash]
    referenced = [(e.xorb_hash, i) for e in repeated.entries for i in range(e.chunk_start, e.chunk_end)]
    assert len(referenced) > len(set(referenced))


def test_files_rebuild_from_captured_xorbs(capture: Capture) -> None:
    shard_files = capture.shard_files()
    layouts = capture.layouts()
    rnd = random.Random(3)
    for name, data in capture.files.items():
        info = shard_files[capture.digests[name].file_hash]
        assert reconstruct_bytes(info.entries, capture.raw_xorbs, layouts) == data, name
        if 1 < len(data) <= 20 << 20:
            for _ in range(5):
                a, b = sorted(rnd.sample(range(len(data)), 2))
                assert reconstruct_bytes(info.entries, capture.raw_xorbs, layouts, (a, b)) == data[a : b + 1]
    big = shard_files[capture.digests["70m.bin"].file_hash]
    assert len({e.xorb_hash for e in big.entries}) >= 2  # a file spanning xorbs
    seam = big.entries[0].unpacked_segment_bytes  # where the first xorb's part ends
    data = capture.files["70m.bin"]
    for a, b in ((seam - 10, seam + 10), (seam, seam), (len(data) - 100, len(data) - 1)):
        assert reconstruct_bytes(big.entries, capture.raw_xorbs, layouts, (a, b)) == data[a : b + 1]


# -- (c) damaged captured data -------------------------------------------------------------------------------


def _chunk_of(capture: Capture, scheme: CompressionScheme) -> tuple[bytes, bytes, int, ChunkHeader]:
    for h, info in capture.xorbs.items():
        for c in info.chunks:
            if c.scheme == scheme:
                body = capture.raw_xorbs[h]
                return h, body, c.offset, ChunkHeader.parse(body[c.offset : c.offset + 8])
    raise AssertionError(f"no {scheme.label} chunk captured")


def test_flipped_byte_in_a_captured_chunk(capture: Capture) -> None:
    for scheme in (CompressionScheme.NONE, CompressionScheme.LZ4, CompressionScheme.BG4_LZ4):
        h, body, offset, header = _chunk_of(capture, scheme)
        bad = bytearray(body)
        bad[offset + 8 + header.compressed_size // 2] ^= 0x20
        expected = (
            (XorbHashMismatchError,)
            if scheme == CompressionScheme.NONE
            else (
                XorbHashMismatchError,
                XorbDecompressionError,
            )
        )
        with pytest.raises(expected):
            verify_xorb(bytes(bad), h)


def test_truncated_lz4_in_a_captured_xorb(capture: Capture) -> None:
    h, body, offset, header = _chunk_of(capture, CompressionScheme.LZ4)
    cut = header.compressed_size - 3
    patched = ChunkHeader(cut, header.scheme, header.uncompressed_size).to_bytes()
    bad = (
        body[:offset]
        + patched
        + body[offset + 8 : offset + 8 + cut]
        + body[offset + 8 + header.compressed_size :]
    )
    with pytest.raises(XorbDecompressionError):
        verify_xorb(bad, h)
    with pytest.raises(XorbTruncatedError):
        verify_xorb(body[: offset + 8 + cut], h)


def test_captured_xorb_under_the_wrong_hash(capture: Capture) -> None:
    (h1, body1), (h2, _) = list(capture.raw_xorbs.items())[:2]
    with pytest.raises(XorbHashMismatchError, match=hash_to_hex(h2)):
        verify_xorb(body1, h2)
    verify_xorb(body1, h1)


def test_captured_shard_with_unknown_xorb_or_bad_terms(capture: Capture) -> None:
    raw = capture.rec.shards[0]
    shard = parse_shard(raw)
    resolver = capture.resolver()
    missing = next(iter(resolver))
    partial = {h: v for h, v in resolver.items() if h != missing}
    with pytest.raises(ShardUnknownXorbError, match=hash_to_hex(missing)):
        validate_shard(shard, partial)
    victim = max(shard.files, key=lambda f: f.size)
    e = victim.entries[0]
    beyond = dataclasses.replace(e, chunk_end=len(resolver[e.xorb_hash]) + 1)
    bad = dataclasses.replace(victim, entries=(beyond, *victim.entries[1:]))
    files = [bad if f is victim else f for f in shard.files]
    with pytest.raises(ShardChunkRangeError):
        validate_shard(parse_shard(build_shard(files, shard.xorbs)), resolver)
    assert victim.verification is not None
    swapped = dataclasses.replace(victim, verification=tuple(reversed(victim.verification)))
    files = [swapped if f is victim else f for f in shard.files]
    assert len(victim.entries) > 1
    with pytest.raises(ShardVerificationError):
        validate_shard(parse_shard(build_shard(files, shard.xorbs)), resolver)


def test_captured_shard_with_broken_framing(capture: Capture) -> None:
    raw = capture.rec.shards[0]
    with pytest.raises(ShardTruncatedError):
        parse_shard(raw[:-48])  # the CAS bookend is gone
    shard = parse_shard(raw)
    with_footer = build_shard(shard.files, shard.xorbs, with_footer=True)
    assert parse_shard(with_footer).files == parse_shard(raw).files
    footer_at = len(with_footer) - 200
    bad = bytearray(with_footer)
    struct.pack_into("<Q", bad, footer_at + 16, 48)  # cas_info_offset pointing at the file section
    with pytest.raises(ShardFooterError, match="cas_info_offset"):
        parse_shard(bytes(bad))


# -- (d) hf_xet reads what we serve --------------------------------------------------------------------------


@pytest.mark.parametrize("versions", [(1, 2), (1,)], ids=["v2", "v1-fallback"])
def test_hf_xet_downloads_captured_files_through_our_plans(
    capture: Capture, tmp_path: Path, versions: tuple[int, ...]
) -> None:
    names = ["100k.bin", "20m-repeated.bin", "weights.f32", "config.txt"]
    with RecordingCas(reconstruction_versions=versions) as cas:
        cas.rec.xorbs.update(capture.rec.xorbs)
        cas.rec.shards.extend(capture.rec.shards)
        for name in names:
            data = capture.files[name]
            dest = tmp_path / f"out-{name}"
            file_id = capture.digests[name].hex
            run_hf_xet(tmp_path, "download", cas.token_url("read"), file_id, str(len(data)), str(dest))
            assert dest.read_bytes() == data, name
        paths = cas.rec.paths("GET")
    used = "/cas/v2/reconstructions/" if versions == (1, 2) else "/cas/v1/reconstructions/"
    assert sum(p.startswith(used) for p in paths) == len(names)
    assert any(p.startswith("/cas/xorb-data/") for p in paths)


def test_hf_xet_downloads_what_our_packer_built(tmp_path: Path) -> None:
    rnd = random.Random(12)
    block = rnd.randbytes(1 << 20)
    data = {
        "mixed": np.random.default_rng(1).standard_normal(300_000).astype(np.float32).tobytes()
        + rnd.randbytes(500_000)
        + b"token " * 100_000,
        "repeats": block + rnd.randbytes(300_000) + block + block,
    }
    packer = XetPacker(max_xorb_bytes=1 << 20)
    digests = {name: packer.add_bytes(d) for name, d in data.items()}
    packed = packer.finish()
    assert {c.scheme for x in packed.xorbs for c in x.info.chunks} >= {
        CompressionScheme.LZ4,
        CompressionScheme.BG4_LZ4,
    }
    with RecordingCas() as cas:
        for x in packed.xorbs:
            cas.rec.xorbs[x.info.hex] = x.data
        cas.rec.shards.append(packed.shard)
        for name, d in data.items():
            dest = tmp_path / name
            run_hf_xet(tmp_path, "download", cas.token_url("read"), digests[name].hex, str(len(d)), str(dest))
            assert dest.read_bytes() == d, name


def test_hf_xet_deduplicates_against_our_global_dedup_answer(tmp_path: Path) -> None:
    # hf_xet uploads A; we answer later dedup queries with an HMAC-protected shard built from A's shard;
    # hf_xet then uploads B = A + more and must reference A's xorb instead of uploading A's chunks again.
    rnd = random.Random(4)
    a = rnd.randbytes(3_000_000)
    b = a + rnd.randbytes(1_000_000)
    (tmp_path / "a.bin").write_bytes(a)
    (tmp_path / "b.bin").write_bytes(b)
    key = bytes(range(1, 33))
    with RecordingCas() as cas:
        run_hf_xet(tmp_path / "first", "upload", cas.token_url(), str(tmp_path / "a.bin"))
        first = parse_shard(cas.rec.shards[0])
        answer = build_dedup_shard(first.xorbs, hmac_key=key, creation_timestamp=1, key_expiry=2**40)
        assert parse_shard(answer).hmac_key == key
        for x in first.xorbs:
            for c in x.chunks:
                cas.rec.dedup_answers[hash_to_hex(c.chunk_hash)] = answer
        before = set(cas.rec.xorbs)
        run_hf_xet(tmp_path / "second", "upload", cas.token_url(), str(tmp_path / "b.bin"))
        second = parse_shard(cas.rec.shards[1])
        served = [
            r for r in cas.rec.requests if r.path.startswith("/cas/v1/chunks/default/") and r.status == 200
        ]
        new = {hex_to_hash(h): cas.rec.xorbs[h] for h in set(cas.rec.xorbs) - before}
        old = {hex_to_hash(h): cas.rec.xorbs[h] for h in before}
    assert served, "hf_xet never asked for the dedup answer"
    (old_hash,) = old
    info = second.files[0]
    assert info.entries[0].xorb_hash == old_hash and info.entries[0].chunk_end > 40
    assert sum(len(read_xorb(x).chunks) for x in new.values()) < 25  # only the new ~1 MB was uploaded
    known = {h: read_xorb(x).chunk_list() for h, x in {**old, **new}.items()}
    validate_shard(second, known, require_sha256=True)
    layouts = {h: XorbLayout.from_xorb_info(read_xorb(x)) for h, x in {**old, **new}.items()}
    assert reconstruct_bytes(info.entries, {**old, **new}, layouts) == b


def test_hf_xet_falls_back_to_v1_shards(tmp_path: Path) -> None:
    data = random.Random(6).randbytes(300_000)
    (tmp_path / "f.bin").write_bytes(data)
    with RecordingCas(support_v2_shards=False) as cas:
        run_hf_xet(tmp_path, "upload", cas.token_url(), str(tmp_path / "f.bin"))
        shard_posts = [(r.path, r.status) for r in cas.rec.requests if r.path.endswith("/shards")]
        shards = list(cas.rec.shards)
    assert shard_posts == [("/cas/v2/shards", 404), ("/cas/v1/shards", 200)]
    assert parse_shard(shards[-1]).files[0].file_hash == digest_bytes(data).file_hash
