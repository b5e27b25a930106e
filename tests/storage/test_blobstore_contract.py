"""The BlobStore contract, run against every backend: a local directory and S3 (a moto server).

To add a backend, append a `Backend` to `BACKENDS`: a factory that makes an empty store in a temp dir, and a
function listing what its staging area holds (so the suite can check that failed writes leave nothing
behind). S3-only behaviour (multipart writes, server-side copies, ranged reads, direct uploads, outages) is
in test_s3_store.py.
"""

import hashlib
import io
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from openmodelhub.protocol.digests import git_blob_sha1
from openmodelhub.storage import BlobInfo, BlobStore, ChecksumError, LocalBlobStore


@dataclass(frozen=True)
class Backend:
    name: str
    make: Callable[[Path], BlobStore]
    staged: Callable[[BlobStore], list[str]]


def _local_staged(store: BlobStore) -> list[str]:
    assert isinstance(store, LocalBlobStore)
    return sorted(p.name for p in store.staging.iterdir())


def _s3_store(tmp: Path) -> BlobStore:
    from tests.support.moto import make_s3_store

    return make_s3_store(tmp)


def _s3_staged(store: BlobStore) -> list[str]:
    from openmodelhub.storage.s3 import S3BlobStore

    assert isinstance(store, S3BlobStore)
    return store.staged()


BACKENDS = [
    Backend("local", lambda tmp: LocalBlobStore(tmp / "blobs"), _local_staged),
    Backend("s3", _s3_store, _s3_staged),
]


