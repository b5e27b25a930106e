"""TreeBuilder and GitStore on a real hub data dir, checked against what the `git` binary computes."""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.objects import Tree

from openmodelhub.protocol.digests import git_blob_sha1
from openmodelhub.services.container import Services
from openmodelhub.services.errors import EntryNotFound, PathConflict
from openmodelhub.services.gitstore import MODE_DIR, MODE_EXEC, MODE_FILE, GitStore
from openmodelhub.services.trees import LfsRules, TreeBuilder, commit_message, split_message
from openmodelhub.settings import Settings

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = Services.open(Settings(data_dir=tmp_path / "hub"))
    yield svc
    svc.close()


@pytest.fixture
def git(services: Services) -> GitStore:
    return services.git


def _store(services: Services, trees: list[Tree]) -> None:
    """Persist new trees the way a commit does (in a write transaction)."""
    with services.hub.write() as s, s.begin():
        services.git.add_objects(s, trees)


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=True)
    return out.stdout.decode().strip()


def git_write_tree(root: Path, files: dict[str, bytes], executable: frozenset[str] = frozenset()) -> str:
    """The tree id real git computes for these files (a fresh repo, `git add -A && git write-tree`)."""
    root.mkdir(parents=True)
    _git(root, "init", "-q")
    _git(root, "config", "core.autocrlf", "false")
    _git(root, "config", "core.filemode", "true")
    for path, data in files.items():
        p = root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        p.chmod(0o755 if path in executable else 0o644)
    _git(root, "add", "-A")
    return _git(root, "write-tree")


def build_files(git: GitStore, files: dict[str, bytes], base: str | None = None) -> tuple[str, list[Tree]]:
    builder = TreeBuilder(git, base)
    for path, data in files.items():
        builder.set_file(path, git_blob_sha1(data))
    return builder.build()


def listing(git: GitStore, tree: str) -> dict[str, str]:
    """path -> blob id of every file under a stored tree."""
    return {e.path: e.oid for e in git.iter_tree(tree, recursive=True) if not e.is_dir}


FILES = {
    "README.md": b"# model\n",
    ".gitattributes": b"*.bin filter=lfs diff=lfs merge=lfs -text\n",
    "config.json": b'{"a": 1}\n',
    # names whose order differs between plain sorting and git's (a folder sorts as "name/")
    "a/inner.txt": b"inside folder a",
    "a-b": b"dash",
    "a.txt": b"dot",
    "a0": b"zero",
    "b/a": b"in b",
    "b.txt": b"b dot",
    "nested/deep/er/still/file.txt": b"deep\n",
    "nested/deep/other.txt": b"other\n",
    "nested/x": b"",
    "with space/file name.txt": b"spaces",
    "unicodé/日本語.txt": "unicode content ☃".encode(),
    "emoji/😀.bin": bytes(range(256)),
    "c++/a+b#c.txt": b"plus hash",
}


def test_empty_builder_builds_the_empty_tree(git: GitStore) -> None:
    root, trees = TreeBuilder(git, None).build()
    assert root == EMPTY_TREE
    assert [t.id.decode() for t in trees] == [EMPTY_TREE]


def test_tree_ids_equal_git_write_tree(tmp_path: Path, services: Services, git: GitStore) -> None:
    root, trees = build_files(git, FILES)
    assert root == git_write_tree(tmp_path / "repo", FILES)
    _store(services, trees)
    assert listing(git, root) == {p: git_blob_sha1(d) for p, d in FILES.items()}


