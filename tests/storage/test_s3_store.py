"""S3BlobStore beyond the shared contract (test_blobstore_contract.py runs that over S3 too): multipart
writes, server-side copies, ranged reads, direct (presigned) uploads, key prefixes, settings, and a store
that is down.

Everything runs against a moto server in server mode, over HTTP, as against any S3-compatible store.
"""

import hashlib
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from openmodelhub.protocol.digests import git_blob_sha1
from openmodelhub.storage import (
    BlobInfo,
    BlobStoreUnavailable,
    ChecksumError,
    LocalBlobStore,
    make_blob_store,
)
from openmodelhub.storage.s3 import MIN_PART, S3BlobStore
from tests.support.moto import client, make_s3_store, new_bucket, own_moto

BIG = 12 * 1024 * 1024 + 12345  # three parts of 5 MiB (the last one short)


@pytest.fixture
def store(tmp_path: Path, moto_endpoint: str) -> S3BlobStore:
    return make_s3_store(tmp_path, moto_endpoint)


@pytest.fixture(scope="module")
def big() -> bytes:
    return os.urandom(BIG)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _keys(store: S3BlobStore) -> list[str]:
    answer = client(store.endpoint_url or "").list_objects_v2(Bucket=store.bucket)
    return sorted(o["Key"] for o in answer.get("Contents", []))


def _write(store: S3BlobStore, data: bytes, announced: int | None = None, chunk: int = 1 << 20) -> object:
    w = store.writer(len(data) if announced is None else announced)
    for i in range(0, len(data), chunk):
        w.write(data[i : i + chunk])
    return w


# -- multipart writes ----------------------------------------------------------------------------------------


def test_large_write_goes_through_a_staged_multipart_upload(store: S3BlobStore, big: bytes) -> None:
    w = store.writer(len(big))
    for i in range(0, len(big), 1 << 20):
        w.write(big[i : i + (1 << 20)])
    # Two full parts are sent while writing; nothing is visible under a blob key yet.
    assert [k.endswith("(upload)") for k in store.staged()] == [True]
    assert list(store.iter_keys()) == []
    info = w.commit(_sha256(big))
    w.abort()

    assert info == BlobInfo(_sha256(big), len(big), git_blob_sha1(big))
    assert store.staged() == []
    assert _keys(store) == [f"blobs/sha256/{info.sha256[:2]}/{info.sha256[2:4]}/{info.sha256}"]
    assert store.size(info.sha256) == len(big)
    assert store.read_all(info.sha256, len(big)) == big


def test_an_object_of_exactly_one_part_is_a_single_put(store: S3BlobStore) -> None:
    data = os.urandom(MIN_PART)
    w = _write(store, data)
    assert store.staged() == []  # no multipart upload was started
    info = w.commit()  # type: ignore[attr-defined]
    assert store.read_all(info.sha256, len(data)) == data
    assert store.staged() == []


@pytest.mark.parametrize("case", ["wrong-sha256", "short", "long"])
def test_a_bad_large_write_publishes_nothing_and_leaves_no_staging(
    store: S3BlobStore, big: bytes, case: str
) -> None:
    announced = {"wrong-sha256": len(big), "short": len(big) + 1, "long": len(big) - 1}[case]
    w = store.writer(announced)
    with pytest.raises(ChecksumError) as err:
        for i in range(0, len(big), 1 << 20):
            w.write(big[i : i + (1 << 20)])
        w.commit(_sha256(b"something else") if case == "wrong-sha256" else None)
    w.abort()
    assert err.value.kind == ("checksum" if case == "wrong-sha256" else "size")
    assert not store.exists(_sha256(big))
    assert list(store.iter_keys()) == []
    assert store.staged() == []
    assert _keys(store) == []


def test_objects_over_the_single_copy_limit_are_copied_in_parts(tmp_path: Path, moto_endpoint: str) -> None:
    # The real limit is 5 GB; lowered so that the UploadPartCopy path runs on a 12 MiB object.
    store = make_s3_store(tmp_path, moto_endpoint, max_single_copy=6 * 1024 * 1024, copy_part_size=MIN_PART)
    data = os.urandom(BIG)
    info = store.put_stream(io.BytesIO(data), len(data), _sha256(data))
    assert store.read_all(info.sha256, len(data)) == data
    assert store.staged() == []
    # A second write of the same bytes renews the stored object instead of copying it again.
    again = store.put_stream(io.BytesIO(data), len(data), _sha256(data))
    assert again == info
    assert store.staged() == []
    assert list(store.iter_keys()) == [info.sha256]