@pytest.fixture(params=BACKENDS, ids=[b.name for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def store(backend: Backend, tmp_path: Path) -> BlobStore:
    return backend.make(tmp_path)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git_hash_object(data: bytes) -> str:
    out = subprocess.run(
        ["git", "hash-object", "--stdin", "--no-filters"], input=data, capture_output=True, check=True
    )
    return out.stdout.decode().strip()


def _assert_nothing_stored(store: BlobStore, backend: Backend, *shas: str) -> None:
    for sha in shas:
        assert not store.exists(sha)
        assert store.size(sha) is None
    assert list(store.iter_keys()) == []
    assert backend.staged(store) == []


CONTENTS = {
    "empty": b"",
    "small": b"hello world\n",
    "binary": bytes(range(256)) * 4,
    "multi-chunk": os.urandom(3 * (1 << 20) + 17),
}


# -- writing -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CONTENTS))
def test_writer_commit_publishes_under_sha256(store: BlobStore, backend: Backend, name: str) -> None:
    data = CONTENTS[name]
    w = store.writer(len(data))
    for i in range(0, len(data), 100_000):
        w.write(data[i : i + 100_000])
    info = w.commit()

    assert info == BlobInfo(sha256=_sha256(data), size=len(data), git_sha1=git_blob_sha1(data))
    assert info.git_sha1 == _git_hash_object(data)
    assert store.exists(info.sha256)
    assert store.size(info.sha256) == len(data)
    with store.open(info.sha256) as f:
        assert f.read() == data
    assert list(store.iter_keys()) == [info.sha256]
    assert backend.staged(store) == []


def test_commit_with_the_right_expected_sha256(store: BlobStore) -> None:
    data = b"expected"
    w = store.writer(len(data))
    w.write(data)
    assert w.commit(_sha256(data)).sha256 == _sha256(data)
    assert store.exists(_sha256(data))


def test_abort_leaves_nothing(store: BlobStore, backend: Backend) -> None:
    data = b"abandoned upload"
    w = store.writer(len(data))
    w.write(data[:5])
    w.abort()
    w.abort()  # twice is harmless
    _assert_nothing_stored(store, backend, _sha256(data))

    with store.writer(len(data)) as w2:
        w2.write(data)
    # leaving the `with` block without commit aborts
    _assert_nothing_stored(store, backend, _sha256(data))


def test_abort_after_commit_keeps_the_object(store: BlobStore, backend: Backend) -> None:
    data = b"kept"
    with store.writer(len(data)) as w:
        w.write(data)
        info = w.commit()
    w.abort()
    assert store.exists(info.sha256)
    assert store.read_all(info.sha256, 100) == data
    assert backend.staged(store) == []


def test_short_write_is_a_size_error(store: BlobStore, backend: Backend) -> None:
    data = b"too short"
    with store.writer(len(data) + 1) as w:
        w.write(data)
        with pytest.raises(ChecksumError) as err:
            w.commit()
    assert err.value.kind == "size"
    _assert_nothing_stored(store, backend, _sha256(data))


def test_long_write_is_a_size_error(store: BlobStore, backend: Backend) -> None:
    data = b"too long"
    with store.writer(len(data) - 1) as w:
        with pytest.raises(ChecksumError) as err:
            w.write(data)
        assert err.value.kind == "size"
    _assert_nothing_stored(store, backend, _sha256(data), _sha256(data[:-1]))

    # going over the size across several chunks is caught too
    with store.writer(4) as w:
        w.write(b"ab")
        w.write(b"cd")
        with pytest.raises(ChecksumError) as err:
            w.write(b"e")
    assert err.value.kind == "size"
    _assert_nothing_stored(store, backend, _sha256(b"abcd"), _sha256(b"abcde"))


def test_wrong_sha256_is_a_checksum_error(store: BlobStore, backend: Backend) -> None:
    data = b"the real content"
    claimed = _sha256(b"something else")
    with store.writer(len(data)) as w:
        w.write(data)
        with pytest.raises(ChecksumError) as err:
            w.commit(claimed)
    assert err.value.kind == "checksum"
    assert isinstance(err.value, ValueError)
    _assert_nothing_stored(store, backend, _sha256(data), claimed)


def test_identical_content_twice_is_idempotent(store: BlobStore, backend: Backend) -> None:
    data = b"same bytes" * 1000
    first = store.put_bytes(data)
    second = store.put_bytes(data)
    assert first == second
    assert list(store.iter_keys()) == [first.sha256]
    assert store.read_all(first.sha256, len(data)) == data
    assert backend.staged(store) == []


def test_a_failed_rewrite_does_not_harm_the_stored_object(store: BlobStore) -> None:
    data = b"precious"
    info = store.put_bytes(data)
    with store.writer(len(data)) as w:
        w.write(b"PRECIOUS")
        with pytest.raises(ChecksumError):
            w.commit(info.sha256)
    assert store.read_all(info.sha256, 100) == data


# -- reading and listing -------------------------------------------------------------------------------------


def test_exists_size_open_read_all_delete_iter_keys(store: BlobStore, backend: Backend) -> None:
    missing = _sha256(b"never stored")
    assert not store.exists(missing)
    assert store.size(missing) is None
    with pytest.raises(FileNotFoundError):
        store.open(missing)
    with pytest.raises(FileNotFoundError):
        store.read_all(missing, 10)
    assert list(store.iter_keys()) == []

    infos = [store.put_bytes(d) for d in CONTENTS.values()]
    assert sorted(store.iter_keys()) == sorted(i.sha256 for i in infos)

    big = infos[-1]
    data = CONTENTS["multi-chunk"]
    with store.open(big.sha256) as f:
        f.seek(1 << 20)
        assert f.read(10) == data[1 << 20 : (1 << 20) + 10]
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]
    assert store.read_all(big.sha256, len(data)) == data
    with pytest.raises(ValueError):
        store.read_all(big.sha256, len(data) - 1)
    assert store.read_all(infos[0].sha256, 0) == b""

    store.delete(big.sha256)
    assert not store.exists(big.sha256)
    assert store.size(big.sha256) is None
    with pytest.raises(FileNotFoundError):
        store.open(big.sha256)
    assert sorted(store.iter_keys()) == sorted(i.sha256 for i in infos[:-1])
    store.delete(big.sha256)  # deleting what is gone is not an error
    store.delete(missing)

    # and it can be stored again
    assert store.put_bytes(data) == big
    assert store.exists(big.sha256)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "abc",
        "A" * 64,
        "g" * 64,
        "a" * 63,
        "a" * 65,
        "../" + "a" * 61,
        "a" * 64 + "\n",
        "aa/bb/" + "a" * 58,
    ],
)
def test_keys_that_are_not_sha256_are_refused(store: BlobStore, key: str) -> None:
    for op in (store.exists, store.size, store.open, store.delete):
        with pytest.raises(ValueError):
            op(key)


# -- convenience writers -------------------------------------------------------------------------------------


def test_put_bytes(store: BlobStore, backend: Backend) -> None:
    data = b"put bytes"
    info = store.put_bytes(data)
    assert info == BlobInfo(_sha256(data), len(data), _git_hash_object(data))
    assert store.read_all(info.sha256, 100) == data
    assert backend.staged(store) == []


