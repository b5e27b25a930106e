"""`omh fsck` on a hub that stock huggingface_hub uploaded to: clean after real uploads (regular files, LFS
single and multipart uploads, a deleted branch, a deleted repo), `--repair` collects the deleted repo's files,
and a lost stored object makes it exit 1 naming the file's path in the repo.

The client runs in a subprocess (huggingface_hub reads HF_ENDPOINT and HF_HUB_DISABLE_XET at import time).
"""

import hashlib
import json
import random
import textwrap
from pathlib import Path
from typing import Any

import pytest

from openmodelhub.services.repos import default_gitattributes
from openmodelhub.settings import Settings
from openmodelhub.storage import BlobStore, make_blob_store
from tests.support.server import HubServer, run_client

pytestmark = pytest.mark.slow

MB = 1000 * 1000
SETTINGS = {
    "OMH_PREUPLOAD_LFS_THRESHOLD": str(1 * MB),
    "OMH_LFS_MULTIPART_THRESHOLD": str(3 * MB),
    "OMH_LFS_MULTIPART_CHUNK_SIZE": str(1 * MB),
    # No background packing of LFS uploads into xorbs: its writes would race `--repair --grace 0` below, which
    # is only safe on a hub nobody writes to (docs/operations.md).
    "OMH_XET_INDEX_UPLOADS": "0",
}

CLIENT = textwrap.dedent(
    """
    import json
    from huggingface_hub import HfApi

    folder, scratch, dev_file = json.loads(r'''{args}''')
    api = HfApi()
    api.create_repo("alice/checked")
    api.upload_folder(folder_path=folder, repo_id="alice/checked", commit_message="model")
    api.create_branch("alice/checked", branch="dev")
    api.upload_file(path_or_fileobj=dev_file, path_in_repo="dev.txt", repo_id="alice/checked", revision="dev")
    api.delete_branch("alice/checked", branch="dev")
    api.create_repo("alice/scratch")
    api.upload_file(path_or_fileobj=scratch, path_in_repo="scratch.bin", repo_id="alice/scratch")
    api.delete_repo("alice/scratch")
    print("DONE")
    """
)


