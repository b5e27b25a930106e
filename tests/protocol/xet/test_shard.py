"""Shard building, parsing and validation on shards made by our packer (hf_xet's shards: test_hf_xet.py)."""

import dataclasses
import hashlib
import random
import struct

import pytest

from openmodelhub.protocol.xet import (
    ZERO_HASH,
    CasInfo,
    FileInfo,
    ShardCasInfoError,
    ShardChunkRangeError,
    ShardFileInfoError,
    ShardFooterError,
    ShardFormatError,
    ShardHeaderError,
    ShardTruncatedError,
    ShardUnknownXorbError,
    ShardVerificationError,
    XetPacker,
    build_dedup_shard,
    build_shard,
    chunk_bytes,
    hash_to_hex,
    hmac_chunk_hash,
    parse_shard,
    sha256_field,
    validate_shard,
)
from openmodelhub.protocol.xet.shard import SHARD_FOOTER_SIZE, SHARD_HEADER_TAG

RND = random.Random(3)
BLOCK = RND.randbytes(400_000)
FILES = [RND.randbytes(300_000), BLOCK + RND.randbytes(200_000) + BLOCK, b"tiny", b""]


@pytest.fixture(scope="module")
def packed():  # type: ignore[no-untyped-def]
    packer = XetPacker(max_xorb_bytes=500_000)  # small xorbs: files span several
    for data in FILES:
        packer.add_bytes(data)
    return packer.finish()


def resolver(packed):  # type: ignore[no-untyped-def]
    return {x.hash: x.info.chunk_list() for x in packed.xorbs}


def test_upload_shard_has_no_footer_and_parses(packed) -> None:  # type: ignore[no-untyped-def]
    raw = packed.shard
    assert raw[:32] == SHARD_HEADER_TAG and struct.unpack_from("<QQ", raw, 32) == (2, 0)
    shard = parse_shard(raw)
    assert shard.footer is None
    assert len(shard.files) == 4 and len(shard.xorbs) == len(packed.xorbs) >= 3
    result = validate_shard(shard, resolver(packed), require_sha256=True)
    assert result.unchecked_files == set() and result.external_xorbs == set()
    assert sorted(result.file_sizes.values()) == sorted(len(f) for f in FILES)
    by_hash = {f.file_hash: f for f in shard.files}
    for digest, data in zip(packed.digests, FILES, strict=True):
        info = by_hash[digest.file_hash]
        assert info.sha256_hex == hashlib.sha256(data).hexdigest()
        assert info.sha256 == sha256_field(hashlib.sha256(data).digest())
    # the repeated block is stored once: the second file has more segments than xorbs it touches
    assert any(len(f.entries) > len({e.xorb_hash for e in f.entries}) for f in shard.files)


def test_footer_round_trip_with_lookup_tables(packed) -> None:  # type: ignore[no-untyped-def]
    shard = parse_shard(packed.shard)
    raw = build_shard(shard.files, shard.xorbs, with_footer=True, creation_timestamp=1_700_000_000)
    assert struct.unpack_from("<Q", raw, 40)[0] == SHARD_FOOTER_SIZE
    again = parse_shard(raw)
    assert again.files == tuple(dataclasses.replace(f, flags=f.flags) for f in shard.files)
    assert again.xorbs == shard.xorbs
    footer = again.footer
    assert footer is not None and footer.footer_offset == len(raw) - SHARD_FOOTER_SIZE
    assert footer.file_lookup_count == 4 and footer.chunk_lookup_count == sum(
        len(x.chunks) for x in shard.xorbs
    )
    assert footer.materialized_bytes == sum(len(f) for f in FILES)
    assert footer.creation_timestamp == 1_700_000_000
    assert again.hmac_key is None


