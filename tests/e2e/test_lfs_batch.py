"""The Git LFS batch upload path (single PUT and multipart), as stock clients use it with
HF_HUB_DISABLE_XET=1.

huggingface_hub reads HF_HUB_DISABLE_XET and HF_ENDPOINT at import time, so the client runs in a subprocess.
"""

import hashlib
import json
import random
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.support.server import HubServer, run_client

MB = 1000 * 1000
SETTINGS = {
    "OMH_PREUPLOAD_LFS_THRESHOLD": str(1 * MB),
    "OMH_LFS_MULTIPART_THRESHOLD": str(3 * MB),
    "OMH_LFS_MULTIPART_CHUNK_SIZE": str(1 * MB),
}
LFS_JSON = "application/vnd.git-lfs+json"

CLIENT = textwrap.dedent(
    """
    import hashlib, json
    from pathlib import Path

    from huggingface_hub import HfApi, constants, hf_hub_download
    from huggingface_hub.hf_api import RepoFile

    assert constants.HF_HUB_DISABLE_XET
    repo_id, small, large, cache = json.loads(r'''{args}''')
    api = HfApi()
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=small, path_in_repo="two.dat", repo_id=repo_id, commit_message="2 MB")
    api.upload_file(
        path_or_fileobj=large, path_in_repo="big/five.dat", repo_id=repo_id, commit_message="5.5 MB"
    )
    out = {{"downloads": {{}}, "tree": {{}}}}
    for name in ("two.dat", "big/five.dat"):
        path = hf_hub_download(repo_id, name, cache_dir=cache)
        out["downloads"][name] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    for e in api.list_repo_tree(repo_id, recursive=True):
        if isinstance(e, RepoFile):
            out["tree"][e.path] = {{
                "size": e.size,
                "lfs": None if e.lfs is None else {{"sha256": e.lfs.sha256, "size": e.lfs.size}},
            }}
    out["titles"] = [c.title for c in api.list_repo_commits(repo_id)]
    print("RESULT=" + json.dumps(out))
    """
)


@pytest.fixture
def lfs_hub(fresh_hub: HubServer) -> HubServer:
    fresh_hub.env.update(SETTINGS)
    fresh_hub.start()
    fresh_hub.create_user("alice")
    return fresh_hub


@pytest.fixture
def transfer_hub(fresh_hub: HubServer) -> HubServer:
    """A hub whose LFS transfer URLs are its own, signed ones, on either stack: on S3 with
    OMH_S3_DOWNLOAD=proxy (with "redirect" clients upload straight into the bucket through presigned URLs;
    that path's checks are tested in test_s3_storage.py)."""
    fresh_hub.env.update({**SETTINGS, "OMH_S3_DOWNLOAD": "proxy"})
    fresh_hub.start()
    fresh_hub.create_user("alice")
    return fresh_hub


def _batch(hub: HubServer, token: str, repo_id: str, objects: list[dict]) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/{repo_id}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {token}", "Accept": LFS_JSON, "Content-Type": LFS_JSON},
        content=json.dumps(
            {
                "operation": "upload",
                "transfers": ["basic", "multipart"],
                "hash_algo": "sha256",
                "objects": objects,
                "ref": {"name": "main"},
            }
        ),
        timeout=30,
    )


