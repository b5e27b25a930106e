"""Xet storage (services/xet.py, services/content.py) without HTTP: on SQLite with the local blob store, and
on PostgreSQL with the S3 store (a moto server), so xorbs are ordinary blobs of either backend."""

import hashlib
import io
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from openmodelhub.db.models import XetFile, XetXorb
from openmodelhub.protocol.names import RepoType
from openmodelhub.protocol.xet import (
    XetPacker,
    build_shard,
    build_xorb,
    chunk_bytes,
    digest_bytes,
    hash_to_hex,
    parse_shard,
    sha256_field,
)
from openmodelhub.protocol.xet.shard import FileInfo
from openmodelhub.services.auth import Principal
from openmodelhub.services.container import Services
from openmodelhub.services.errors import BadRequest, Forbidden, XetDataInvalid, XetTokenInvalid
from openmodelhub.services.xet import XetToken
from openmodelhub.settings import Settings


@contextmanager
def _postgres() -> Iterator[str]:
    from tests.support import stack

    yield stack.create_database("omh_xet")


@contextmanager
def _none() -> Iterator[None]:
    yield None


BACKENDS = {"sqlite-local": (_none, False), "postgresql-s3": (_postgres, True)}


@pytest.fixture(params=sorted(BACKENDS))
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    database, s3 = BACKENDS[request.param]
    ctx: AbstractContextManager[str | None] = database()
    with ctx as url:
        options: dict[str, object] = {"data_dir": tmp_path / "hub", "database_url": url}
        if s3:
            from tests.support.moto import s3_settings

            options.update(s3_settings(request.getfixturevalue("moto_endpoint")))
        services = Services.open(Settings(**options), migrate=True)  # type: ignore[arg-type]
        try:
            yield services
        finally:
            services.close()


def _token(svc: Services, scope: str = "write") -> XetToken:
    user = svc.auth.ensure_user("alice")
    who = Principal(
        user_id=user.id, name="alice", is_admin=False, role="write", token_name="t", token_created_at=""
    )
    repo = svc.repos.find(RepoType.MODEL, "alice/xet") or svc.repos.create(who, RepoType.MODEL, "xet")
    return svc.xet.issue_token(repo, scope, svc.repos.resolve(repo, "main") if scope == "read" else "main")


def _data(size: int, seed: int = 1) -> bytes:
    # Compressible and incompressible stretches, so chunks use LZ4 and raw storage.
    rnd = random.Random(seed)
    parts = []
    while sum(map(len, parts)) < size:
        parts.append(rnd.randbytes(70_000) if rnd.random() < 0.5 else bytes([rnd.randrange(4)]) * 50_000)
    return b"".join(parts)[:size]


def _upload_xorb(svc: Services, token: XetToken, data: bytes, xorb_hash: bytes, piece: int = 7777) -> bool:
    up = svc.xet.start_xorb_upload(token, hash_to_hex(xorb_hash), len(data))
    try:
        for i in range(0, len(data), piece):
            up.write(data[i : i + piece])
        return up.finish()
    except BaseException:
        up.abort()
        raise


def _counts(svc: Services) -> tuple[int, int, int]:
    with svc.hub.read() as s:
        xorbs = s.scalar(select(func.count()).select_from(XetXorb))
        files = s.scalar(select(func.count()).select_from(XetFile))
    return xorbs or 0, files or 0, len(list(svc.hub.blobs.iter_keys()))


def _pack(*contents: bytes, max_xorb_bytes: int = 1 << 20) -> tuple[list, bytes]:
    packer = XetPacker(compression="lz4", max_xorb_bytes=max_xorb_bytes)
    for c in contents:
        packer.add_bytes(c)
    result = packer.finish()
    return result.xorbs, result.shard