@pytest.mark.parametrize("chunk", [1, 1000, 1 << 20])
def test_put_stream(store: BlobStore, backend: Backend, chunk: int) -> None:
    data = os.urandom(50_000) if chunk == 1 else CONTENTS["multi-chunk"]
    info = store.put_stream(io.BytesIO(data), len(data), _sha256(data), chunk=chunk)
    assert info == BlobInfo(_sha256(data), len(data), git_blob_sha1(data))
    with store.open(info.sha256) as f:
        assert hashlib.sha256(f.read()).hexdigest() == info.sha256
    assert backend.staged(store) == []


def test_put_stream_without_expected_sha256(store: BlobStore) -> None:
    data = b"no digest announced"
    assert store.put_stream(io.BytesIO(data), len(data)).sha256 == _sha256(data)


@pytest.mark.parametrize(
    ("announced", "sha", "kind"),
    [(21, None, "size"), (19, None, "size"), (20, "0" * 64, "checksum")],
    ids=["stream-short", "stream-long", "wrong-sha256"],
)
def test_put_stream_failures_publish_nothing(
    store: BlobStore, backend: Backend, announced: int, sha: str | None, kind: str
) -> None:
    data = b"twenty bytes exactly"
    assert len(data) == 20
    with pytest.raises(ChecksumError) as err:
        store.put_stream(io.BytesIO(data), announced, sha, chunk=7)
    assert err.value.kind == kind
    _assert_nothing_stored(store, backend, _sha256(data))


# -- what garbage collection needs (services/fsck.py) --------------------------------------------------------


def test_iter_objects_lists_key_size_and_utc_modification_time(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)  # S3 keeps whole seconds
    infos = [store.put_bytes(d) for d in (b"", b"one", b"two two")]
    listed = {key: (size, mtime) for key, size, mtime in store.iter_objects()}
    assert sorted(listed) == sorted(i.sha256 for i in infos)
    for info in infos:
        size, mtime = listed[info.sha256]
        assert size == info.size
        assert mtime.utcoffset() == timedelta(0)
        assert before <= mtime <= datetime.now(UTC) + timedelta(seconds=5)


def test_touch_says_whether_the_content_is_stored(store: BlobStore) -> None:
    info = store.put_bytes(b"touch me")
    assert store.touch(info.sha256)
    assert not store.touch(_sha256(b"never stored"))
    assert store.read_all(info.sha256, 100) == b"touch me"


def test_prune_deletes_only_objects_older_than_the_cutoff(store: BlobStore, backend: Backend) -> None:
    info = store.put_bytes(b"prune me")
    assert not store.prune(info.sha256, datetime.now(UTC) - timedelta(days=1))  # written after the cutoff
    assert store.read_all(info.sha256, 100) == b"prune me"
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert store.prune(info.sha256, tomorrow)
    assert not store.exists(info.sha256)
    assert not store.prune(info.sha256, tomorrow)  # nothing left to delete
    assert backend.staged(store) == []


# -- concurrency ---------------------------------------------------------------------------------------------


