"""`omh fsck` as a service, on every backend: a hub is built through the real services, corrupted on purpose,
and the report must name exactly what was broken; `--repair` must delete old garbage and nothing else.

Backends: SQLite + local directory, PostgreSQL + local directory, PostgreSQL + S3 (a moto server). Each test
gets a new database (created and dropped here) and a new bucket.

Ages: on a local store an object is made old by setting its modification time back. S3 keeps whole-second
modification times that cannot be set, so there the test waits until the clock moved past the "old" objects
before writing the fresh ones, and puts the cutoff between the two (`Ages`).
"""

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from openmodelhub.db.models import (
    Blob,
    GitBlob,
    GitObject,
    LfsMultipartUpload,
    QuarantineRelease,
    Ref,
    RepoCommit,
    ScanRecord,
    XetFile,
    XetXorb,
)
from openmodelhub.protocol.digests import git_blob_sha1
from openmodelhub.protocol.names import RepoType
from openmodelhub.services import fsck as F
from openmodelhub.services.auth import Principal
from openmodelhub.services.commits import AddFile, CommitRequest
from openmodelhub.services.container import Services
from openmodelhub.services.fsck import FsckReport, fsck
from openmodelhub.services.repo_content import record_in
from openmodelhub.services.repos import ensure_blob_rows
from openmodelhub.settings import Settings
from openmodelhub.storage import LocalBlobStore
from tests.support import stack

DAY = 86400


# -- backends ------------------------------------------------------------------------------------------------
def _postgres_database() -> AbstractContextManager[str]:
    return stack.postgres_database("omh_fsck")


@contextmanager
def _no_database() -> Iterator[None]:
    yield None


@dataclass(frozen=True)
class Backend:
    name: str
    database: Callable[[], AbstractContextManager[str | None]]
    s3: bool


BACKENDS = [
    Backend("sqlite-local", _no_database, s3=False),
    Backend("postgresql-local", _postgres_database, s3=False),
    Backend("postgresql-s3", _postgres_database, s3=True),
]


@pytest.fixture(params=BACKENDS, ids=[b.name for b in BACKENDS])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    backend: Backend = request.param
    with backend.database() as url:
        # No background packing of committed files into Xet xorbs: the tests decide what is stored how.
        options: dict[str, object] = {
            "data_dir": tmp_path / "hub",
            "database_url": url,
            "xet_index_uploads": False,
        }
        if backend.s3:
            from tests.support.moto import s3_settings

            options.update(s3_settings(request.getfixturevalue("moto_endpoint")))
        services = Services.open(Settings(**options), migrate=True)  # type: ignore[arg-type]
        try:
            yield services
        finally:
            services.close()


# -- building a hub ------------------------------------------------------------------------------------------
def _actor(svc: Services, name: str) -> Principal:
    user = svc.auth.ensure_user(name)
    return Principal(
        user_id=user.id,
        name=user.name,
        is_admin=False,
        role="write",
        token_name="test",
        token_created_at="",
        email=None,
    )


def _commit(
    svc: Services, actor: Principal, repo_id: str, files: dict[str, bytes], branch: str = "main"
) -> str:
    repo = svc.repos.find(
        RepoType.DATASET if repo_id.startswith("datasets/") else RepoType.MODEL, _rid(repo_id)
    )
    assert repo is not None
    ops = [
        AddFile(path=p, blob=svc.hub.blobs.put_bytes(data), sent_as_lfs=False) for p, data in files.items()
    ]
    request = CommitRequest(summary=f"commit to {branch}", operations=list(ops))
    return svc.commits.create_commit(actor, repo, branch, request).oid


def _rid(repo_id: str) -> str:
    return repo_id.removeprefix("datasets/")


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


README_1 = b"# tiny\n\nfirst version\n"
README_2 = b"# tiny\n\nsecond version\n"
WEIGHTS = bytes(range(256)) * 40  # *.safetensors: an LFS file (default .gitattributes)
CONFIG = b'{"model_type": "bert"}\n'
DEV = b"only on a deleted branch\n"
TRAIN = b"a,b\n1,2\n"


@dataclass
class Hub:
    """What `_build` made: commits of alice/tiny (c0 initial, c1 files, c2 README v2; d1 on deleted dev)."""

    svc: Services
    c0: str
    c1: str
    c2: str
    d1: str

    def fsck(self, **kw: object) -> FsckReport:
        return fsck(self.svc.hub, **kw)  # type: ignore[arg-type]

    def tree_of(self, commit: str, path: str = "") -> str:
        tree = self.svc.git.commit_tree(commit)
        entry = self.svc.git.lookup(tree, path)
        assert entry is not None
        return entry.oid