def test_lfs_single_and_multipart_upload(lfs_hub: HubServer, tmp_path: Path) -> None:
    token = lfs_hub.create_token("alice")
    rng = random.Random(1234)
    small_data = rng.randbytes(2 * MB)
    large_data = rng.randbytes(5_500_000)
    small, large = tmp_path / "two.dat", tmp_path / "five.dat"
    small.write_bytes(small_data)
    large.write_bytes(large_data)
    repo_id = "alice/lfs-model"
    args = json.dumps([repo_id, str(small), str(large), str(tmp_path / "cache")])

    result = run_client(
        CLIENT.format(args=args),
        env={
            "HF_ENDPOINT": lfs_hub.url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_TOKEN": token,
            "HF_HOME": str(tmp_path / "hf-home"),
            "HF_HUB_DISABLE_IMPLICIT_TOKEN": "",
        },
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT="))
    out = json.loads(line.removeprefix("RESULT="))
    small_sha = hashlib.sha256(small_data).hexdigest()
    large_sha = hashlib.sha256(large_data).hexdigest()
    assert out["downloads"] == {"two.dat": small_sha, "big/five.dat": large_sha}
    assert out["tree"]["two.dat"] == {
        "size": len(small_data),
        "lfs": {"sha256": small_sha, "size": len(small_data)},
    }
    assert out["tree"]["big/five.dat"] == {
        "size": len(large_data),
        "lfs": {"sha256": large_sha, "size": len(large_data)},
    }
    assert out["titles"][:2] == ["5.5 MB", "2 MB"]

    # Both objects are stored now: the batch API answers without actions.
    r = _batch(
        lfs_hub,
        token,
        repo_id,
        [{"oid": large_sha, "size": len(large_data)}, {"oid": small_sha, "size": len(small_data)}],
    )
    assert r.status_code == 200, r.text
    objects = {o["oid"]: o for o in r.json()["objects"]}
    assert set(objects) == {large_sha, small_sha}
    for o in objects.values():
        assert "actions" not in o and "error" not in o
    assert objects[large_sha]["size"] == len(large_data)


def test_lfs_batch_answers_and_checksum_errors(transfer_hub: HubServer) -> None:
    token = transfer_hub.create_token("alice")
    read_token = transfer_hub.create_token("alice", write=False)
    repo_id = "alice/lfs-errors"
    r = httpx.post(
        f"{transfer_hub.url}/api/repos/create",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "lfs-errors", "type": "model"},
        timeout=30,
    )
    assert r.status_code == 200, r.text

    data = random.Random(7).randbytes(1500)
    oid = hashlib.sha256(data).hexdigest()
    big = 5_500_000
    big_oid = hashlib.sha256(b"never uploaded").hexdigest()
    r = _batch(transfer_hub, token, repo_id, [{"oid": oid, "size": len(data)}, {"oid": big_oid, "size": big}])
    assert r.status_code == 200, r.text
    objects = {o["oid"]: o for o in r.json()["objects"]}

    single = objects[oid]["actions"]["upload"]
    assert "chunk_size" not in (single.get("header") or {})
    assert objects[oid]["actions"]["verify"]["href"].startswith(
        f"{transfer_hub.url}/{repo_id}.git/info/lfs/verify"
    )

    multipart = objects[big_oid]["actions"]["upload"]["header"]
    assert multipart["chunk_size"] == str(MB)
    assert sorted(int(k) for k in multipart if k.isdigit()) == [1, 2, 3, 4, 5, 6]

    # Wrong bytes of the right length, too few, too many: all refused, and nothing is stored.
    wrong = bytearray(data)
    wrong[0] ^= 0xFF
    for body, code in (
        (bytes(wrong), "ChecksumMismatch"),
        (data[:-1], "SizeMismatch"),
        (data + b"!", "SizeMismatch"),
    ):
        r = httpx.put(single["href"], content=body, timeout=30)
        assert r.status_code == 400, r.text
        assert r.headers.get("X-Error-Code") == code, (len(body), r.headers)

    verify = objects[oid]["actions"]["verify"]["href"]
    r = httpx.post(
        verify, headers={"Authorization": f"Bearer {token}"}, json={"oid": oid, "size": len(data)}, timeout=30
    )
    assert r.status_code >= 400, "verify must fail for an object that was never stored"
    r = _batch(transfer_hub, token, repo_id, [{"oid": oid, "size": len(data)}])
    assert "actions" in r.json()["objects"][0], "a refused upload must not count as stored"

    # Unsigned or tampered transfer URLs are refused.
    r = httpx.put(single["href"].split("?")[0], content=data, timeout=30)
    assert r.status_code in (401, 403)
    r = httpx.put(single["href"].replace("sig=", "sig=0"), content=data, timeout=30)
    assert r.status_code in (401, 403)

    # The right bytes are accepted, verified, and the object is then reported as stored.
    r = httpx.put(single["href"], content=data, timeout=30)
    assert r.status_code == 200, r.text
    r = httpx.post(
        verify, headers={"Authorization": f"Bearer {token}"}, json={"oid": oid, "size": len(data)}, timeout=30
    )
    assert r.status_code == 200, r.text
    r = _batch(transfer_hub, token, repo_id, [{"oid": oid, "size": len(data)}])
    assert "actions" not in r.json()["objects"][0]

    # A commit may only name LFS objects that were uploaded.
    missing = hashlib.sha256(b"not uploaded either").hexdigest()
    ndjson = "\n".join(
        json.dumps(line)
        for line in (
            {"key": "header", "value": {"summary": "dangling", "description": ""}},
            {"key": "lfsFile", "value": {"path": "x.dat", "algo": "sha256", "oid": missing, "size": 10}},
        )
    )
    r = httpx.post(
        f"{transfer_hub.url}/api/models/{repo_id}/commit/main",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        content=ndjson,
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert r.headers.get("X-Error-Code") == "LfsObjectNotFound"

    # Uploading needs a write token.
    r = _batch(transfer_hub, read_token, repo_id, [{"oid": big_oid, "size": big}])
    assert r.status_code in (401, 403), r.text


def test_lfs_multipart_checks(transfer_hub: HubServer) -> None:
    token = transfer_hub.create_token("alice")
    repo_id = "alice/lfs-multipart"
    r = httpx.post(
        f"{transfer_hub.url}/api/repos/create",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "lfs-multipart"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    size = 5_500_000
    data = random.Random(99).randbytes(size)
    oid = hashlib.sha256(b"a different object").hexdigest()  # the parts will not hash to this
    r = _batch(transfer_hub, token, repo_id, [{"oid": oid, "size": size}])
    assert r.status_code == 200, r.text
    upload = r.json()["objects"][0]["actions"]["upload"]
    chunk = int(upload["header"]["chunk_size"])
    parts = {int(k): v for k, v in upload["header"].items() if k.isdigit()}
    assert chunk == MB and sorted(parts) == [1, 2, 3, 4, 5, 6]

    # A part of the wrong size is refused.
    r = httpx.put(parts[1], content=data[: chunk - 1], timeout=30)
    assert r.status_code == 400, r.text
    # Completion before every part is there is refused.
    r = httpx.post(upload["href"], json={"oid": oid, "parts": [{"partNumber": 1, "etag": "x"}]}, timeout=30)
    assert r.status_code == 400, r.text

    etags = []
    for n in sorted(parts):
        r = httpx.put(parts[n], content=data[(n - 1) * chunk : n * chunk], timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers.get("ETag"), "each part response must carry an ETag"
        etags.append({"partNumber": n, "etag": r.headers["ETag"]})
    # A part URL is signed for its own part number only.
    r = httpx.put(parts[1].replace("/1?", "/2?"), content=data[chunk : 2 * chunk], timeout=30)
    assert r.status_code in (401, 403), r.text
    # The completion is not authenticated, so it must be signed.
    r = httpx.post(upload["href"].split("?")[0], json={"oid": oid, "parts": etags}, timeout=30)
    assert r.status_code in (401, 403), r.text
    # The assembled bytes do not hash to the announced oid: refused, and nothing is stored.
    r = httpx.post(upload["href"], json={"oid": oid, "parts": etags}, timeout=30)
    assert r.status_code == 400, r.text
    assert r.headers.get("X-Error-Code") == "ChecksumMismatch"
    r = _batch(transfer_hub, token, repo_id, [{"oid": oid, "size": size}])
    assert "actions" in r.json()["objects"][0]

    # The same parts under the right oid are assembled and stored.
    good = hashlib.sha256(data).hexdigest()
    r = _batch(transfer_hub, token, repo_id, [{"oid": good, "size": size}])
    upload = r.json()["objects"][0]["actions"]["upload"]
    parts = {int(k): v for k, v in upload["header"].items() if k.isdigit()}
    etags = []
    for n in sorted(parts):
        r = httpx.put(parts[n], content=data[(n - 1) * chunk : n * chunk], timeout=30)
        assert r.status_code == 200, r.text
        etags.append({"partNumber": n, "etag": r.headers["ETag"]})
    r = httpx.post(upload["href"], json={"oid": good, "parts": etags}, timeout=30)
    assert r.status_code == 200, r.text
    r = _batch(transfer_hub, token, repo_id, [{"oid": good, "size": size}])
    assert "actions" not in r.json()["objects"][0]