def test_edits_on_a_stored_base_equal_git(tmp_path: Path, services: Services, git: GitStore) -> None:
    base, trees = build_files(git, FILES)
    _store(services, trees)
    git = GitStore(services.hub.read)  # a cold cache: the base is read back from the database

    builder = TreeBuilder(git, base)
    builder.set_file("README.md", git_blob_sha1(b"# changed\n"))
    builder.set_file("nested/deep/new.txt", git_blob_sha1(b"new\n"))
    builder.set_file("brand/new/folder/f.txt", git_blob_sha1(b"f"))
    builder.delete_file("a-b")
    builder.delete_folder("emoji")
    builder.delete_file("nested/deep/er/still/file.txt")  # leaves nested/deep/er empty
    root, new_trees = builder.build()

    expected = dict(FILES)
    expected["README.md"] = b"# changed\n"
    expected["nested/deep/new.txt"] = b"new\n"
    expected["brand/new/folder/f.txt"] = b"f"
    del expected["a-b"], expected["emoji/😀.bin"], expected["nested/deep/er/still/file.txt"]
    assert root == git_write_tree(tmp_path / "repo", expected)

    # untouched folders are reused by id, not rebuilt
    new_ids = {t.id.decode() for t in new_trees}
    assert git.lookup(base, "unicodé").oid not in new_ids  # type: ignore[union-attr]
    assert git.lookup(base, "with space").oid not in new_ids  # type: ignore[union-attr]

    _store(services, new_trees)
    assert listing(git, root) == {p: git_blob_sha1(d) for p, d in expected.items()}
    assert git.lookup(root, "nested/deep/er") is None
    assert git.lookup(root, "emoji") is None


def test_unchanged_base_builds_no_new_trees(services: Services, git: GitStore) -> None:
    base, trees = build_files(git, FILES)
    _store(services, trees)
    builder = TreeBuilder(git, base)
    assert builder.get("README.md") == (MODE_FILE, git_blob_sha1(FILES["README.md"]))
    assert builder.build() == (base, [])


def test_set_file_twice_keeps_the_last(tmp_path: Path, git: GitStore) -> None:
    builder = TreeBuilder(git, None)
    builder.set_file("x/y.txt", git_blob_sha1(b"one"))
    builder.set_file("x/y.txt", git_blob_sha1(b"two"))
    assert builder.get("x/y.txt") == (MODE_FILE, git_blob_sha1(b"two"))
    root, _ = builder.build()
    assert root == git_write_tree(tmp_path / "repo", {"x/y.txt": b"two"})


def test_executable_mode_matches_git_and_survives_content_updates(
    tmp_path: Path, services: Services, git: GitStore
) -> None:
    builder = TreeBuilder(git, None)
    builder.set_file("run.sh", git_blob_sha1(b"#!/bin/sh\n"), MODE_EXEC)
    builder.set_file("data.txt", git_blob_sha1(b"data"))
    root, trees = builder.build()
    assert root == git_write_tree(
        tmp_path / "one", {"run.sh": b"#!/bin/sh\n", "data.txt": b"data"}, executable=frozenset({"run.sh"})
    )
    _store(services, trees)

    builder = TreeBuilder(git, root)
    builder.set_file("run.sh", git_blob_sha1(b"#!/bin/sh\necho\n"))  # mode stays 100755
    assert builder.get("run.sh") == (MODE_EXEC, git_blob_sha1(b"#!/bin/sh\necho\n"))
    root2, _ = builder.build()
    assert root2 == git_write_tree(
        tmp_path / "two",
        {"run.sh": b"#!/bin/sh\necho\n", "data.txt": b"data"},
        executable=frozenset({"run.sh"}),
    )


def test_empty_folders_disappear(tmp_path: Path, services: Services, git: GitStore) -> None:
    base, trees = build_files(git, {"keep.txt": b"k", "a/b/c/only.txt": b"o", "a/b/other.txt": b"x"})
    _store(services, trees)

    builder = TreeBuilder(git, base)
    builder.delete_file("a/b/c/only.txt")
    builder.delete_file("a/b/other.txt")
    root, _ = builder.build()
    assert root == git_write_tree(tmp_path / "repo", {"keep.txt": b"k"})

    # deleting the last file of the repo gives git's empty tree
    builder = TreeBuilder(git, base)
    for path in ("keep.txt", "a/b/c/only.txt", "a/b/other.txt"):
        builder.delete_file(path)
    assert builder.build()[0] == EMPTY_TREE


def test_a_folder_created_and_emptied_in_one_build_disappears(git: GitStore) -> None:
    builder = TreeBuilder(git, None)
    builder.set_file("keep", git_blob_sha1(b"k"))
    builder.set_file("tmp/deep/x", git_blob_sha1(b"x"))
    builder.delete_file("tmp/deep/x")
    root, trees = builder.build()
    assert root == build_files(git, {"keep": b"k"})[0]
    assert all(t.items() for t in trees)