def test_upload_reconstruct_and_read_any_range(svc: Services) -> None:
    token = _token(svc)
    data = _data(3_300_000)
    xorbs, shard = _pack(data)
    assert len(xorbs) >= 3
    for x in xorbs:
        assert _upload_xorb(svc, token, x.data, x.hash) is True
    assert _upload_xorb(svc, token, xorbs[0].data, xorbs[0].hash) is False  # stored already: counted, kept
    assert svc.xet.upload_shard(token, shard) == 1
    sha = hashlib.sha256(data).hexdigest()

    info = svc.content.info(sha)
    assert info is not None and info.size == len(data)
    assert info.git_sha1 == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert not svc.hub.blobs.exists(sha)  # stored only as xorbs
    f = svc.content.xet_file(sha)
    assert f is not None and f.file_hash == digest_bytes(data).hex
    assert b"".join(svc.xet.store.iter_bytes(f)) == data
    rnd = random.Random(5)
    for _ in range(25):
        a = rnd.randrange(len(data))
        b = min(len(data) - 1, a + rnd.randrange(300_000))
        assert b"".join(svc.content.iter_range(sha, a, b - a + 1)) == data[a : b + 1]
    with svc.content.open(sha) as reader:
        reader.seek(1_000_003)
        assert reader.read(10) == data[1_000_003:1_000_013]
        reader.seek(-5, io.SEEK_END)
        assert reader.read() == data[-5:]
    assert svc.content.read_all(sha, len(data)) == data
    with pytest.raises(ValueError):
        svc.content.read_all(sha, 10)

    stats = svc.xet.storage_stats()
    assert stats.xorbs == len(xorbs)
    assert stats.xorb_bytes == sum(len(x.data) for x in xorbs)
    assert stats.redundant_xorb_uploads == 1