def test_hmac_protected_shard_only_gets_structural_checks(packed) -> None:  # type: ignore[no-untyped-def]
    shard = parse_shard(packed.shard)
    key = bytes(range(32))
    protected = [
        dataclasses.replace(
            x,
            chunks=tuple(
                dataclasses.replace(c, chunk_hash=hmac_chunk_hash(c.chunk_hash, key)) for c in x.chunks
            ),
        )
        for x in shard.xorbs
    ]
    parsed = parse_shard(build_shard([], protected, with_footer=True, hmac_key=key))
    assert parsed.hmac_key == key and parsed.files == ()
    validate_shard(parsed)


def _rebuild(packed, **changes) -> bytes:  # type: ignore[no-untyped-def]
    shard = parse_shard(packed.shard)
    files = list(changes.get("files", shard.files))
    xorbs = list(changes.get("xorbs", shard.xorbs))
    return build_shard(files, xorbs)


def _big_file(packed) -> FileInfo:  # type: ignore[no-untyped-def]
    return max(parse_shard(packed.shard).files, key=lambda f: f.size)


def _replace_file(packed, new: FileInfo) -> list[FileInfo]:  # type: ignore[no-untyped-def]
    return [new if f.file_hash == new.file_hash else f for f in parse_shard(packed.shard).files]


def test_unknown_xorb(packed) -> None:  # type: ignore[no-untyped-def]
    shard = parse_shard(packed.shard)
    known = resolver(packed)
    dropped = shard.xorbs[0].xorb_hash
    del known[dropped]
    with pytest.raises(ShardUnknownXorbError, match=hash_to_hex(dropped)):
        validate_shard(shard, known)
    # a shard that lists no xorbs and references one the server lacks
    files_only = parse_shard(build_shard(shard.files, []))
    with pytest.raises(ShardUnknownXorbError, match="upload the xorb first"):
        validate_shard(files_only, known)
    # without a resolver, references outside the shard are reported, not guessed
    result = validate_shard(files_only)
    assert result.external_xorbs == {x.xorb_hash for x in shard.xorbs}
    assert result.unchecked_files == {f.file_hash for f in shard.files if f.entries}


def test_chunk_range_outside_xorb(packed) -> None:  # type: ignore[no-untyped-def]
    f = _big_file(packed)
    e = f.entries[-1]
    bad = dataclasses.replace(
        f, entries=(*f.entries[:-1], dataclasses.replace(e, chunk_end=e.chunk_end + 50))
    )
    with pytest.raises(ShardChunkRangeError, match="outside xorb"):
        validate_shard(parse_shard(_rebuild(packed, files=_replace_file(packed, bad))), resolver(packed))
    reversed_range = dataclasses.replace(e, chunk_start=e.chunk_end)
    bad = dataclasses.replace(f, entries=(reversed_range, *f.entries[1:]))
    with pytest.raises(ShardChunkRangeError, match="empty or reversed"):
        validate_shard(parse_shard(_rebuild(packed, files=_replace_file(packed, bad))), resolver(packed))


def test_wrong_segment_size_verification_and_file_hash(packed) -> None:  # type: ignore[no-untyped-def]
    f = _big_file(packed)
    e = f.entries[0]
    wrong_size = dataclasses.replace(
        f,
        entries=(dataclasses.replace(e, unpacked_segment_bytes=e.unpacked_segment_bytes + 1), *f.entries[1:]),
    )
    with pytest.raises(ShardVerificationError, match="declares"):
        validate_shard(
            parse_shard(_rebuild(packed, files=_replace_file(packed, wrong_size))), resolver(packed)
        )
    assert f.verification is not None
    wrong_verification = dataclasses.replace(f, verification=(b"\x01" * 32, *f.verification[1:]))
    with pytest.raises(ShardVerificationError, match="verification hash"):
        validate_shard(
            parse_shard(_rebuild(packed, files=_replace_file(packed, wrong_verification))), resolver(packed)
        )
    wrong_hash = dataclasses.replace(f, file_hash=b"\x02" * 32)
    files = [*parse_shard(packed.shard).files, wrong_hash]
    with pytest.raises(ShardVerificationError, match="file hash computed"):
        validate_shard(parse_shard(_rebuild(packed, files=files)), resolver(packed))


