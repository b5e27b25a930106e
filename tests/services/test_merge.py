"""The three-way merge behind pull requests (services/merge.py), and merging a pull request exactly once.

Trees are built with TreeBuilder and stored in a real hub data dir; an expected merge result is the tree id
TreeBuilder gives for the expected files, so "same files" means "same git tree id".
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openmodelhub.db.models import Repo
from openmodelhub.protocol.digests import git_blob_sha1
from openmodelhub.protocol.names import RepoType
from openmodelhub.services.auth import Principal
from openmodelhub.services.commits import AddFile, CommitRequest, DeletePath
from openmodelhub.services.container import Services
from openmodelhub.services.errors import BadRequest, Conflict, Forbidden, MergeConflict
from openmodelhub.services.gitstore import MODE_EXEC, GitStore
from openmodelhub.services.merge import Change, merge_base, merge_trees, tree_changes
from openmodelhub.services.trees import TreeBuilder, make_commit
from openmodelhub.settings import Settings


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = Services.open(Settings(data_dir=tmp_path / "hub"))
    yield svc
    svc.close()


@pytest.fixture
def git(services: Services) -> GitStore:
    return services.git


def blob(text: str) -> str:
    return git_blob_sha1(text.encode())


def tree(services: Services, files: dict[str, str], modes: dict[str, int] | None = None) -> str:
    """The stored tree holding `files` (path -> content); `modes` overrides a file's mode."""
    builder = TreeBuilder(services.git, None)
    for path, content in files.items():
        builder.set_file(path, blob(content), **({"mode": modes[path]} if modes and path in modes else {}))
    oid, trees = builder.build()
    with services.hub.write() as s, s.begin():
        services.git.add_objects(s, trees)
    return oid


def merged_files(
    services: Services, base: dict[str, str], ours: dict[str, str], theirs: dict[str, str]
) -> Any:
    result = merge_trees(services.git, tree(services, base), tree(services, ours), tree(services, theirs))
    return result


# -- three-way merge of trees --------------------------------------------------------------------------------
def test_disjoint_changes_merge(services: Services) -> None:
    base = {"a.txt": "a", "b.txt": "b", "c.txt": "c"}
    ours = {"a.txt": "a2", "b.txt": "b", "c.txt": "c"}
    theirs = {"a.txt": "a", "b.txt": "b", "c.txt": "c", "d.txt": "d"}
    result = merged_files(services, base, ours, theirs)
    assert result.conflicts == []
    assert result.tree == tree(services, {"a.txt": "a2", "b.txt": "b", "c.txt": "c", "d.txt": "d"})


def test_deletion_on_one_side_of_an_unchanged_file_merges(services: Services) -> None:
    base = {"a.txt": "a", "b.txt": "b"}
    result = merged_files(services, base, {"a.txt": "a"}, {"a.txt": "a", "b.txt": "b", "new.txt": "n"})
    assert result.conflicts == []
    assert result.tree == tree(services, {"a.txt": "a", "new.txt": "n"})


def test_add_add_with_the_same_content_is_no_conflict(services: Services) -> None:
    base = {"a.txt": "a"}
    both = {"a.txt": "a", "same.txt": "same content"}
    result = merged_files(services, base, both, both | {"other.txt": "o"})
    assert result.conflicts == []
    assert result.tree == tree(services, both | {"other.txt": "o"})


def test_add_add_with_different_content_conflicts(services: Services) -> None:
    base = {"a.txt": "a"}
    result = merged_files(services, base, base | {"new.txt": "mine"}, base | {"new.txt": "yours"})
    assert result.tree is None
    assert result.conflicts == ["new.txt"]


def test_modify_modify_differently_conflicts_and_lists_every_path(services: Services) -> None:
    base = {"a.txt": "a", "b.txt": "b", "c.txt": "c"}
    ours = {"a.txt": "a1", "b.txt": "b1", "c.txt": "c"}
    theirs = {"a.txt": "a2", "b.txt": "b2", "c.txt": "c2"}
    result = merged_files(services, base, ours, theirs)
    assert result.tree is None
    assert result.conflicts == ["a.txt", "b.txt"]


def test_delete_modify_conflicts_both_ways(services: Services) -> None:
    base = {"a.txt": "a", "b.txt": "b"}
    deleted_here = merged_files(services, base, {"b.txt": "b"}, {"a.txt": "changed", "b.txt": "b"})
    assert deleted_here.conflicts == ["a.txt"]
    deleted_there = merged_files(services, base, {"a.txt": "changed", "b.txt": "b"}, {"b.txt": "b"})
    assert deleted_there.conflicts == ["a.txt"]