def test_part_size_below_the_s3_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        S3BlobStore("bucket", endpoint_url="http://127.0.0.1:9", part_size=MIN_PART - 1)


# -- reading -------------------------------------------------------------------------------------------------


def test_ranged_reads(store: S3BlobStore, big: bytes) -> None:
    info = store.put_bytes(big)
    with store.open(info.sha256) as f:
        assert f.seekable()
        for offset, n in [(0, 10), (5 * 1024 * 1024 - 3, 7), (BIG - 5, 100), (1, 0), (3_000_000, 4_000_000)]:
            f.seek(offset)
            assert f.read(n) == big[offset : offset + n]
            assert f.tell() == min(BIG, offset + n)
        f.seek(-3, io.SEEK_END)
        assert f.read() == big[-3:]
        f.seek(BIG + 10)
        assert f.read(5) == b""
        # small sequential reads across the reader's growing ranges
        f.seek(100)
        got = b"".join(f.read(70_000) for _ in range(100))
        assert got == big[100 : 100 + 7_000_000]
        f.seek(0)
        assert hashlib.sha256(f.read()).hexdigest() == info.sha256

    assert b"".join(store.iter_range(info.sha256, 0, BIG)) == big
    assert b"".join(store.iter_range(info.sha256, 1000, 10, chunk=3)) == big[1000:1010]
    assert [len(c) for c in store.iter_range(info.sha256, 7, 10, chunk=4)] == [4, 4, 2]
    assert list(store.iter_range(info.sha256, 7, 0)) == []
    with pytest.raises(FileNotFoundError):
        next(store.iter_range(_sha256(b"missing"), 0, 1))