def test_delete_folder(tmp_path: Path, services: Services, git: GitStore) -> None:
    base, trees = build_files(git, FILES)
    _store(services, trees)

    builder = TreeBuilder(git, base)
    builder.delete_folder("nested/deep")
    root, _ = builder.build()
    expected = {p: d for p, d in FILES.items() if not p.startswith("nested/deep/")}
    assert root == git_write_tree(tmp_path / "repo", expected)

    builder = TreeBuilder(git, base)
    builder.delete_folder("")  # the root: everything goes
    assert builder.build()[0] == EMPTY_TREE

    builder = TreeBuilder(git, base)
    builder.delete_folder("")
    builder.set_file("fresh.txt", git_blob_sha1(b"fresh"))
    assert builder.build()[0] == git_write_tree(tmp_path / "fresh", {"fresh.txt": b"fresh"})


@pytest.mark.parametrize("path", ["README.md/x", "a-b/c/d", "nested/x/y"])
def test_file_under_a_file_is_a_conflict(services: Services, git: GitStore, path: str) -> None:
    base, trees = build_files(git, FILES)
    _store(services, trees)
    builder = TreeBuilder(git, base)
    with pytest.raises(PathConflict):
        builder.set_file(path, git_blob_sha1(b"x"))
    assert builder.build()[0] == base  # nothing changed


@pytest.mark.parametrize("path", ["a", "nested", "nested/deep", "b"])
def test_file_over_a_folder_is_a_conflict(services: Services, git: GitStore, path: str) -> None:
    base, trees = build_files(git, FILES)
    _store(services, trees)
    with pytest.raises(PathConflict):
        TreeBuilder(git, base).set_file(path, git_blob_sha1(b"x"))


def test_conflicts_within_one_build(git: GitStore) -> None:
    builder = TreeBuilder(git, None)
    builder.set_file("f", git_blob_sha1(b"f"))
    builder.set_file("d/g", git_blob_sha1(b"g"))
    with pytest.raises(PathConflict):
        builder.set_file("f/g", git_blob_sha1(b"x"))
    with pytest.raises(PathConflict):
        builder.set_file("d", git_blob_sha1(b"x"))


@pytest.mark.parametrize(
    "path", ["missing.txt", "a", "nested/deep", "nested/nope/x", "README.md/x", "zzz/yyy", "nested/x/y"]
)
def test_delete_file_missing_or_a_folder_is_entry_not_found(
    services: Services, git: GitStore, path: str
) -> None:
    base, trees = build_files(git, FILES)
    _store(services, trees)
    with pytest.raises(EntryNotFound):
        TreeBuilder(git, base).delete_file(path)


@pytest.mark.parametrize("path", ["missing", "README.md", "nested/x", "nested/nope", "README.md/x"])
def test_delete_folder_missing_or_a_file_is_entry_not_found(
    services: Services, git: GitStore, path: str
) -> None:
    base, trees = build_files(git, FILES)
    _store(services, trees)
    with pytest.raises(EntryNotFound):
        TreeBuilder(git, base).delete_folder(path)


def test_delete_in_an_empty_repo(git: GitStore) -> None:
    with pytest.raises(EntryNotFound):
        TreeBuilder(git, None).delete_file("x")
    with pytest.raises(EntryNotFound):
        TreeBuilder(git, None).delete_folder("x")


def test_get_reports_files_only(services: Services, git: GitStore) -> None:
    base, trees = build_files(git, FILES)
    _store(services, trees)
    builder = TreeBuilder(git, base)
    assert builder.get("nested/x") == (MODE_FILE, git_blob_sha1(b""))
    assert builder.get("nested") is None
    assert builder.get("nested/deep") is None
    assert builder.get("missing") is None
    assert builder.get("README.md/x") is None
    builder.set_file("new/file", git_blob_sha1(b"n"))
    assert builder.get("new/file") == (MODE_FILE, git_blob_sha1(b"n"))
    assert builder.get("new") is None


