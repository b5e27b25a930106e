"""Repo listing filters (services/repos.py `list`): tags, pipeline tag and library match through the
`repo_tags` index, follow later commits and merged pull requests, and page in SQL."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from openmodelhub.db.models import Repo, RepoTag
from openmodelhub.protocol.names import RepoType
from openmodelhub.services.auth import Principal
from openmodelhub.services.commits import AddFile, CommitRequest
from openmodelhub.services.container import Services
from openmodelhub.services.repos import ListQuery
from openmodelhub.settings import Settings


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    services = Services.open(Settings(data_dir=tmp_path / "hub"))
    yield services
    services.close()


def _alice(svc: Services) -> Principal:
    user = svc.auth.ensure_user("alice")
    return Principal(
        user_id=user.id, name=user.name, is_admin=False, role="write", token_name="t", token_created_at=""
    )


def _card(svc: Services, who: Principal, repo: Repo, front: str) -> None:
    text = f"---\n{front}\n---\n# card\n".encode()
    op = AddFile(path="README.md", blob=svc.hub.blobs.put_bytes(text), sent_as_lfs=False)
    svc.commits.create_commit(who, repo, "main", CommitRequest(summary="card", operations=[op]))


def _listed(svc: Services, *filters: str, offset: int = 0, limit: int = 100) -> list[str]:
    q = ListQuery(RepoType.MODEL, [], "alice", list(filters), None, offset, limit)
    return [r.name for r in svc.repos.list(None, q)]


def test_tag_filters_use_the_index_and_follow_commits(svc: Services) -> None:
    alice = _alice(svc)
    repos = {n: svc.repos.create(alice, RepoType.MODEL, n) for n in ("a", "b", "c")}
    _card(svc, alice, repos["a"], "tags: [beta, vision]\npipeline_tag: image-classification")
    _card(svc, alice, repos["b"], "tags: [beta]\nlibrary_name: timm")
    assert sorted(_listed(svc, "beta")) == ["a", "b"]
    assert _listed(svc, "beta", "vision") == ["a"]  # every filter must match
    assert _listed(svc, "timm") == ["b"]
    assert _listed(svc, "image-classification") == ["a"]
    assert _listed(svc, "nothing-has-this") == []
    assert _listed(svc) == ["a", "b", "c"]  # no filter: every repo, ordered by id

    # A later card replaces the repo's tags: old ones stop matching.
    _card(svc, alice, repos["a"], "tags: [gamma]")
    assert _listed(svc, "beta") == ["b"]
    assert _listed(svc, "vision") == []
    assert _listed(svc, "gamma") == ["a"]
    with svc.hub.read() as s:
        stored = set(s.scalars(select(RepoTag.tag).where(RepoTag.repo_id == repos["a"].id)))
    assert "gamma" in stored and "beta" not in stored

    # Paging happens after filtering.
    _card(svc, alice, repos["c"], "tags: [beta]")
    both = _listed(svc, "beta")
    assert len(both) == 2
    assert _listed(svc, "beta", offset=1, limit=1) == both[1:]

    # Deleting a repo removes its tag rows.
    svc.repos.delete(alice, RepoType.MODEL, "alice/b")
    assert _listed(svc, "beta") == ["c"]
    with svc.hub.read() as s:
        assert list(s.scalars(select(RepoTag).where(RepoTag.repo_id == repos["b"].id))) == []