def test_a_mode_change_counts_as_a_change(services: Services) -> None:
    base = tree(services, {"run.sh": "x", "a.txt": "a"})
    ours = tree(services, {"run.sh": "x", "a.txt": "a"}, {"run.sh": MODE_EXEC})
    theirs = tree(services, {"run.sh": "x", "a.txt": "a2"})
    result = merge_trees(services.git, base, ours, theirs)
    assert result.tree == tree(services, {"run.sh": "x", "a.txt": "a2"}, {"run.sh": MODE_EXEC})
    conflicting = merge_trees(services.git, base, ours, tree(services, {"run.sh": "y", "a.txt": "a"}))
    assert conflicting.conflicts == ["run.sh"]


def test_nested_folders_merge_file_by_file(services: Services) -> None:
    base = {"w/x/one.bin": "1", "w/x/two.bin": "2", "w/y/three.bin": "3", "top.md": "t"}
    ours = {"w/x/one.bin": "1 changed", "w/x/two.bin": "2", "w/y/three.bin": "3", "top.md": "t"}
    theirs = {"w/x/one.bin": "1", "w/x/two.bin": "2", "w/x/deeper/four.bin": "4", "top.md": "t2"}
    result = merged_files(services, base, ours, theirs)
    assert result.conflicts == []
    # theirs deleted w/y (untouched here) and added w/x/deeper; ours changed w/x/one.bin
    assert result.tree == tree(
        services, {"w/x/one.bin": "1 changed", "w/x/two.bin": "2", "w/x/deeper/four.bin": "4", "top.md": "t2"}
    )


def test_nested_conflicts_have_full_paths(services: Services) -> None:
    base = {"w/x/one.bin": "1", "w/keep.txt": "k"}
    result = merged_files(
        services,
        base,
        {"w/x/one.bin": "ours", "w/keep.txt": "k"},
        {"w/x/one.bin": "theirs", "w/keep.txt": "k"},
    )
    assert result.conflicts == ["w/x/one.bin"]


def test_a_folder_deleted_on_one_side_and_changed_inside_on_the_other_conflicts(services: Services) -> None:
    base = {"w/a.txt": "a", "w/b.txt": "b", "top.txt": "t"}
    ours = {"top.txt": "t"}  # the whole folder deleted
    theirs = {"w/a.txt": "a changed", "w/b.txt": "b", "top.txt": "t"}
    result = merged_files(services, base, ours, theirs)
    # w/b.txt was unchanged on their side: its deletion merges; w/a.txt was modified: a conflict
    assert result.conflicts == ["w/a.txt"]


def test_a_file_on_one_side_and_a_folder_on_the_other_conflicts(services: Services) -> None:
    base = {"keep.txt": "k"}
    result = merged_files(services, base, base | {"x": "a file"}, base | {"x/inner.txt": "a folder"})
    assert result.conflicts == ["x"]


def test_everything_deleted_on_one_side_gives_the_empty_tree(services: Services) -> None:
    base = {"a.txt": "a"}
    result = merged_files(services, base, base, {})
    assert result.conflicts == []
    assert result.tree == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree


def test_unrelated_histories_merge_when_they_do_not_overlap(services: Services) -> None:
    ours, theirs = tree(services, {"a.txt": "a"}), tree(services, {"b.txt": "b", "a.txt": "a"})
    assert merge_trees(services.git, None, ours, theirs).tree == theirs
    clash = tree(services, {"a.txt": "other"})
    assert merge_trees(services.git, None, ours, clash).conflicts == ["a.txt"]


def test_tree_changes_lists_files_in_path_order(services: Services) -> None:
    old = tree(services, {"a.txt": "a", "d/x.txt": "x", "d/y.txt": "y", "z": "z"})
    new = tree(services, {"a.txt": "a", "d/x.txt": "x2", "d/new.txt": "n", "z/inner.txt": "i"})
    changes = tree_changes(services.git, old, new)
    assert [(c.path, c.old is not None, c.new is not None) for c in changes] == [
        ("d/new.txt", False, True),
        ("d/x.txt", True, True),
        ("d/y.txt", True, False),
        ("z", True, False),
        ("z/inner.txt", False, True),
    ]
    assert changes[1] == Change("d/x.txt", (0o100644, blob("x")), (0o100644, blob("x2")))
    assert tree_changes(services.git, old, old) == []


