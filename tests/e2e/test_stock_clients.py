"""Stock `huggingface_hub`, the `hf` CLI, `transformers` and `datasets` against a real `omh serve`.

conftest.py points HF_ENDPOINT at the session hub before this module imports huggingface_hub.
"""

import hashlib
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from huggingface_hub import (
    HfApi,
    HfFileSystem,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

HF_CLI = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "hf")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def files_of(root: Path) -> dict[str, str]:
    """sha256 of every file under root, keyed by relative posix path (download metadata is skipped)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(".cache/"):
            out[rel] = sha256_file(p)
    return out


def git_hash_object(data: bytes) -> str:
    result = subprocess.run(
        ["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True, timeout=60
    )
    return result.stdout.decode().strip()


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"git {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def lfs_pointer(data: bytes) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\nsize {len(data)}\n".encode()


@pytest.fixture
def api(hub, accounts) -> HfApi:
    return HfApi(token=accounts.alice)


# -- a real model, end to end --------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.xdist_group("minilm")
def test_minilm_upload_download_and_transformers(
    api: HfApi, accounts, minilm_dir: Path, repo_name: str, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    src = tmp_path / "minilm"
    shutil.copytree(minilm_dir, src)
    repo_id = f"alice/{repo_name}"
    api.create_repo(repo_id)
    api.upload_folder(folder_path=src, repo_id=repo_id, commit_message="Upload MiniLM")

    expected = files_of(src)
    assert "model.safetensors" in expected
    tree = {f.path: f for f in api.list_repo_tree(repo_id, recursive=True) if isinstance(f, RepoFile)}
    assert set(tree) == set(expected)
    weights = tree["model.safetensors"]
    assert weights.size == (src / "model.safetensors").stat().st_size
    assert weights.lfs is not None and weights.lfs.sha256 == expected["model.safetensors"]

    cache = tmp_path / "cache"
    snap = Path(snapshot_download(repo_id, token=accounts.alice, cache_dir=cache))
    assert files_of(snap) == expected

    sentence = "OpenModelHub serves models to stock clients."

    def embed(source: str | Path, **kwargs: object) -> torch.Tensor:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModel.from_pretrained(source, **kwargs).eval()
        batch = tokenizer([sentence], return_tensors="pt")
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1)

    local = embed(minilm_dir)
    remote = embed(repo_id, token=accounts.alice, cache_dir=tmp_path / "tf-cache")
    assert local.shape == (1, 384)
    assert torch.allclose(local, remote, atol=1e-6)


# -- one repo with branches, tags and a known history --------------------------------------------------------
@dataclass
class History:
    repo_id: str
    initial: str
    c1: str  # main: notes.txt v1
    c2: str  # main: sub/dir/a.txt, weights.bin (LFS by .gitattributes); tag v1
    c3: str  # dev: notes.txt v2
    c4: str  # main: notes.txt v3
    c5: str  # main: tmp.txt
    c6: str  # main: tmp.txt deleted
    weights: bytes


NOTES_V1 = b"version one of the notes, written on main\n"
NOTES_DEV = b"version two of the notes, written on dev\n"
NOTES_V3 = b"version three of the notes, back on main\n"
A_TXT = b"alpha in a sub directory\n"


@pytest.fixture(scope="module")
def history(hub, accounts) -> History:
    from huggingface_hub import CommitOperationAdd

    api = HfApi(token=accounts.alice)
    repo_id = f"alice/history-{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id)
    initial = api.list_repo_commits(repo_id)[0].commit_id
    c1 = api.upload_file(
        path_or_fileobj=NOTES_V1, path_in_repo="notes.txt", repo_id=repo_id, commit_message="add notes v1"
    ).oid
    weights = bytes(range(256)) * 40
    c2 = api.create_commit(
        repo_id,
        [
            CommitOperationAdd("sub/dir/a.txt", A_TXT),
            CommitOperationAdd("weights.bin", weights),
        ],
        commit_message="add sub and weights",
    ).oid
    api.create_tag(repo_id, tag="v1", tag_message="first release")
    api.create_branch(repo_id, branch="dev")
    c3 = api.upload_file(
        path_or_fileobj=NOTES_DEV,
        path_in_repo="notes.txt",
        repo_id=repo_id,
        revision="dev",
        commit_message="notes on dev",
    ).oid
    c4 = api.upload_file(
        path_or_fileobj=NOTES_V3, path_in_repo="notes.txt", repo_id=repo_id, commit_message="notes v3"
    ).oid
    c5 = api.upload_file(
        path_or_fileobj=b"temporary\n", path_in_repo="tmp.txt", repo_id=repo_id, commit_message="add tmp"
    ).oid
    c6 = api.delete_file("tmp.txt", repo_id, commit_message="remove tmp").oid
    ids = [initial, c1, c2, c3, c4, c5, c6]
    assert all(len(c) == 40 and c == c.lower() for c in ids) and len(set(ids)) == len(ids)
    return History(repo_id, initial, c1, c2, c3, c4, c5, c6, weights)


def test_download_by_branch_tag_and_commit(history: History, accounts, tmp_path: Path) -> None:
    def get(revision: str | None, filename: str = "notes.txt") -> bytes:
        path = hf_hub_download(
            history.repo_id, filename, revision=revision, token=accounts.alice, cache_dir=tmp_path
        )
        return Path(path).read_bytes()

    assert get(None) == NOTES_V3
    assert get("main") == NOTES_V3
    assert get("dev") == NOTES_DEV
    assert get("v1") == NOTES_V1
    assert get(history.c1) == NOTES_V1
    assert get(history.c3) == NOTES_DEV
    assert get(history.c4) == NOTES_V3
    assert get("v1", "weights.bin") == history.weights
    assert get("dev", "sub/dir/a.txt") == A_TXT
    assert get(history.c5, "tmp.txt") == b"temporary\n"
    # The snapshot folders are named after the commit each revision resolves to.
    refs = tmp_path / f"models--{history.repo_id.replace('/', '--')}" / "refs"
    assert (refs / "main").read_text() == history.c6
    assert (refs / "dev").read_text() == history.c3
    assert (refs / "v1").read_text() == history.c2


def test_refs_and_commits(history: History, accounts) -> None:
    api = HfApi(token=accounts.alice)
    refs = api.list_repo_refs(history.repo_id)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": history.c6, "dev": history.c3}
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": history.c2}
    assert {b.ref for b in refs.branches} == {"refs/heads/main", "refs/heads/dev"}
    assert refs.converts == []

    main = api.list_repo_commits(history.repo_id)
    assert [c.commit_id for c in main] == [
        history.c6,
        history.c5,
        history.c4,
        history.c2,
        history.c1,
        history.initial,
    ]
    assert [c.title for c in main[:5]] == [
        "remove tmp",
        "add tmp",
        "notes v3",
        "add sub and weights",
        "add notes v1",
    ]
    assert all(c.created_at.tzinfo is not None for c in main)
    assert main[0].created_at >= main[-1].created_at
    assert "alice" in main[0].authors

    dev = api.list_repo_commits(history.repo_id, revision="dev")
    assert [c.commit_id for c in dev] == [history.c3, history.c2, history.c1, history.initial]
    assert [c.commit_id for c in api.list_repo_commits(history.repo_id, revision="v1")] == [
        history.c2,
        history.c1,
        history.initial,
    ]


def test_tree_and_paths_info(history: History, accounts) -> None:
    api = HfApi(token=accounts.alice)
    entries = list(api.list_repo_tree(history.repo_id, recursive=True))
    kinds = {e.path: type(e) for e in entries}
    assert kinds == {
        ".gitattributes": RepoFile,
        "notes.txt": RepoFile,
        "sub": RepoFolder,
        "sub/dir": RepoFolder,
        "sub/dir/a.txt": RepoFile,
        "weights.bin": RepoFile,
    }
    by_path = {e.path: e for e in entries}
    assert by_path["notes.txt"].size == len(NOTES_V3)
    assert by_path["notes.txt"].lfs is None
    assert by_path["weights.bin"].size == len(history.weights)
    assert by_path["weights.bin"].lfs is not None

    top = {e.path: type(e) for e in api.list_repo_tree(history.repo_id)}
    assert top == {
        ".gitattributes": RepoFile,
        "notes.txt": RepoFile,
        "sub": RepoFolder,
        "weights.bin": RepoFile,
    }

    sub = {e.path for e in api.list_repo_tree(history.repo_id, path_in_repo="sub", recursive=True)}
    assert sub == {"sub/dir", "sub/dir/a.txt"}
    assert {e.path for e in api.list_repo_tree(history.repo_id, path_in_repo="sub/dir")} == {"sub/dir/a.txt"}
    # Older revisions keep their own trees.
    assert "tmp.txt" in {e.path for e in api.list_repo_tree(history.repo_id, revision=history.c5)}
    assert "sub" not in {e.path for e in api.list_repo_tree(history.repo_id, revision=history.c1)}
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(history.repo_id, path_in_repo="no/such/dir"))
    with pytest.raises(RevisionNotFoundError):
        list(api.list_repo_tree(history.repo_id, revision="no-such-branch"))

    info = api.get_paths_info(history.repo_id, ["notes.txt", "sub", "missing.txt", "weights.bin"])
    got = {e.path: e for e in info}
    assert set(got) == {"notes.txt", "sub", "weights.bin"}
    assert isinstance(got["notes.txt"], RepoFile) and got["notes.txt"].size == len(NOTES_V3)
    assert isinstance(got["sub"], RepoFolder)
    assert got["sub"].tree_id == by_path["sub"].tree_id
    assert got["weights.bin"].blob_id == by_path["weights.bin"].blob_id
    dev_info = api.get_paths_info(history.repo_id, ["notes.txt"], revision="dev")
    assert [e.size for e in dev_info] == [len(NOTES_DEV)]
    assert api.get_paths_info(history.repo_id, ["missing.txt"]) == []


def test_hf_file_system(history: History, accounts) -> None:
    fs = HfFileSystem(token=accounts.alice)
    names = set(fs.ls(history.repo_id, detail=False))
    assert {
        f"{history.repo_id}/notes.txt",
        f"{history.repo_id}/sub",
        f"{history.repo_id}/weights.bin",
    } <= names
    assert fs.ls(f"{history.repo_id}/sub/dir", detail=False) == [f"{history.repo_id}/sub/dir/a.txt"]
    with fs.open(f"{history.repo_id}/notes.txt", "rb", cache_type="none") as f:
        f.seek(5)
        assert f.read(10) == NOTES_V3[5:15]
    with fs.open(f"{history.repo_id}/weights.bin", "rb") as f:
        f.seek(300)
        assert f.read(100) == history.weights[300:400]
    with fs.open(f"{history.repo_id}@dev/notes.txt", "rb") as f:
        f.seek(5)
        assert f.read(10) == NOTES_DEV[5:15]
    assert fs.cat_file(f"{history.repo_id}/notes.txt") == NOTES_V3
    assert fs.info(f"{history.repo_id}/weights.bin")["size"] == len(history.weights)
    assert fs.exists(f"{history.repo_id}/sub/dir/a.txt")
    assert not fs.exists(f"{history.repo_id}/tmp.txt")


def test_typed_errors_and_exists(history: History, accounts, tmp_path: Path) -> None:
    api = HfApi(token=accounts.alice)
    repo = history.repo_id
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/does-not-exist", "notes.txt", token=accounts.alice, cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("alice/does-not-exist")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo, "notes.txt", revision="nope", token=accounts.alice, cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo, revision="nope")
    with pytest.raises(RemoteEntryNotFoundError) as exc_info:
        hf_hub_download(repo, "missing.txt", token=accounts.alice, cache_dir=tmp_path)
    assert isinstance(exc_info.value, EntryNotFoundError)
    # The miss is recorded for the commit main points at (needs X-Repo-Commit on the 404).
    no_exist = tmp_path / f"models--{repo.replace('/', '--')}" / ".no_exist" / history.c6 / "missing.txt"
    assert no_exist.exists()

    assert api.repo_exists(repo)
    assert not api.repo_exists("alice/does-not-exist")
    assert not api.repo_exists(repo, repo_type="dataset")
    assert api.file_exists(repo, "notes.txt")
    assert api.file_exists(repo, "sub/dir/a.txt")
    assert not api.file_exists(repo, "tmp.txt")
    assert api.file_exists(repo, "tmp.txt", revision=history.c5)
    assert not api.file_exists(repo, "notes.txt", revision=history.initial)
    assert api.file_exists(repo, "notes.txt", revision="dev")
    assert api.revision_exists(repo, "main")
    assert api.revision_exists(repo, "dev")
    assert api.revision_exists(repo, "v1")
    assert api.revision_exists(repo, history.c3)
    assert not api.revision_exists(repo, "no-such-branch")
    assert not api.revision_exists(repo, "0" * 40)


def test_list_models(history: History, accounts, api: HfApi) -> None:
    name = history.repo_id.split("/")[1]
    found = [m.id for m in api.list_models(search=name)]
    assert found == [history.repo_id]
    assert history.repo_id in {m.id for m in api.list_models(author="alice")}
    assert history.repo_id not in {m.id for m in api.list_models(author="bob")}
    assert [m.id for m in api.list_models(search=f"{name}-not-there")] == []
    full = [m for m in api.list_models(search=name, full=True)]
    assert full[0].sha == history.c6
    assert {s.rfilename for s in full[0].siblings or []} == {
        ".gitattributes",
        "notes.txt",
        "sub/dir/a.txt",
        "weights.bin",
    }


# -- the hf CLI ----------------------------------------------------------------------------------------------
def run_hf(token: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_TOKEN": token}
    env.pop("HF_HUB_DISABLE_IMPLICIT_TOKEN", None)
    result = subprocess.run([HF_CLI, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert result.returncode == 0, f"hf {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_hf_cli_upload_and_download(accounts, repo_name: str, tmp_path: Path) -> None:
    repo_id = f"alice/{repo_name}"
    first = tmp_path / "first"
    (first / "nested").mkdir(parents=True)
    (first / "config.json").write_text('{"model_type": "bert"}\n')
    (first / "nested" / "data.txt").write_text("nested data\n")
    second = tmp_path / "second"
    second.mkdir()
    (second / "config.json").write_text('{"model_type": "roberta"}\n')
    (second / "extra.txt").write_text("only on the new branch\n")

    out = run_hf(accounts.alice, "upload", repo_id, str(first))
    assert f"/{repo_id}/" in out.stdout or f"/{repo_id}" in out.stdout
    run_hf(accounts.alice, "upload", repo_id, str(second), ".", "--revision", "newbranch")

    api = HfApi(token=accounts.alice)
    refs = api.list_repo_refs(repo_id)
    assert {b.name for b in refs.branches} == {"main", "newbranch"}
    assert set(api.list_repo_files(repo_id)) == {".gitattributes", "config.json", "nested/data.txt"}
    assert set(api.list_repo_files(repo_id, revision="newbranch")) == {
        ".gitattributes",
        "config.json",
        "nested/data.txt",
        "extra.txt",
    }

    one = tmp_path / "one"
    run_hf(accounts.alice, "download", repo_id, "config.json", "--local-dir", str(one))
    assert (one / "config.json").read_text() == '{"model_type": "bert"}\n'
    assert not (one / "nested").exists()

    whole = tmp_path / "whole"
    run_hf(accounts.alice, "download", repo_id, "--local-dir", str(whole))
    got = {k for k in files_of(whole)}
    assert got == {".gitattributes", "config.json", "nested/data.txt"}
    assert (whole / "nested" / "data.txt").read_text() == "nested data\n"

    branch = tmp_path / "branch"
    run_hf(accounts.alice, "download", repo_id, "--revision", "newbranch", "--local-dir", str(branch))
    assert (branch / "config.json").read_text() == '{"model_type": "roberta"}\n'
    assert (branch / "extra.txt").read_text() == "only on the new branch\n"
    assert (branch / "nested" / "data.txt").read_text() == "nested data\n"


# -- datasets ------------------------------------------------------------------------------------------------
def test_dataset_csv_with_load_dataset(api: HfApi, accounts, repo_name: str, tmp_path: Path) -> None:
    import datasets

    repo_id = f"alice/{repo_name}"
    api.create_repo(repo_id, repo_type="dataset")
    csv = "text,label\nhello world,0\nopen model hub,1\nthird row,1\n"
    api.upload_file(
        path_or_fileobj=csv.encode(), path_in_repo="data/train.csv", repo_id=repo_id, repo_type="dataset"
    )
    assert api.dataset_info(repo_id).sha == api.list_repo_commits(repo_id, repo_type="dataset")[0].commit_id

    ds = datasets.load_dataset(repo_id, token=accounts.alice, cache_dir=str(tmp_path / "ds-cache"))
    assert list(ds) == ["train"]
    train = ds["train"]
    assert train.column_names == ["text", "label"]
    assert train.num_rows == 3
    assert train["text"] == ["hello world", "open model hub", "third row"]
    assert train["label"] == [0, 1, 1]


# -- git object ids ------------------------------------------------------------------------------------------
def test_tree_oids_are_git_blob_ids(api: HfApi, accounts, repo_name: str, tmp_path: Path) -> None:
    from huggingface_hub import CommitOperationAdd

    repo_id = f"alice/{repo_name}"
    api.create_repo(repo_id)
    contents = {
        "README.md": b"---\nlicense: mit\n---\n# A model\n",
        "config.json": b'{"hidden_size": 8}\n',
        "empty.txt": b"",
        "dir/unicode-\u00e9 +x.txt": "d\u00e9j\u00e0 vu\n".encode(),
        "weights.bin": os.urandom(4096),  # LFS by .gitattributes
        "model.safetensors": b"\x00" * 1000 + b"tail",  # LFS by .gitattributes
    }
    api.create_commit(
        repo_id, [CommitOperationAdd(p, data) for p, data in contents.items()], commit_message="files"
    )
    entries = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True) if isinstance(e, RepoFile)}
    assert set(entries) == {*contents, ".gitattributes"}
    lfs_paths = {p for p, e in entries.items() if e.lfs is not None}
    assert lfs_paths == {"weights.bin", "model.safetensors"}
    for path, data in contents.items():
        e = entries[path]
        assert e.size == len(data), path
        if e.lfs is not None:
            assert e.lfs.sha256 == hashlib.sha256(data).hexdigest(), path
            assert e.lfs.size == len(data)
            assert e.lfs.pointer_size == len(lfs_pointer(data))
            assert e.blob_id == git_hash_object(lfs_pointer(data)), path
        else:
            assert e.blob_id == git_hash_object(data), path
    gitattributes = Path(hf_hub_download(repo_id, ".gitattributes", token=accounts.alice, cache_dir=tmp_path))
    assert entries[".gitattributes"].blob_id == git_hash_object(gitattributes.read_bytes())
    # The same ids come back from paths-info and from the HEAD ETag.
    info = {e.path: e for e in api.get_paths_info(repo_id, list(contents))}
    assert {p: e.blob_id for p, e in info.items()} == {p: entries[p].blob_id for p in contents}
    meta = api.get_hf_file_metadata(url=_resolve_url(repo_id, "config.json"))
    assert meta.etag == entries["config.json"].blob_id
    meta = api.get_hf_file_metadata(url=_resolve_url(repo_id, "weights.bin"))
    assert meta.etag == hashlib.sha256(contents["weights.bin"]).hexdigest()
    assert meta.size == len(contents["weights.bin"])


def _resolve_url(repo_id: str, filename: str) -> str:
    from huggingface_hub import hf_hub_url

    return hf_hub_url(repo_id, filename)


# -- export --------------------------------------------------------------------------------------------------
def test_export_is_a_valid_git_repository(history: History, hub, accounts, tmp_path: Path) -> None:
    api = HfApi(token=accounts.alice)
    dest = tmp_path / "export.git"
    hub.cli("export", history.repo_id, str(dest))
    fsck = subprocess.run(
        ["git", "-C", str(dest), "fsck", "--full", "--strict"], capture_output=True, text=True, timeout=120
    )
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr

    main = git("-C", str(dest), "log", "--format=%H", "main").split()
    assert main == [c.commit_id for c in api.list_repo_commits(history.repo_id)]
    dev = git("-C", str(dest), "log", "--format=%H", "dev").split()
    assert dev == [c.commit_id for c in api.list_repo_commits(history.repo_id, revision="dev")]
    assert git("-C", str(dest), "rev-parse", "v1^{commit}").strip() == history.c2
    subjects = git("-C", str(dest), "log", "--format=%s", "main").splitlines()
    assert subjects == [c.title for c in api.list_repo_commits(history.repo_id)]

    # File contents and tree ids agree with the API; LFS files are exported as pointers.
    assert git("-C", str(dest), "show", "main:notes.txt").encode() == NOTES_V3
    assert git("-C", str(dest), "show", "dev:notes.txt").encode() == NOTES_DEV
    assert git("-C", str(dest), "show", "main:weights.bin").encode() == lfs_pointer(history.weights)
    tree = {e.path: e for e in api.list_repo_tree(history.repo_id, recursive=True)}
    ls = git("-C", str(dest), "ls-tree", "-r", "-t", "main").splitlines()
    listed = {}
    for line in ls:
        meta, path = line.split("\t", 1)
        listed[path] = meta.split()[2]
    assert set(listed) == set(tree)
    for path, e in tree.items():
        assert listed[path] == (e.blob_id if isinstance(e, RepoFile) else e.tree_id), path