def test_concurrent_writers_of_the_same_content_all_succeed(store: BlobStore, backend: Backend) -> None:
    data = os.urandom(1 << 20)
    n = 8
    barrier = threading.Barrier(n)
    results: list[BlobInfo] = []
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            with store.writer(len(data)) as w:
                for i in range(0, len(data), 1 << 16):
                    w.write(data[i : i + (1 << 16)])
                barrier.wait(timeout=30)  # everyone commits at the same moment
                results.append(w.commit(_sha256(data)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(results) == n
    assert set(results) == {BlobInfo(_sha256(data), len(data), git_blob_sha1(data))}
    assert list(store.iter_keys()) == [_sha256(data)]
    assert store.read_all(_sha256(data), len(data)) == data
    assert backend.staged(store) == []


def test_concurrent_writers_of_different_content(store: BlobStore) -> None:
    payloads = [os.urandom(10_000 + i) for i in range(8)]
    with_errors: list[BaseException] = []

    def upload(data: bytes) -> None:
        try:
            store.put_bytes(data)
        except BaseException as exc:
            with_errors.append(exc)

    threads = [threading.Thread(target=upload, args=(d,)) for d in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert with_errors == []
    assert sorted(store.iter_keys()) == sorted(_sha256(d) for d in payloads)


# -- LocalBlobStore only -------------------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_local_layout_and_local_path(local: LocalBlobStore) -> None:
    info = local.put_bytes(b"layout")
    path = local.local_path(info.sha256)
    assert path == local.root / "sha256" / info.sha256[:2] / info.sha256[2:4] / info.sha256
    assert path is not None
    assert path.read_bytes() == b"layout"


def test_local_iter_keys_ignores_stray_files(local: LocalBlobStore) -> None:
    info = local.put_bytes(b"real")
    stray = local.objects / "ab" / "cd"
    stray.mkdir(parents=True, exist_ok=True)
    (stray / "not-a-digest").write_bytes(b"x")
    (stray / ("a" * 64 + ".tmp")).write_bytes(b"x")
    assert list(local.iter_keys()) == [info.sha256]


def test_clean_staging_removes_only_old_files(local: LocalBlobStore) -> None:
    old = [local.staging / f"old-{i}.part" for i in range(3)]
    fresh = [local.staging / f"fresh-{i}.part" for i in range(2)]
    week_ago = time.time() - 7 * 24 * 3600
    for p in old:
        p.write_bytes(b"left by a crashed writer")
        os.utime(p, (week_ago, week_ago))
    for p in fresh:
        p.write_bytes(b"still being written")

    data = b"an upload in progress"
    w = local.writer(len(data))
    w.write(data)

    assert local.clean_staging(older_than_seconds=3600) == 3
    assert sorted(p.name for p in local.staging.iterdir() if p.name.startswith(("old", "fresh"))) == sorted(
        p.name for p in fresh
    )
    # the writer in progress was not disturbed
    info = w.commit()
    assert local.read_all(info.sha256, 100) == data
    # nothing old is left: a second pass removes nothing
    assert local.clean_staging(older_than_seconds=3600) == 0
    # published objects are never touched, whatever their age
    published = local.local_path(info.sha256)
    assert published is not None
    os.utime(published, (week_ago, week_ago))
    for p in fresh:
        os.utime(p, (week_ago, week_ago))
    assert local.clean_staging(older_than_seconds=3600) == 2
    assert local.exists(info.sha256)


def test_clean_staging_default_age_keeps_recent_files(local: LocalBlobStore) -> None:
    (local.staging / "recent.part").write_bytes(b"x")
    assert local.clean_staging() == 0
    assert (local.staging / "recent.part").exists()


def _backdate(local: LocalBlobStore, sha256: str) -> None:
    path = local.local_path(sha256)
    assert path is not None
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(path, (week_ago, week_ago))


def test_local_touch_and_writing_again_renew_an_old_object(local: LocalBlobStore) -> None:
    info = local.put_bytes(b"old")
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    _backdate(local, info.sha256)
    assert local.touch(info.sha256)
    assert not local.prune(info.sha256, cutoff)
    _backdate(local, info.sha256)
    assert local.put_bytes(b"old") == info  # the same content written again is published anew
    assert not local.prune(info.sha256, cutoff)
    _backdate(local, info.sha256)
    assert local.prune(info.sha256, cutoff)
    assert not local.exists(info.sha256)
    assert list(local.staging.iterdir()) == []


def test_local_prune_puts_back_an_object_touched_just_before_it_was_moved_aside(
    local: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = local.put_bytes(b"in use again")
    _backdate(local, info.sha256)
    rename = os.rename

    def touched_then_renamed(src: str, dst: str) -> None:
        local.touch(info.sha256)  # a commit starts using the content between prune's stat and its rename
        rename(src, dst)

    monkeypatch.setattr(os, "rename", touched_then_renamed)
    assert not local.prune(info.sha256, datetime.now(UTC) - timedelta(hours=1))
    monkeypatch.undo()
    assert local.read_all(info.sha256, 100) == b"in use again"
    assert list(local.staging.iterdir()) == []


def test_local_prune_while_a_writer_publishes_the_same_content(
    local: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = local.put_bytes(b"sent again")
    _backdate(local, info.sha256)
    rename = os.rename

    def renamed_then_published(src: str, dst: str) -> None:
        rename(src, dst)
        monkeypatch.undo()
        local.put_bytes(b"sent again")  # published while the old copy is aside

    monkeypatch.setattr(os, "rename", renamed_then_published)
    assert local.prune(info.sha256, datetime.now(UTC) - timedelta(hours=1))  # the old copy is gone ...
    assert local.read_all(info.sha256, 100) == b"sent again"  # ... the new one stays
    assert list(local.staging.iterdir()) == []


def test_local_store_survives_reopening(tmp_path: Path) -> None:
    info = LocalBlobStore(tmp_path / "b").put_bytes(b"persisted")
    again = LocalBlobStore(tmp_path / "b")
    assert again.exists(info.sha256)
    assert list(again.iter_keys()) == [info.sha256]