# -- merge base ----------------------------------------------------------------------------------------------
def _commit(services: Services, files: dict[str, str], parents: list[str], when: int) -> str:
    from datetime import UTC, datetime

    c = make_commit(
        tree=tree(services, files),
        parents=parents,
        author="t",
        email="t@example.com",
        message=f"at {when}\n",
        when=datetime.fromtimestamp(when, UTC),
    )
    with services.hub.write() as s, s.begin():
        services.git.add_objects(s, [c])
    return c.id.decode()


def test_merge_base(services: Services) -> None:
    git = services.git
    root = _commit(services, {"a": "0"}, [], 100)
    m1 = _commit(services, {"a": "1"}, [root], 100)  # same second: ties are broken by walk order
    m2 = _commit(services, {"a": "2"}, [m1], 101)
    p1 = _commit(services, {"a": "1", "p": "1"}, [m1], 100)
    p2 = _commit(services, {"a": "1", "p": "2"}, [p1], 102)
    assert merge_base(git, m2, p2) == m1
    assert merge_base(git, p2, m2) == m1
    assert merge_base(git, m2, m1) == m1  # an ancestor is the base
    assert merge_base(git, m2, m2) == m2
    merged = _commit(services, {"a": "2", "p": "2"}, [m2, p2], 103)
    p3 = _commit(services, {"a": "1", "p": "3"}, [p2], 104)
    assert merge_base(git, merged, p3) == p2  # after a merge, the merged branch head is the base
    other_root = _commit(services, {"z": "z"}, [], 100)
    assert merge_base(git, m2, other_root) is None


# -- merging a pull request ----------------------------------------------------------------------------------
def _actor(svc: Services, name: str) -> Principal:
    user = svc.auth.ensure_user(name)
    return Principal(
        user_id=user.id, name=user.name, is_admin=False, role="write", token_name="t", token_created_at=""
    )


def _ops(svc: Services, files: dict[str, bytes | None]) -> list[Any]:
    ops: list[Any] = []
    for path, data in files.items():
        if data is None:
            ops.append(DeletePath(path=path, folder=False))
        else:
            ops.append(AddFile(path=path, blob=svc.hub.blobs.put_bytes(data), sent_as_lfs=False))
    return ops


def _commit_files(
    svc: Services, who: Principal, repo: Repo, branch: str, files: dict[str, bytes | None], **kw: Any
) -> Any:
    request = CommitRequest(summary=f"change {', '.join(files)}", operations=_ops(svc, files))
    return svc.commits.create_commit(who, repo, branch, request, **kw)


def _files(svc: Services, repo: Repo, revision: str) -> dict[str, bytes]:
    _, items = svc.files.list_tree(repo, revision, "", recursive=True)
    return {i.entry.path: svc.hub.blobs.read_all(i.meta.sha256, 1 << 20) for i in items if i.meta is not None}


@pytest.fixture
def world(services: Services) -> tuple[Services, Principal, Principal, Repo]:
    alice, bob = _actor(services, "alice"), _actor(services, "bob")
    repo = services.repos.create(alice, RepoType.MODEL, "m")
    _commit_files(services, alice, repo, "main", {"a.txt": b"a\n", "b.txt": b"b\n"})
    return services, alice, bob, repo


def test_merge_makes_a_two_parent_commit_on_main(world: Any) -> None:
    svc, alice, bob, repo = world
    opened = _commit_files(svc, bob, repo, "main", {"b.txt": b"b from bob\n"}, create_pr=True)
    assert opened.pr_num == 1
    main_before = svc.repos.resolve(repo, "main")
    _commit_files(svc, alice, repo, "main", {"a.txt": b"a2\n"})  # main moves on meanwhile
    main_head = svc.repos.resolve(repo, "main")
    assert main_head != main_before
    with pytest.raises(Forbidden):
        svc.merges.merge(bob, repo, 1)  # bob may not write to alice's repo
    outcome = svc.merges.merge(alice, repo, 1, "thanks")
    assert svc.repos.resolve(repo, "main") == outcome.commit
    parents = [p.decode() for p in svc.git.get_commit(outcome.commit).parents]
    assert parents == [main_head, opened.oid]
    assert _files(svc, repo, "main") == {
        ".gitattributes": _files(svc, repo, main_before)[".gitattributes"],
        "a.txt": b"a2\n",
        "b.txt": b"b from bob\n",
    }
    view = svc.discussions.get(alice, repo, 1)
    assert (view.status, view.merge_commit) == ("merged", outcome.commit)
    assert [e.type for e in view.events][-2:] == ["comment", "status-change"]
    with pytest.raises(Conflict, match="already merged"):
        svc.merges.merge(alice, repo, 1)


