"""Which content a repo may name (services/repo_content.py): recorded on upload and commit, found in the
history of repos made before the table, answered the same for other repos' content as for unknown content."""

import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from openmodelhub.db.models import Repo, RepoContent
from openmodelhub.protocol.names import RepoType
from openmodelhub.services.auth import Principal
from openmodelhub.services.container import Services
from openmodelhub.services.errors import LfsObjectNotFound, SizeMismatch
from openmodelhub.settings import Settings


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    services = Services.open(Settings(data_dir=tmp_path / "hub"))
    yield services
    services.close()


def _actor(svc: Services, name: str) -> Principal:
    user = svc.auth.ensure_user(name)
    return Principal(
        user_id=user.id, name=user.name, is_admin=False, role="write", token_name="t", token_created_at=""
    )


def _upload(svc: Services, repo: Repo, data: bytes) -> str:
    """What the signed LFS PUT does for `repo`."""
    oid = hashlib.sha256(data).hexdigest()
    writer = svc.uploads.object_writer(oid, len(data))
    writer.write(data)
    svc.uploads.finish_object(writer, oid, repo.id)
    return oid


def _commit(
    svc: Services, who: Principal, repo: Repo, path: str, oid: str, size: int | None, **kw: Any
) -> str:
    value: dict[str, Any] = {"path": path, "algo": "sha256", "oid": oid}
    if size is not None:
        value["size"] = size
    lines = [{"key": "header", "value": {"summary": f"add {path}"}}, {"key": "lfsFile", "value": value}]
    body = io.BytesIO(b"".join(json.dumps(x).encode() + b"\n" for x in lines))
    request = svc.commits.read_ndjson(body)
    return svc.commits.create_commit(who, repo, kw.pop("branch", "main"), request, **kw).oid


def _rows(svc: Services, repo: Repo) -> set[str]:
    with svc.hub.read() as s:
        return set(s.scalars(select(RepoContent.sha256).where(RepoContent.repo_id == repo.id)).all())


@pytest.fixture
def world(svc: Services) -> tuple[Services, Principal, Principal, Repo, Repo]:
    alice, bob = _actor(svc, "alice"), _actor(svc, "bob")
    a = svc.repos.create(alice, RepoType.MODEL, "a", private=True)
    b = svc.repos.create(bob, RepoType.MODEL, "b")
    return svc, alice, bob, a, b


def test_uploads_and_commits_are_recorded_for_their_repo_only(world: Any) -> None:
    svc, alice, bob, a, b = world
    data = os.urandom(5000)
    oid = _upload(svc, a, data)
    assert _rows(svc, a) == {oid} and _rows(svc, b) == set()
    _commit(svc, alice, a, "w.bin", oid, len(data))
    before = svc.repos.resolve(b, "main")
    never = hashlib.sha256(b"never uploaded").hexdigest()
    messages = []
    for sha in (oid, never):
        with pytest.raises(LfsObjectNotFound) as err:
            _commit(svc, bob, b, "w.bin", sha, len(data))
        messages.append(err.value.message.replace(sha, "<oid>"))
    assert messages[0] == messages[1] and "has not been uploaded to this repo" in messages[0]
    with pytest.raises(LfsObjectNotFound):  # the wrong size says nothing about the real one either
        _commit(svc, bob, b, "w.bin", oid, len(data) + 1)
    assert svc.repos.resolve(b, "main") == before and _rows(svc, b) == set()
    # In alice's repo a wrong size is a size mismatch: the content is hers.
    with pytest.raises(SizeMismatch):
        _commit(svc, alice, a, "again.bin", oid, len(data) + 1)


def test_batch_and_verify_know_only_the_repos_own_content(world: Any) -> None:
    svc, _, _, a, b = world
    data = os.urandom(3000)
    oid = _upload(svc, a, data)
    url, base = "http://hub/x", "http://hub"

    def answer(repo: Repo) -> dict[str, Any]:
        (obj,) = svc.uploads.batch(repo, url, base, "upload", [{"oid": oid, "size": len(data)}], ["basic"])[
            "objects"
        ]
        return obj  # type: ignore[no-any-return]

    assert "actions" not in answer(a)
    upload = answer(b)["actions"]["upload"]["href"]
    assert f"repo={b.id}&" in upload  # the signed PUT records the upload for bob's repo
    svc.uploads.verify(a, oid, len(data))
    with pytest.raises(LfsObjectNotFound):
        svc.uploads.verify(b, oid, len(data))
    _upload(svc, b, data)  # bob sends the bytes: stored once, now his repo's too
    svc.uploads.verify(b, oid, len(data))
    assert "actions" not in answer(b)


def test_history_of_repos_made_before_the_table_counts_and_is_then_recorded(world: Any) -> None:
    svc, alice, _, a, _ = world
    data = os.urandom(4000)
    oid = _upload(svc, a, data)
    _commit(svc, alice, a, "w.bin", oid, len(data))
    with svc.hub.write.begin() as s:  # as the repo was before migration 0010
        s.execute(delete(RepoContent).where(RepoContent.repo_id == a.id))
    assert svc.commits.contents.recorded(a.id, [oid]) == set()
    _commit(svc, alice, a, "copy.bin", oid, None)  # found in its history
    assert _rows(svc, a) == {oid}


def test_a_merge_records_the_lfs_files_it_lands(world: Any) -> None:
    svc, alice, _, a, _ = world
    data = os.urandom(4000)
    oid = _upload(svc, a, data)
    _commit(svc, alice, a, "w.bin", oid, len(data), create_pr=True)
    with svc.hub.write.begin() as s:
        s.execute(delete(RepoContent).where(RepoContent.repo_id == a.id))
    svc.merges.merge(alice, a, 1)
    assert _rows(svc, a) == {oid}


def test_rows_go_with_their_repo(world: Any) -> None:
    svc, alice, _, a, _ = world
    oid = _upload(svc, a, os.urandom(100))
    svc.commits.contents.record(a.id, [oid, oid])  # again, and twice: idempotent
    svc.repos.delete(alice, RepoType.MODEL, "alice/a")
    with svc.hub.read() as s:
        assert s.scalar(select(func.count()).select_from(RepoContent)) == 0