def _build(svc: Services) -> Hub:
    """alice/tiny: main c0 -> c1 -> c2, tag v1 at c1, branch dev c1 -> d1 then deleted; datasets/bob/data."""
    alice, bob = _actor(svc, "alice"), _actor(svc, "bob")
    svc.repos.create(alice, RepoType.MODEL, "tiny")
    repo = svc.repos.find(RepoType.MODEL, "alice/tiny")
    assert repo is not None
    c0 = svc.repos.resolve(repo, "main")
    c1 = _commit(
        svc,
        alice,
        "alice/tiny",
        {"README.md": README_1, "weights/model.safetensors": WEIGHTS, "config.json": CONFIG},
    )
    c2 = _commit(svc, alice, "alice/tiny", {"README.md": README_2})
    svc.repos.create_tag(alice, repo, "v1", c1, None)
    svc.repos.create_branch(alice, repo, "dev", c1)
    d1 = _commit(svc, alice, "alice/tiny", {"dev.txt": DEV}, branch="dev")
    svc.repos.delete_branch(alice, repo, "dev")  # d1 stays resolvable by its id, so its files stay
    svc.repos.create(bob, RepoType.DATASET, "data")
    _commit(svc, bob, "datasets/bob/data", {"data/train.csv": TRAIN})
    return Hub(svc, c0, c1, c2, d1)


@pytest.fixture
def hub(svc: Services) -> Hub:
    return _build(svc)


# -- touching the store and the database behind the services' back -----------------------------------------
def _overwrite(svc: Services, sha: str, data: bytes) -> None:
    blobs = svc.hub.blobs
    if isinstance(blobs, LocalBlobStore):
        path = blobs.local_path(sha)
        assert path is not None
        path.write_bytes(data)
    else:
        blobs.client.put_object(Bucket=blobs.bucket, Key=blobs._key(sha), Body=data)  # type: ignore[attr-defined]


def _mtimes(svc: Services) -> dict[str, datetime]:
    return {key: mtime for key, _, mtime in svc.hub.blobs.iter_objects()}