def test_a_conflicting_merge_changes_nothing(world: Any) -> None:
    svc, alice, bob, repo = world
    _commit_files(svc, bob, repo, "main", {"a.txt": b"bob's a\n"}, create_pr=True)
    _commit_files(svc, alice, repo, "main", {"a.txt": b"alice's a\n"})
    main_head = svc.repos.resolve(repo, "main")
    with pytest.raises(MergeConflict, match=r"a\.txt") as caught:
        svc.merges.merge(alice, repo, 1)
    assert caught.value.paths == ["a.txt"]
    assert svc.repos.resolve(repo, "main") == main_head
    view = svc.discussions.get(alice, repo, 1)
    assert view.status == "open"
    assert view.conflicts == ["a.txt"]
    # bob fixes his pull request (takes alice's version): it merges
    _commit_files(svc, bob, repo, "refs/pr/1", {"a.txt": b"alice's a\n", "c.txt": b"c\n"})
    assert svc.discussions.get(alice, repo, 1).conflicts == []
    outcome = svc.merges.merge(alice, repo, 1)
    assert _files(svc, repo, outcome.commit)["c.txt"] == b"c\n"


def test_a_push_to_main_during_the_merge_is_kept_and_the_merge_lands_once(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, alice, bob, repo = world
    _commit_files(svc, bob, repo, "main", {"b.txt": b"b from bob\n"}, create_pr=True)
    real = svc.commits.card_facts
    pushed: list[str] = []

    def facts_then_race(r: Repo, tree_oid: str) -> Any:
        # Runs between reading the heads and writing the merge: another writer lands on main right then.
        if not pushed:
            pushed.append(_commit_files(svc, alice, repo, "main", {"late.txt": b"late\n"}).oid)
        return real(r, tree_oid)

    monkeypatch.setattr(svc.commits, "card_facts", facts_then_race)
    outcome = svc.merges.merge(alice, repo, 1)
    first_parent = svc.git.get_commit(outcome.commit).parents[0].decode()
    assert first_parent == pushed[0]  # built again on the new head, not over it
    files = _files(svc, repo, "main")
    assert files["late.txt"] == b"late\n" and files["b.txt"] == b"b from bob\n"
    history, _ = svc.files.history(repo, "main", 0, 10)
    assert [c.title for c in history][:2] == ["Merge pull request #1: change b.txt", "change late.txt"]


def test_a_conflicting_push_to_main_during_the_merge_refuses_it(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, alice, bob, repo = world
    _commit_files(svc, bob, repo, "main", {"b.txt": b"b from bob\n"}, create_pr=True)
    real = svc.commits.card_facts
    pushed: list[str] = []

    def facts_then_race(r: Repo, tree_oid: str) -> Any:
        if not pushed:
            pushed.append(_commit_files(svc, alice, repo, "main", {"b.txt": b"b from alice\n"}).oid)
        return real(r, tree_oid)

    monkeypatch.setattr(svc.commits, "card_facts", facts_then_race)
    with pytest.raises(MergeConflict):
        svc.merges.merge(alice, repo, 1)
    assert svc.repos.resolve(repo, "main") == pushed[0]
    assert svc.discussions.get(alice, repo, 1).status == "open"


def test_pushes_to_a_pull_request(world: Any) -> None:
    svc, alice, bob, repo = world
    carol = _actor(svc, "carol")
    pr = svc.discussions.create(bob, repo, "Empty pull request", "to fill", pull_request=True)
    assert (pr.num, pr.status) == (1, "draft")
    assert svc.repos.resolve(repo, "refs/pr/1") == svc.repos.resolve(repo, "main")
    with pytest.raises(BadRequest):
        svc.merges.merge(alice, repo, 1)  # nothing to merge yet
    with pytest.raises(Forbidden):
        _commit_files(svc, carol, repo, "refs/pr/1", {"x.txt": b"x"})  # not carol's pull request
    _commit_files(svc, bob, repo, "refs/pr/1", {"x.txt": b"x"})
    _commit_files(svc, alice, repo, "refs/pr/1", {"y.txt": b"y"})  # a writer may push too
    view = svc.discussions.get(alice, repo, 1)
    assert view.status == "open"  # the first commit opened the draft
    assert [e.type for e in view.events] == ["comment", "commit", "commit"]
    svc.discussions.change_status(alice, repo, 1, "closed")
    with pytest.raises(Conflict, match="closed"):
        _commit_files(svc, bob, repo, "refs/pr/1", {"z.txt": b"z"})
    with pytest.raises(Conflict, match="closed"):
        svc.merges.merge(alice, repo, 1)