def test_invalid_xorbs_store_nothing(svc: Services) -> None:
    token = _token(svc)
    before = _counts(svc)
    good = build_xorb(chunk_bytes(_data(400_000, seed=2)), compression="lz4")
    other = build_xorb(chunk_bytes(_data(300_000, seed=3)), compression="lz4")
    with pytest.raises(XetDataInvalid, match="xorb hash computed"):
        _upload_xorb(svc, token, good.data, other.hash)
    # Corrupt LZ4: a byte inside the first compressed chunk's frame, sizes left alone.
    first = good.info.chunks[0]
    assert first.scheme != 0
    broken = bytearray(good.data)
    broken[first.offset + 8 + first.packed_size // 2] ^= 0xFF
    with pytest.raises(XetDataInvalid):
        _upload_xorb(svc, token, bytes(broken), good.hash)
    # Truncated: the last chunk is cut short (the body is exactly as long as announced).
    with pytest.raises(XetDataInvalid, match=r"truncated|present"):
        _upload_xorb(svc, token, good.data[:-100], good.hash)
    # More bytes than the Content-Length announced: refused at once, and the verifier thread ends.
    up = svc.xet.start_xorb_upload(token, good.info.hex, 100)
    with pytest.raises(BadRequest, match="longer than its Content-Length"):
        up.write(good.data[:200])
    up.abort()
    assert up._thread is not None
    up._thread.join(timeout=10)
    assert not up._thread.is_alive()
    assert _counts(svc) == before


def test_invalid_shards_store_nothing(svc: Services) -> None:
    token = _token(svc)
    data = _data(900_000, seed=4)
    xorbs, shard = _pack(data)
    # Xorbs must come first: a shard naming xorbs the hub does not have is refused.
    with pytest.raises(XetDataInvalid, match=r"does not have|not stored|neither"):
        svc.xet.upload_shard(token, shard)
    for x in xorbs:
        _upload_xorb(svc, token, x.data, x.hash)
    # A shard whose file claims another sha256 than its bytes have.
    parsed = parse_shard(shard)
    f = parsed.files[0]
    lie = FileInfo(f.file_hash, f.entries, f.verification, sha256_field(hashlib.sha256(b"other").digest()))
    with pytest.raises(XetDataInvalid, match="reconstruct to sha256"):
        svc.xet.upload_shard(token, build_shard([lie], list(parsed.xorbs)))
    with pytest.raises(XetDataInvalid):
        svc.xet.upload_shard(token, shard[:-10])
    assert _counts(svc)[1] == 0
    assert svc.content.info(hashlib.sha256(data).hexdigest()) is None


def test_tokens_are_signed_scoped_and_expire(svc: Services) -> None:
    write = _token(svc)
    read = _token(svc, "read")
    header = f"Bearer {svc.xet.encode_token(write)}"
    assert svc.xet.check_token(header, "write") == write
    with pytest.raises(Forbidden):
        svc.xet.check_token(header, "read")
    with pytest.raises(Forbidden):
        svc.xet.check_token(f"Bearer {svc.xet.encode_token(read)}", "write")
    with pytest.raises(XetTokenInvalid, match="expired"):
        svc.xet.check_token(header, "write", now=write.exp + 1)
    forged = svc.xet.encode_token(
        XetToken(write.repo_id, "model", "alice/xet", "write", "main", write.exp + 99)
    )
    tampered = forged.split(".")[0] + "." + header.split(".")[1]
    with pytest.raises(XetTokenInvalid, match="signature"):
        svc.xet.check_token(f"Bearer {tampered}", "write")
    for bad in (None, "Bearer hf_abc", "Basic x"):
        with pytest.raises(XetTokenInvalid):
            svc.xet.check_token(bad, "write")
    assert write.exp - time.time() <= svc.hub.settings.xet_token_ttl_seconds + 1


def test_dedup_answers_list_the_uploaded_xorbs_under_an_hmac_key(svc: Services) -> None:
    token = _token(svc)
    data = _data(2_500_000, seed=6)
    xorbs, shard = _pack(data)
    for x in xorbs:
        _upload_xorb(svc, token, x.data, x.hash)
    svc.xet.upload_shard(token, shard)
    first_chunk = xorbs[0].info.chunks[0].hash
    answer = svc.xet.dedup_shard(token, hash_to_hex(first_chunk))
    assert answer is not None
    parsed = parse_shard(answer)
    assert parsed.hmac_key is not None
    assert {x.xorb_hash for x in parsed.xorbs} == {x.hash for x in xorbs}
    listed = {c.chunk_hash for x in parsed.xorbs for c in x.chunks}
    assert first_chunk not in listed  # only HMAC'd hashes: no chunk hash is revealed
    assert svc.xet.dedup_shard(token, "0" * 64) is None


def test_blob_content_is_indexed_into_xorbs(svc: Services) -> None:
    token = _token(svc)
    data = _data(2_000_000, seed=7) + os.urandom(1000)
    blob = svc.hub.blobs.put_bytes(data)
    from openmodelhub.services.repos import ensure_blob_rows

    with svc.hub.write.begin() as s:
        ensure_blob_rows(s, blob.sha256, blob.size, blob.git_sha1, [])
    f = svc.xet.store.index_blob(blob.sha256, token.repo_id)
    assert f is not None and f.file_hash == digest_bytes(data).hex
    assert svc.xet.store.index_blob(blob.sha256, token.repo_id) is None  # idempotent
    assert b"".join(svc.xet.store.iter_bytes(f)) == data
    stats = svc.xet.storage_stats()
    assert stats.both_files == 1 and blob.sha256 in stats.both_paths


def test_concurrent_indexing_of_the_same_content_chunks_it_once(svc: Services) -> None:
    """Two jobs for the same content (two commits of one file) take turns: one chunks, the other finds it
    indexed and returns at once, so the content is never chunked twice at the same time."""
    token = _token(svc)
    data = _data(3_000_000, seed=11)
    blob = svc.hub.blobs.put_bytes(data)
    from openmodelhub.services.repos import ensure_blob_rows

    with svc.hub.write.begin() as s:
        ensure_blob_rows(s, blob.sha256, blob.size, blob.git_sha1, [])
    before = _counts(svc)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(svc.xet.store.index_blob(blob.sha256, token.repo_id)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 3
    assert sum(r is not None for r in results) == 1, results  # exactly one of them chunked the content
    with svc.hub.read() as s:
        assert s.scalar(select(func.count()).select_from(XetFile).where(XetFile.sha256 == blob.sha256)) == 1
    after = _counts(svc)
    assert after[0] > before[0]  # xorbs were stored (once: a second chunking would not add rows either)