def test_verification_entries_all_or_none(packed) -> None:  # type: ignore[no-untyped-def]
    f = _big_file(packed)
    without = dataclasses.replace(f, verification=None, flags=None)
    shard = parse_shard(_rebuild(packed, files=_replace_file(packed, without)))
    with pytest.raises(ShardFileInfoError, match="some files"):
        validate_shard(shard, resolver(packed))
    only = parse_shard(build_shard([without], parse_shard(packed.shard).xorbs))
    with pytest.raises(ShardFileInfoError, match="verification entry"):
        validate_shard(only, resolver(packed))
    validate_shard(only, resolver(packed), require_verification=False)
    no_sha = dataclasses.replace(f, sha256=None, flags=None)
    with pytest.raises(ShardFileInfoError, match="sha256"):
        validate_shard(parse_shard(build_shard([no_sha], [])), resolver(packed), require_sha256=True)


def test_cas_info_inconsistencies(packed) -> None:  # type: ignore[no-untyped-def]
    shard = parse_shard(packed.shard)
    x = shard.xorbs[0]
    c1 = x.chunks[1]
    shifted = dataclasses.replace(
        x,
        chunks=(x.chunks[0], dataclasses.replace(c1, unpacked_offset=c1.unpacked_offset + 1), *x.chunks[2:]),
    )
    with pytest.raises(ShardCasInfoError, match="uncompressed offset"):
        validate_shard(parse_shard(build_shard([], [shifted])))
    wrong_total = dataclasses.replace(x, num_bytes_in_cas=x.num_bytes_in_cas + 1)
    with pytest.raises(ShardCasInfoError, match="declares"):
        validate_shard(parse_shard(build_shard([], [wrong_total])))
    other = shard.xorbs[1]
    fake = dataclasses.replace(x, chunks=other.chunks, num_bytes_in_cas=other.num_bytes_in_cas)
    with pytest.raises(ShardCasInfoError, match="do not hash"):
        validate_shard(parse_shard(build_shard([], [fake])))
    empty = CasInfo(x.xorb_hash, (), 0, 0)
    with pytest.raises(ShardCasInfoError, match="no chunks"):
        validate_shard(parse_shard(build_shard([], [empty])))


def test_files_without_segments() -> None:
    empty = FileInfo(ZERO_HASH, (), (), sha256_field(hashlib.sha256(b"").digest()))
    validate_shard(parse_shard(build_shard([empty], [])))
    not_empty = FileInfo(b"\x05" * 32, (), ())
    with pytest.raises(ShardFileInfoError, match="no segments"):
        validate_shard(parse_shard(build_shard([not_empty], [])))


# -- structural damage ---------------------------------------------------------------------------------------


def test_header_damage(packed) -> None:  # type: ignore[no-untyped-def]
    raw = packed.shard
    with pytest.raises(ShardHeaderError, match="tag"):
        parse_shard(b"X" + raw[1:])
    with pytest.raises(ShardHeaderError, match="version 3"):
        parse_shard(raw[:32] + struct.pack("<Q", 3) + raw[40:])
    with pytest.raises(ShardHeaderError, match="footer_size is 7"):
        parse_shard(raw[:40] + struct.pack("<Q", 7) + raw[48:])
    with pytest.raises(ShardTruncatedError):
        parse_shard(raw[:20])


def test_truncation_and_trailing_bytes(packed) -> None:  # type: ignore[no-untyped-def]
    raw = packed.shard
    for cut in (60, 48 + 48 * 3 + 5, len(raw) - 48, len(raw) - 1):
        with pytest.raises(ShardTruncatedError):
            parse_shard(raw[:cut])
    with pytest.raises(ShardFormatError, match="unexpected bytes"):
        parse_shard(raw + b"\x00" * 48)
    # a file header claiming far more entries than the shard holds
    lying = bytearray(raw)
    struct.pack_into("<I", lying, 48 + 36, 10_000_000)
    with pytest.raises(ShardTruncatedError, match="too short"):
        parse_shard(bytes(lying))