def _fsck(hub: HubServer, *args: str) -> tuple[int, str, dict[str, Any] | None]:
    """(exit code, output, the JSON report when --json was given)."""
    result = hub.cli("fsck", *args, check=False)
    assert result.returncode in (0, 1), (
        f"omh fsck crashed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    report = json.loads(result.stdout) if "--json" in args else None
    return result.returncode, result.stdout + result.stderr, report


def _store(hub: HubServer) -> BlobStore:
    """The hub's blob store (local or S3, as its settings say), to reach behind its back."""
    options = {k[len("OMH_") :].lower(): v for k, v in hub.env.items() if k.startswith("OMH_")}
    options["data_dir"] = str(hub.data_dir)
    return make_blob_store(Settings(**options))  # type: ignore[arg-type]


def _delete_stored(hub: HubServer, sha256: str) -> None:
    store = _store(hub)
    assert store.exists(sha256)
    store.delete(sha256)


def _client_env(hub: HubServer, token: str, tmp_path: Path, *, xet: bool) -> dict[str, str]:
    env = {
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": token,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "",
    }
    if not xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    return env


def test_fsck_after_real_lfs_uploads(fresh_hub: HubServer, tmp_path: Path) -> None:
    fresh_hub.env.update(SETTINGS)
    fresh_hub.start()
    fresh_hub.create_user("alice")
    token = fresh_hub.create_token("alice")
    rng = random.Random(8)
    folder = tmp_path / "model"
    (folder / "weights").mkdir(parents=True)
    files = {
        "README.md": b"# checked\n",
        "config.json": b'{"model_type": "bert"}\n',
        "weights/model.safetensors": rng.randbytes(2 * MB),  # LFS, one PUT
        "weights/big.bin": rng.randbytes(int(3.5 * MB)),  # LFS, multipart
    }
    for path, data in files.items():
        (folder / path).write_bytes(data)
    scratch, dev_file = tmp_path / "scratch.bin", tmp_path / "dev.txt"
    scratch.write_bytes(rng.randbytes(1000))
    dev_file.write_bytes(b"only on a deleted branch\n")
    args = json.dumps([str(folder), str(scratch), str(dev_file)])
    out = run_client(CLIENT.format(args=args), env=_client_env(fresh_hub, token, tmp_path, xet=False))
    assert "DONE" in out.stdout

    code, text, _ = _fsck(fresh_hub)
    assert code == 0, text
    assert "no errors" in text

    code, text, report = _fsck(fresh_hub, "--deep", "--json")
    assert code == 0, text
    assert report is not None and report["clean"]
    assert report["errors"] == 0
    # 4 files + the default .gitattributes + dev.txt, kept with the deleted branch's commit
    assert report["stats"]["contents"] == len(files) + 2
    assert report["stats"]["hashed_objects"] == report["stats"]["stored_objects"]
    scratch_sha = hashlib.sha256(scratch.read_bytes()).hexdigest()
    # the deleted repo's file is the only garbage: young, so kept by default
    assert [(f["kind"], f["object_id"], f["deletable"]) for f in report["findings"]] == [
        ("unreferenced", scratch_sha, False)
    ]

    code, text, report = _fsck(fresh_hub, "--repair", "--grace", "0", "--json")
    assert code == 0, text
    assert report is not None
    assert [(f["kind"], f["object_id"], f["repaired"]) for f in report["findings"]] == [
        ("unreferenced", scratch_sha, True)
    ]
    code, text, report = _fsck(fresh_hub, "--deep", "--json")
    assert code == 0 and report is not None and report["findings"] == [], text

    weights_sha = hashlib.sha256(files["weights/model.safetensors"]).hexdigest()
    _delete_stored(fresh_hub, weights_sha)
    code, text, _ = _fsck(fresh_hub)
    assert code == 1, text
    assert "missing_object" in text
    assert "alice/checked@main:weights/model.safetensors" in text
    assert "1 error" in text


XET_CLIENT = textwrap.dedent(
    """
    from huggingface_hub import HfApi, constants

    assert not constants.HF_HUB_DISABLE_XET
    api = HfApi()
    api.create_repo("alice/xet")
    api.upload_folder(folder_path=r"{folder}", repo_id="alice/xet", commit_message="model")
    print("DONE")
    """
)


def test_fsck_after_real_xet_uploads(fresh_hub: HubServer, tmp_path: Path) -> None:
    """Files uploaded with hf_xet are stored as xorbs only: fsck follows them, and a lost xorb is an error
    that names the file made of it."""
    fresh_hub.env.update({"OMH_PREUPLOAD_LFS_THRESHOLD": str(1 * MB), "OMH_XET_INDEX_UPLOADS": "0"})
    fresh_hub.start()
    fresh_hub.create_user("alice")
    token = fresh_hub.create_token("alice")
    rng = random.Random(9)
    folder = tmp_path / "model"
    folder.mkdir()
    files = {"README.md": b"# xet\n", "model.safetensors": rng.randbytes(3 * MB)}
    for path, data in files.items():
        (folder / path).write_bytes(data)
    store = _store(fresh_hub)
    before = set(store.iter_keys())
    out = run_client(XET_CLIENT.format(folder=folder), env=_client_env(fresh_hub, token, tmp_path, xet=True))
    assert "DONE" in out.stdout
    contents = {hashlib.sha256(data).hexdigest() for data in [*files.values(), default_gitattributes()]}
    xorb_blobs = set(store.iter_keys()) - before - contents
    assert xorb_blobs, "the client did not upload through Xet"
    assert hashlib.sha256(files["model.safetensors"]).hexdigest() not in set(store.iter_keys())

    code, text, report = _fsck(fresh_hub, "--deep", "--json")
    assert code == 0, text
    assert report is not None and report["findings"] == []

    lost = sorted(xorb_blobs)[0]
    store.delete(lost)
    code, text, report = _fsck(fresh_hub, "--json")
    assert code == 1, text
    assert report is not None
    assert [(f["kind"], f["object_id"], f["where"]) for f in report["findings"]] == [
        ("missing_object", lost, "alice/xet@main:model.safetensors")
    ]