def test_gitstore_lookup_and_iter_tree(services: Services, git: GitStore) -> None:
    root, trees = build_files(git, FILES)
    _store(services, trees)
    assert git.lookup(root, "") is not None
    entry = git.lookup(root, "nested/deep/other.txt")
    assert entry is not None
    assert (entry.mode, entry.oid, entry.is_dir) == (MODE_FILE, git_blob_sha1(b"other\n"), False)
    folder = git.lookup(root, "nested/deep")
    assert folder is not None
    assert folder.is_dir
    assert folder.mode == MODE_DIR
    assert git.lookup(root, "nested/missing") is None
    assert git.lookup(root, "README.md/x") is None

    top = [e.path for e in git.iter_tree(root)]
    # git order: "a-b" < "a.txt" < "a/" < "a0"
    assert top.index("a-b") < top.index("a.txt") < top.index("a") < top.index("a0")
    everything = list(git.iter_tree(root, recursive=True))
    paths = [e.path for e in everything]
    assert paths.index("nested") < paths.index("nested/deep") < paths.index("nested/deep/other.txt")
    assert {e.path for e in everything if not e.is_dir} == set(FILES)


def test_objects_are_stored_once(services: Services, git: GitStore) -> None:
    from sqlalchemy import func, select

    from openmodelhub.db.models import GitObject

    root, trees = build_files(git, FILES)
    with services.hub.read() as s:
        before = s.scalar(select(func.count()).select_from(GitObject))
    _store(services, trees)
    _store(services, trees)  # again: no duplicate-key error, nothing added
    with services.hub.read() as s:
        after = s.scalar(select(func.count()).select_from(GitObject))
        assert s.get(GitObject, root) is not None
    assert after == (before or 0) + len({t.id for t in trees})


# -- messages ------------------------------------------------------------------------------------------------


def test_commit_message_round_trip() -> None:
    assert commit_message("  Title ", "") == "Title\n"
    assert commit_message("", "") == "Update files\n"
    msg = commit_message("Title", "Body line 1\nline 2\n")
    assert msg == "Title\n\nBody line 1\nline 2\n"
    assert split_message(msg) == ("Title", "Body line 1\nline 2")
    assert split_message("Only title\n") == ("Only title", "")


# -- .gitattributes ------------------------------------------------------------------------------------------


GITATTRIBUTES = """\
# Hub default rules
*.bin filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text

saved_model/**/* filter=lfs diff=lfs merge=lfs -text
   # indented comment
small.bin -filter
docs/*.bin !filter
*.txt text
keep/*.bin filter=other
"""


@pytest.mark.parametrize(
    ("path", "lfs"),
    [
        ("model.bin", True),
        ("sub/dir/model.bin", True),
        ("model.safetensors", True),
        ("model.bin.txt", False),
        ("model.BIN", False),
        ("saved_model/variables/variables.data-00000-of-00001", True),
        ("saved_model/saved_model.pb", True),
        ("saved_model", False),
        ("other/saved_model/x.pb", False),
        ("small.bin", False),  # a later `-filter` overrides `*.bin`
        ("sub/small.bin", False),
        ("docs/a.bin", False),
        ("docs/deeper/a.bin", True),
        ("keep/x.bin", False),  # a different filter is not LFS
        ("README.md", False),
        ("notes.txt", False),
        ("# Hub default rules", False),
    ],
)
def test_lfs_rules(path: str, lfs: bool) -> None:
    assert LfsRules(GITATTRIBUTES).is_lfs(path) is lfs


def test_lfs_rules_order_matters() -> None:
    rules = LfsRules("big.bin -filter\n*.bin filter=lfs\n")
    assert rules.is_lfs("big.bin")  # the later, broader rule wins
    assert LfsRules("*.bin filter=lfs\nbig.bin -filter\n").is_lfs("big.bin") is False


@pytest.mark.parametrize("text", [None, "", "\n\n", "# only a comment\n", "*.bin text\n", "*.bin\n"])
def test_lfs_rules_without_filter_lines_match_nothing(text: str | None) -> None:
    rules = LfsRules(text)
    assert not rules.is_lfs("model.bin")
    assert not rules.is_lfs("a/b/c")


def test_lfs_rules_windows_line_endings() -> None:
    rules = LfsRules("*.bin filter=lfs diff=lfs merge=lfs -text\r\n*.gguf filter=lfs\r\n")
    assert rules.is_lfs("x.bin")
    assert rules.is_lfs("x.gguf")