def test_footer_offset_damage(packed) -> None:  # type: ignore[no-untyped-def]
    shard = parse_shard(packed.shard)
    raw = build_shard(shard.files, shard.xorbs, with_footer=True)
    base = len(raw) - SHARD_FOOTER_SIZE
    fields = {
        "file_info_offset": 8,
        "cas_info_offset": 16,
        "file_lookup_offset": 24,
        "chunk_lookup_offset": 56,
    }
    for name, at in fields.items():
        bad = bytearray(raw)
        struct.pack_into("<Q", bad, base + at, struct.unpack_from("<Q", raw, base + at)[0] + 48)
        with pytest.raises(ShardFooterError, match=name):
            parse_shard(bytes(bad))
    bad = bytearray(raw)
    struct.pack_into("<Q", bad, base + 192, 12)
    with pytest.raises(ShardFooterError, match="footer_offset"):
        parse_shard(bytes(bad))
    bad = bytearray(raw)
    struct.pack_into("<Q", bad, base, 2)
    with pytest.raises(ShardFooterError, match="version 2"):
        parse_shard(bytes(bad))
    # a lookup entry pointing at the wrong file
    bad = bytearray(raw)
    file_lookup = struct.unpack_from("<Q", raw, base + 24)[0]
    struct.pack_into("<I", bad, file_lookup + 8, 1)
    with pytest.raises(ShardFooterError, match="file lookup"):
        parse_shard(bytes(bad))


def test_dedup_answer_shard(packed) -> None:  # type: ignore[no-untyped-def]
    shard = parse_shard(packed.shard)
    key = b"\x07" * 32
    answer = parse_shard(build_dedup_shard(shard.xorbs, hmac_key=key, key_expiry=1_900_000_000))
    assert answer.files == () and answer.hmac_key == key
    assert answer.footer is not None and answer.footer.key_expiry == 1_900_000_000
    for plain, protected in zip(shard.xorbs, answer.xorbs, strict=True):
        assert [hmac_chunk_hash(c.chunk_hash, key) for c in plain.chunks] == [
            c.chunk_hash for c in protected.chunks
        ]
    unprotected = parse_shard(build_dedup_shard(shard.xorbs))
    assert unprotected.hmac_key is None and unprotected.xorbs == tuple(
        sorted(shard.xorbs, key=lambda x: hash_to_hex(x.xorb_hash))
    )
    with pytest.raises(ValueError, match="HMAC key"):
        build_dedup_shard(shard.xorbs, hmac_key=ZERO_HASH)


def test_packer_limits_and_dedup_switch() -> None:
    data = RND.randbytes(200_000)
    packer = XetPacker(max_xorb_chunks=2, dedup=False)
    packer.add_bytes(data)
    packer.add_bytes(data)
    result = packer.finish()
    assert all(len(x.info.chunks) <= 2 for x in result.xorbs)
    assert sum(len(x.info.chunks) for x in result.xorbs) == 2 * len(chunk_bytes(data))
    assert len(parse_shard(result.shard).files) == 1  # same content, one file entry
    stored = []
    streaming = XetPacker(on_xorb=stored.append, max_xorb_bytes=100_000)
    streaming.add_bytes(data)
    assert streaming.finish().xorbs == [] and len(stored) >= 2


def test_listed_xorb_must_match_what_the_server_stored(packed) -> None:  # type: ignore[no-untyped-def]
    shard = parse_shard(packed.shard)
    known = resolver(packed)
    a, b = shard.xorbs[0].xorb_hash, shard.xorbs[1].xorb_hash
    known[a] = known[b]  # the server's record of xorb a disagrees with the shard's listing
    with pytest.raises(ShardCasInfoError, match="differs from the uploaded xorb"):
        validate_shard(shard, known)