def test_iter_objects_reports_size_and_time(store: S3BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    a, b = store.put_bytes(b"a"), store.put_bytes(b"bb")
    client(store.endpoint_url or "").put_object(Bucket=store.bucket, Key="blobs/sha256/zz/stray", Body=b"x")
    objects = {sha: (size, when) for sha, size, when in store.iter_objects()}
    assert {sha: size for sha, (size, _) in objects.items()} == {a.sha256: 1, b.sha256: 2}
    for _, when in objects.values():
        assert when.tzinfo is not None and when.utcoffset() == timedelta(0)
        assert before <= when <= datetime.now(UTC) + timedelta(minutes=5)


def test_presigned_get_url_serves_the_bytes_with_a_file_name(store: S3BlobStore) -> None:
    info = store.put_bytes(b"presigned content")
    url = store.presigned_get_url(info.sha256, filename="ünïcode name.bin", ttl=60)
    assert url is not None and url.startswith(store.endpoint_url or "")
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200 and r.content == b"presigned content"
    assert "filename*=UTF-8''%C3%BCn%C3%AFcode%20name.bin" in r.headers["content-disposition"]
    r = httpx.get(url, headers={"Range": "bytes=3-5"}, timeout=30)
    assert r.status_code == 206 and r.content == b"sig"


# -- key prefix and settings ---------------------------------------------------------------------------------


def test_stores_with_different_prefixes_share_a_bucket(tmp_path: Path, moto_endpoint: str) -> None:
    bucket = new_bucket(moto_endpoint)
    settings = SimpleNamespace(
        blob_store="s3",
        s3_endpoint_url=moto_endpoint,
        s3_bucket=bucket,
        s3_region="us-east-1",
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
        s3_part_size=MIN_PART,
        blob_dir=tmp_path / "unused",
        tmp_dir=tmp_path,
    )
    one = make_blob_store(SimpleNamespace(**{**vars(settings), "s3_prefix": "hub1"}))  # type: ignore[arg-type]
    two = make_blob_store(SimpleNamespace(**{**vars(settings), "s3_prefix": "hub2/"}))  # type: ignore[arg-type]
    assert isinstance(one, S3BlobStore) and one.prefix == "hub1/"
    info = one.put_bytes(b"only in hub1")
    assert one.exists(info.sha256) and not two.exists(info.sha256)
    assert list(two.iter_keys()) == []
    assert _keys(one) == [f"hub1/blobs/sha256/{info.sha256[:2]}/{info.sha256[2:4]}/{info.sha256}"]
    assert not (tmp_path / "unused").exists()

    local = make_blob_store(SimpleNamespace(**{**vars(settings), "blob_store": "local", "s3_prefix": ""}))  # type: ignore[arg-type]
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "unused"
    with pytest.raises(ValueError, match="OMH_S3_BUCKET"):
        make_blob_store(SimpleNamespace(**{**vars(settings), "s3_bucket": None, "s3_prefix": ""}))  # type: ignore[arg-type]


# -- direct uploads (LFS batch with presigned URLs) ----------------------------------------------------------


def test_direct_put_is_published_only_after_the_check(store: S3BlobStore) -> None:
    data = os.urandom(100_000)
    sha = _sha256(data)
    assert store.direct_publish(sha, len(data)) is None  # nothing uploaded yet

    # Wrong bytes of the right size, then too few bytes: refused, and the staged uploads are dropped.
    for body, kind in ((os.urandom(len(data)), "checksum"), (data[:-1], "size")):
        r = httpx.put(store.direct_put_url(sha, ttl=60), content=body, timeout=30)
        assert r.status_code == 200, r.text
        with pytest.raises(ChecksumError) as err:
            store.direct_publish(sha, len(data))
        assert err.value.kind == kind
        assert not store.exists(sha)
        assert store.staged() == []

    r = httpx.put(store.direct_put_url(sha, ttl=60), content=data, timeout=30)
    assert r.status_code == 200, r.text
    assert not store.exists(sha)
    assert store.direct_publish(sha, len(data)) == BlobInfo(sha, len(data), git_blob_sha1(data))
    assert store.read_all(sha, len(data)) == data
    assert store.staged() == []
    # publishing again checks the stored object and answers the same
    assert store.direct_publish(sha, len(data)) == BlobInfo(sha, len(data), git_blob_sha1(data))


def test_a_scope_publishes_only_what_was_staged_under_it(store: S3BlobStore, big: bytes) -> None:
    """The hub scopes direct uploads by repo: one repo's verify must not publish (or, once published,
    claim) bytes that a client uploaded for another repo."""
    data = os.urandom(50_000)
    sha = _sha256(data)
    r = httpx.put(store.direct_put_url(sha, ttl=60, scope="r1"), content=data, timeout=30)
    assert r.status_code == 200, r.text
    assert store.direct_publish(sha, len(data), scope="r2") is None  # staged for r1, not r2
    assert not store.exists(sha)
    assert store.direct_publish(sha, len(data), scope="r1") == BlobInfo(sha, len(data), git_blob_sha1(data))
    # Published now; r2 still gets nothing until its own client uploads the bytes...
    assert store.direct_publish(sha, len(data), scope="r2") is None
    r = httpx.put(store.direct_put_url(sha, ttl=60, scope="r2"), content=os.urandom(len(data)), timeout=30)
    with pytest.raises(ChecksumError):  # ...and they must be the right bytes
        store.direct_publish(sha, len(data), scope="r2")
    r = httpx.put(store.direct_put_url(sha, ttl=60, scope="r2"), content=data, timeout=30)
    assert store.direct_publish(sha, len(data), scope="r2") == BlobInfo(sha, len(data), git_blob_sha1(data))
    assert store.staged() == []

    # Multipart: completing needs the scope it was started under.
    bsha = _sha256(big)
    urls = store.direct_multipart_start(bsha, "scoped1", 3, ttl=60, scope="r1")
    etags = [
        httpx.put(url, content=big[n * MIN_PART : (n + 1) * MIN_PART], timeout=30).headers["ETag"]
        for n, url in enumerate(urls)
    ]
    with pytest.raises(FileNotFoundError):
        store.direct_multipart_complete(bsha, "scoped1", etags, scope="r2")
    store.direct_multipart_complete(bsha, "scoped1", etags, scope="r1")
    assert store.direct_publish(bsha, len(big), scope="r2") is None
    info = store.direct_publish(bsha, len(big), scope="r1")
    assert info is not None and info.sha256 == bsha
    with pytest.raises(ValueError):
        store.direct_put_url(sha, ttl=60, scope="../r1")


def test_direct_multipart_upload(store: S3BlobStore, big: bytes) -> None:
    sha = _sha256(big)
    chunk = MIN_PART
    urls = store.direct_multipart_start(sha, "upload1", 3, ttl=60)
    assert len(urls) == 3
    etags = []
    for n, url in enumerate(urls):
        r = httpx.put(url, content=big[n * chunk : (n + 1) * chunk], timeout=30)
        assert r.status_code == 200, r.text
        etags.append(r.headers["ETag"])
    assert [k.endswith("(upload)") for k in store.staged()] == [True]
    with pytest.raises(ChecksumError):
        store.direct_multipart_complete(sha, "upload1", [etags[1], etags[0], etags[2]])
    store.direct_multipart_complete(sha, "upload1", etags)
    assert not store.exists(sha)
    info = store.direct_publish(sha, len(big))
    assert info is not None and info.sha256 == sha
    assert store.read_all(sha, len(big)) == big
    assert store.staged() == []
    with pytest.raises(FileNotFoundError):
        store.direct_multipart_complete(sha, "upload1", etags)


def test_direct_multipart_abort(store: S3BlobStore) -> None:
    sha = _sha256(b"never finished")
    store.direct_multipart_start(sha, "upload2", 2, ttl=60)
    assert store.staged() != []
    store.direct_multipart_abort(sha, "upload2")
    store.direct_multipart_abort(sha, "upload2")  # twice is harmless
    assert store.staged() == []
    with pytest.raises(ValueError):
        store.direct_multipart_start(sha, "../escape", 2, ttl=60)


def test_clean_staging(store: S3BlobStore, big: bytes) -> None:
    info = store.put_bytes(b"published")
    w = store.writer(len(big))
    w.write(big[: 6 * 1024 * 1024])  # one part sent: a multipart upload in progress
    httpx.put(store.direct_put_url(_sha256(b"x"), ttl=60), content=b"y", timeout=30)
    # left by a writer that crashed long ago (staging keys start with their creation time)
    s3 = client(store.endpoint_url or "")
    s3.create_multipart_upload(Bucket=store.bucket, Key="staging/1000000000-crashed")
    assert len(store.staged()) == 3

    assert store.clean_staging(older_than_seconds=3600) == 1
    assert len(store.staged()) == 2 and "staging/1000000000-crashed (upload)" not in store.staged()
    assert store.clean_staging(older_than_seconds=-60) == 2
    assert store.staged() == []
    assert store.exists(info.sha256)
    w.abort()  # its upload is gone already: harmless


# -- the store is down ---------------------------------------------------------------------------------------


def test_an_unreachable_store_raises_blob_store_unavailable(tmp_path: Path) -> None:
    with own_moto(tmp_path / "moto") as moto:
        store = make_s3_store(tmp_path, moto.endpoint, max_attempts=1, connect_timeout=2)
        info = store.put_bytes(b"stored before the outage")
        f = store.open(info.sha256)
        w = store.writer(len(b"written during the outage"))
        w.write(b"written during the outage")
    # moto is stopped now: every call fails with the error the API answers as 503 StorageUnavailable
    calls = {
        "exists": lambda: store.exists(info.sha256),
        "size": lambda: store.size(info.sha256),
        "open": lambda: store.open(info.sha256),
        "read_all": lambda: store.read_all(info.sha256, 100),
        "read": lambda: f.read(),
        "iter_range": lambda: next(store.iter_range(info.sha256, 0, 5)),
        "iter_keys": lambda: list(store.iter_keys()),
        "put_bytes": lambda: store.put_bytes(b"new"),
        "commit": lambda: w.commit(),
        "delete": lambda: store.delete(info.sha256),
        "direct_publish": lambda: store.direct_publish(info.sha256, 24),
    }
    for name, call in calls.items():
        with pytest.raises(BlobStoreUnavailable) as err:
            call()
        assert "failed" in str(err.value), name
    w.abort()  # best effort: does not raise
    f.close()
    # presigning needs no request: it still works (the URL fails later, at the store)
    assert store.presigned_get_url(info.sha256, filename=None, ttl=60)