class Ages:
    """Makes the objects written so far "old" and later ones "fresh", with a cutoff between the two."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.old: list[str] = []

    def make_old(self, *shas: str) -> None:
        blobs = self.svc.hub.blobs
        if isinstance(blobs, LocalBlobStore):
            t = time.time() - 2 * DAY
            for sha in shas:
                path = blobs.local_path(sha)
                assert path is not None
                os.utime(path, (t, t))
        else:
            time.sleep(1.2)  # whole-second modification times: anything written from now on is later
        self.old.extend(shas)

    def window(self, *fresh: str) -> dict[str, object]:
        """`now` and `grace` for fsck: the cutoff lies between the newest old and the oldest fresh object."""
        mtimes = _mtimes(self.svc)
        newest_old = max(mtimes[s] for s in self.old)
        oldest_fresh = min(mtimes[s] for s in fresh)
        assert newest_old < oldest_fresh
        cutoff = newest_old + (oldest_fresh - newest_old) / 2
        now = datetime.now(UTC)
        return {"now": now, "grace": now - cutoff}


def _age_row(svc: Services, sha: str) -> None:
    with svc.hub.write.begin() as s:
        s.execute(
            update(Blob)
            .where(Blob.sha256 == sha)
            .values(created_at=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2))
        )


def _stored(svc: Services) -> set[str]:
    return set(svc.hub.blobs.iter_keys())


REFERENCED = {_sha(d) for d in (README_1, README_2, WEIGHTS, CONFIG, DEV, TRAIN)}


# -- a consistent hub ----------------------------------------------------------------------------------------
def test_a_consistent_hub_is_clean(hub: Hub) -> None:
    report = hub.fsck(deep=True)
    assert report.findings == []
    assert report.clean
    st = report.stats
    assert (st.repos, st.refs) == (2, 3)  # main + v1 of alice/tiny, main of bob/data
    # c0, c1, c2, d1 (deleted branch, kept) and the dataset's two commits; the two repos' initial commits are
    # one object when both were created in the same second (same tree, author and time)
    with hub.svc.hub.read() as s:
        initial = set(s.scalars(select(RepoCommit.commit_oid)).all())
    assert st.commits == len(initial) and len(initial) in (5, 6)
    gitattributes = 1  # the default .gitattributes, shared by both repos
    assert st.contents == len(REFERENCED) + gitattributes
    assert st.stored_objects == st.contents
    assert st.hashed_objects == st.stored_objects
    assert st.hashed_bytes == st.stored_bytes
    assert _stored(hub.svc) >= REFERENCED


def test_repair_on_a_consistent_hub_deletes_nothing(hub: Hub) -> None:
    before = _stored(hub.svc)
    report = hub.fsck(repair=True, grace=timedelta(0))
    assert report.findings == []
    assert _stored(hub.svc) == before


# -- corruption ----------------------------------------------------------------------------------------------
def test_a_deleted_object_is_reported_with_the_path_of_its_file(hub: Hub) -> None:
    sha = _sha(WEIGHTS)
    hub.svc.hub.blobs.delete(sha)
    report = hub.fsck()
    assert report.kinds() == [(F.MISSING_OBJECT, sha)]
    [finding] = report.findings
    assert finding.where == "alice/tiny@main:weights/model.safetensors"
    assert "LFS file" in finding.message
    assert not report.clean


def test_a_truncated_object_is_a_size_mismatch(hub: Hub) -> None:
    sha = _sha(WEIGHTS)
    _overwrite(hub.svc, sha, WEIGHTS[:-10])
    for deep in (False, True):
        report = hub.fsck(deep=deep)
        assert report.kinds() == [(F.SIZE_MISMATCH, sha)]
        assert report.findings[0].where == "alice/tiny@main:weights/model.safetensors"
        assert f"{len(WEIGHTS) - 10} bytes, expected {len(WEIGHTS)}" in report.findings[0].message


def test_a_flipped_byte_is_found_only_by_deep(hub: Hub) -> None:
    sha = _sha(CONFIG)
    flipped = bytes([CONFIG[0] ^ 0x01]) + CONFIG[1:]
    _overwrite(hub.svc, sha, flipped)
    assert hub.fsck().findings == []
    report = hub.fsck(deep=True)
    assert report.kinds() == [(F.CORRUPT_OBJECT, sha)]
    assert report.findings[0].where == "alice/tiny@main:config.json"
    assert _sha(flipped) in report.findings[0].message


def test_a_missing_tree_row_is_reported_and_stops_repair(hub: Hub) -> None:
    weights_tree = hub.tree_of(hub.c2, "weights")  # shared by c1, c2 and d1: reported once
    with hub.svc.hub.write.begin() as s:
        s.execute(delete(GitObject).where(GitObject.oid == weights_tree))
    before = _stored(hub.svc)
    # Seen from two days ahead with a grace of one day, every stored object is old enough to delete.
    report = hub.fsck(repair=True, now=datetime.now(UTC) + timedelta(days=2), grace=timedelta(days=1))
    # The file below the lost tree looks unreferenced, but with the walk incomplete nothing is deleted.
    assert report.kinds() == sorted([(F.MISSING_TREE, weights_tree), (F.UNREFERENCED, _sha(WEIGHTS))])
    by_kind = {f.kind: f for f in report.findings}
    assert by_kind[F.MISSING_TREE].where == "alice/tiny@main:weights"
    assert "walk is incomplete" in by_kind[F.UNREFERENCED].message
    assert not by_kind[F.UNREFERENCED].repaired
    assert _stored(hub.svc) == before
    assert not report.clean


def test_a_missing_parent_commit_is_reported(hub: Hub) -> None:
    with hub.svc.hub.write.begin() as s:
        s.execute(delete(GitObject).where(GitObject.oid == hub.c1))
    report = hub.fsck()
    # c1 is tag v1, main's parent and dev's base; its files are all still reached through d1.
    assert report.kinds() == [(F.MISSING_COMMIT, hub.c1)]
    assert report.findings[0].where == "alice/tiny@v1"
    assert "target of refs/tags/v1" in report.findings[0].message


def test_a_ref_to_a_missing_commit(hub: Hub) -> None:
    ghost = "0123456789abcdef0123456789abcdef01234567"
    with hub.svc.hub.write.begin() as s:
        repo_id = s.scalar(select(Ref.repo_id).where(Ref.name == "refs/tags/v1"))
        s.add(Ref(repo_id=repo_id, name="refs/pr/1", target=ghost))
    report = hub.fsck()
    assert report.kinds() == [(F.MISSING_COMMIT, ghost)]
    assert report.findings[0].where == "alice/tiny@refs/pr/1"


def test_a_tree_entry_without_its_git_blob_row(hub: Hub) -> None:
    oid = git_blob_sha1(TRAIN)
    with hub.svc.hub.write.begin() as s:
        s.execute(delete(GitBlob).where(GitBlob.oid == oid))
    report = hub.fsck()
    assert report.kinds() == sorted([(F.MISSING_GIT_BLOB, oid), (F.UNREFERENCED, _sha(TRAIN))])
    assert {f.where for f in report.findings if f.kind == F.MISSING_GIT_BLOB} == {
        "datasets/bob/data@main:data/train.csv"
    }


def test_a_wrong_git_id_in_a_blobs_row(hub: Hub) -> None:
    sha = _sha(README_2)
    with hub.svc.hub.write.begin() as s:
        s.execute(update(Blob).where(Blob.sha256 == sha).values(git_sha1="f" * 40))
    assert hub.fsck().kinds() == [(F.GIT_BLOB_MISMATCH, git_blob_sha1(README_2))]
    # --deep also finds that the stored bytes do not hash to the recorded git id
    assert hub.fsck(deep=True).kinds() == sorted(
        [(F.GIT_BLOB_MISMATCH, git_blob_sha1(README_2)), (F.GIT_BLOB_MISMATCH, sha)]
    )


def test_a_file_stored_as_xet_xorbs(hub: Hub) -> None:
    """Content uploaded with Xet may live in xorbs only: fsck follows its segments to the xorbs' bytes, and
    repair deletes no recorded xorb, not even one that no file uses."""
    svc = hub.svc
    sha = _sha(WEIGHTS)
    used, unused = "a" * 64, "b" * 64
    blobs = {
        used: svc.hub.blobs.put_bytes(b"a xorb (fsck does not parse xorbs)"),
        unused: svc.hub.blobs.put_bytes(b"a xorb no file uses"),
    }
    with svc.hub.write.begin() as s:
        for h, info in blobs.items():
            s.add(
                XetXorb(
                    hash=h,
                    blob_sha256=info.sha256,
                    size=info.size,
                    chunk_count=1,
                    unpacked_size=info.size,
                    layout=b"",
                    uploads=1,
                )
            )
        s.add(
            XetFile(
                sha256=sha,
                file_hash="c" * 64,
                size=len(WEIGHTS),
                git_sha1=git_blob_sha1(WEIGHTS),
                segments=[[used, 0, 1, len(WEIGHTS)]],
            )
        )
    svc.hub.blobs.delete(sha)  # stored as xorbs only
    report = hub.fsck(
        deep=True, repair=True, now=datetime.now(UTC) + timedelta(days=2), grace=timedelta(days=1)
    )
    assert report.findings == []
    assert _stored(svc) >= {blobs[used].sha256, blobs[unused].sha256}

    svc.hub.blobs.delete(blobs[used].sha256)
    svc.hub.blobs.delete(blobs[unused].sha256)
    report = hub.fsck()
    assert report.kinds() == sorted(
        [(F.MISSING_OBJECT, blobs[used].sha256), (F.MISSING_OBJECT, blobs[unused].sha256)]
    )
    where = {f.object_id: f.where for f in report.findings}
    assert where[blobs[used].sha256] == "alice/tiny@main:weights/model.safetensors"
    assert where[blobs[unused].sha256] == f"xet xorb {unused}"

    with svc.hub.write.begin() as s:
        s.execute(delete(XetXorb).where(XetXorb.hash == used))
    assert hub.fsck().kinds() == sorted([(F.MISSING_XORB, used), (F.MISSING_OBJECT, blobs[unused].sha256)])


# -- garbage and repair --------------------------------------------------------------------------------------
def test_repair_deletes_old_orphans_only(hub: Hub) -> None:
    svc = hub.svc
    ages = Ages(svc)
    old = svc.hub.blobs.put_bytes(b"an old upload nobody committed").sha256
    ages.make_old(old)
    fresh = svc.hub.blobs.put_bytes(b"an upload waiting for its commit").sha256
    window = ages.window(fresh)

    report = hub.fsck(**window)
    assert report.clean
    assert report.kinds() == sorted([(F.UNREFERENCED, old), (F.UNREFERENCED, fresh)])
    by_id = {f.object_id: f for f in report.findings}
    assert by_id[old].deletable and not by_id[fresh].deletable
    assert "younger than the grace period" in by_id[fresh].message

    report = hub.fsck(repair=True, **window)
    assert report.clean
    assert {f.object_id for f in report.findings if f.repaired} == {old}
    assert report.stats.deleted_objects == 1
    stored = _stored(svc)
    assert old not in stored
    assert fresh in stored and stored >= REFERENCED

    assert hub.fsck(**window).kinds() == [(F.UNREFERENCED, fresh)]


def test_repair_deletes_the_content_of_a_deleted_repo_with_its_rows(hub: Hub) -> None:
    svc = hub.svc
    bob = _actor(svc, "bob")
    svc.repos.delete(bob, RepoType.DATASET, "bob/data")
    ages = Ages(svc)
    ages.make_old(*_stored(svc))
    fresh = svc.hub.blobs.put_bytes(b"fresh").sha256
    train = _sha(TRAIN)
    window = ages.window(fresh)
    report = hub.fsck(repair=True, **window)
    # train.csv was only in bob/data; the .gitattributes bob/data shared with alice/tiny stays.
    assert report.kinds() == sorted([(F.UNREFERENCED, train), (F.UNREFERENCED, fresh)])
    assert [f.object_id for f in report.findings if f.repaired] == [train]
    assert train not in _stored(svc)
    with svc.hub.read() as s:
        assert s.get(Blob, train) is None
        assert s.scalars(select(GitBlob).where(GitBlob.sha256 == train)).all() == []
        assert s.scalars(select(ScanRecord).where(ScanRecord.sha256 == train)).all() == []
    assert report.stats.deleted_rows == 3  # blobs + git_blobs + one scan verdict
    assert hub.fsck(deep=True, **window).kinds() == [(F.UNREFERENCED, fresh)]


def test_repair_keeps_what_pending_uploads_and_quarantine_releases_need(hub: Hub) -> None:
    svc = hub.svc
    announced = svc.hub.blobs.put_bytes(b"a multipart upload in progress announces these bytes").sha256
    released = svc.hub.blobs.put_bytes(b"an admin released these bytes from quarantine").sha256
    expired = svc.hub.blobs.put_bytes(b"the bytes of an upload whose URLs expired").sha256
    ages = Ages(svc)
    ages.make_old(announced, released, expired)
    fresh = svc.hub.blobs.put_bytes(b"fresh").sha256
    two_days_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2)
    with svc.hub.write.begin() as s:
        repo_id = s.scalar(select(Ref.repo_id).where(Ref.name == "refs/tags/v1"))
        s.add(LfsMultipartUpload(id="pending", sha256=announced, size=1, chunk_size=1))
        s.add(LfsMultipartUpload(id="expired", sha256=expired, size=1, chunk_size=1, created_at=two_days_ago))
        s.add(QuarantineRelease(repo_id=repo_id, sha256=released, released_by="alice"))
    parts = svc.hub.settings.tmp_dir / "multipart" / "expired"
    parts.mkdir(parents=True)
    (parts / "000001").write_bytes(b"x")

    report = hub.fsck(repair=True, **ages.window(fresh))
    assert report.kinds() == sorted(
        [
            (F.UNREFERENCED, announced),
            (F.UNREFERENCED, released),
            (F.UNREFERENCED, expired),
            (F.UNREFERENCED, fresh),
            (F.STALE_UPLOAD, "expired"),
        ]
    )
    by_id = {f.object_id: f for f in report.findings}
    assert "pending LFS multipart upload" in by_id[announced].message
    assert "released it from quarantine" in by_id[released].message
    assert {f.object_id for f in report.findings if f.repaired} == {expired, "expired"}
    stored = _stored(svc)
    assert {announced, released, fresh} <= stored and expired not in stored
    assert not parts.exists()
    with svc.hub.read() as s:
        assert s.scalars(select(LfsMultipartUpload.id)).all() == ["pending"]


def test_an_orphan_row_is_garbage(hub: Hub) -> None:
    svc = hub.svc
    young = svc.hub.blobs.put_bytes(b"recorded, then lost").sha256
    old = svc.hub.blobs.put_bytes(b"recorded long ago, then lost").sha256
    with svc.hub.write.begin() as s:
        for sha, data in ((young, b"recorded, then lost"), (old, b"recorded long ago, then lost")):
            ensure_blob_rows(s, sha, len(data), git_blob_sha1(data), [(git_blob_sha1(data), False)])
    _age_row(svc, old)
    svc.hub.blobs.delete(young)
    svc.hub.blobs.delete(old)
    report = hub.fsck(repair=True, grace=timedelta(hours=1))
    assert report.clean
    assert report.kinds() == sorted([(F.ORPHAN_ROW, young), (F.ORPHAN_ROW, old)])
    assert [f.object_id for f in report.findings if f.repaired] == [old]
    with svc.hub.read() as s:
        assert s.get(Blob, old) is None and s.get(Blob, young) is not None


def test_stale_temp_files(hub: Hub) -> None:
    svc = hub.svc
    tmp = svc.hub.settings.tmp_dir
    week_ago = time.time() - 7 * DAY
    old_files = [tmp / "old.str", tmp / "multipart" / "gone" / "000001"]
    young_files = [tmp / "young.str", tmp / "multipart" / "gone-young" / "000001"]
    if isinstance(svc.hub.blobs, LocalBlobStore):
        old_files.append(svc.hub.blobs.staging / "crashed.part")
        young_files.append(svc.hub.blobs.staging / "writing.part")
    for p in old_files + young_files:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"left behind")
    for p in old_files:
        os.utime(p, (week_ago, week_ago))
    os.utime(tmp / "multipart" / "gone", (week_ago, week_ago))
    expected = sorted((F.STALE_TEMP, name) for name in ("old.str", "gone", "crashed.part")[: len(old_files)])
    assert hub.fsck().kinds() == expected
    report = hub.fsck(repair=True, grace=timedelta(hours=1))
    assert report.kinds() == expected and all(f.repaired for f in report.findings)
    assert not any(p.exists() for p in old_files)
    assert all(p.exists() for p in young_files)
    assert hub.fsck().findings == []


# -- safety next to a running hub ----------------------------------------------------------------------------
def test_content_committed_again_during_a_repair_is_kept(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Old unreferenced LFS content that a commit starts to use (the client did not upload it: the hub had it)
    after fsck listed the store, but before it deletes: the commit's touch makes the deletion back off."""
    svc = hub.svc
    if not isinstance(svc.hub.blobs, LocalBlobStore):
        monkeypatch.setattr(svc.hub.blobs, "touch_after", timedelta(0))  # renew even a young object
    data = b"uploaded long ago, never committed" * 10
    info = svc.hub.blobs.put_bytes(data)
    repo = svc.repos.find(RepoType.MODEL, "alice/tiny")
    assert repo is not None
    with svc.hub.write.begin() as s:
        ensure_blob_rows(s, info.sha256, info.size, info.git_sha1, [])
        record_in(s, repo.id, [info.sha256])  # uploaded to this repo (services/repo_content.py)
    ages = Ages(svc)
    ages.make_old(info.sha256)
    marker = svc.hub.blobs.put_bytes(b"fresh").sha256
    window = ages.window(marker)
    if not isinstance(svc.hub.blobs, LocalBlobStore):
        time.sleep(1.2)  # so that a renewal shows in whole seconds

    listing = svc.hub.blobs.iter_objects
    pending: list[AddFile] = []

    def list_then_commit_starts() -> Iterator[tuple[str, int, datetime]]:
        yield from listing()
        # what CommitService does for an `lfsFile` line: check the object is there, and touch it
        pending.append(
            svc.commits._lfs_file({"path": "old.safetensors", "oid": info.sha256, "size": info.size})
        )

    monkeypatch.setattr(svc.hub.blobs, "iter_objects", list_then_commit_starts)
    report = hub.fsck(repair=True, **window)
    monkeypatch.undo()
    [finding] = [f for f in report.findings if f.object_id == info.sha256]
    assert not finding.repaired
    assert "used again during this run" in finding.message
    assert svc.hub.blobs.exists(info.sha256)

    svc.commits.create_commit(
        _actor(svc, "alice"), repo, "main", CommitRequest(summary="lfs", operations=[*pending])
    )
    assert hub.fsck(deep=True, **window).kinds() == [(F.UNREFERENCED, marker)]


def test_writing_stored_content_again_renews_it(hub: Hub) -> None:
    """A regular file whose bytes are stored already (old, unreferenced) is published again with a fresh
    modification time, so the commit being made is not robbed of it."""
    svc = hub.svc
    data = b"same bytes, sent again"
    sha = svc.hub.blobs.put_bytes(data).sha256
    ages = Ages(svc)
    ages.make_old(sha)
    marker = svc.hub.blobs.put_bytes(b"fresh").sha256
    window = ages.window(marker)
    assert svc.hub.blobs.put_bytes(data).sha256 == sha
    report = hub.fsck(repair=True, **window)
    assert report.kinds() == sorted([(F.UNREFERENCED, sha), (F.UNREFERENCED, marker)])
    assert not any(f.repaired for f in report.findings)
    assert {sha, marker} <= _stored(svc)
