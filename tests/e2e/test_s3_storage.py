"""A hub storing its files in S3 (a moto server in server mode), driven by the stock huggingface_hub client.

- uploads through the default path (regular files in the commit, large ones stored as LFS objects by the hub)
  and through the Git LFS batch API (HF_HUB_DISABLE_XET=1: presigned PUTs and presigned multipart parts
  straight into the bucket, checked by the hub before they are published);
- downloads with OMH_S3_DOWNLOAD=redirect (302 to a presigned URL, metadata on the 302) and =proxy (bytes
  streamed by the hub, with Range), the same bytes either way;
- an object store that goes away: 503 StorageUnavailable, and no branch moves.
"""

import hashlib
import json
import os
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.moto import check_bucket, new_bucket, own_moto, s3_env
from tests.support.rawhub import RawHub, assert_error, auth, file_line, header_line, lfs_line, ndjson
from tests.support.server import HubServer, run_client

MB = 1000 * 1000
MiB = 1024 * 1024
SETTINGS = {
    "OMH_LFS_SIZE_THRESHOLD": str(1 * MB),  # from 1 MB on, files are LFS objects
    "OMH_PREUPLOAD_LFS_THRESHOLD": str(8 * MB),  # from 8 MB on, clients upload through the LFS batch API
    "OMH_LFS_MULTIPART_THRESHOLD": str(12 * MB),  # ... and from 12 MB on, in parts
    "OMH_LFS_MULTIPART_CHUNK_SIZE": str(5 * MiB),
    "OMH_S3_PART_SIZE": str(5 * MiB),  # the hub's own writes of more than 5 MiB are multipart uploads
    "OMH_PREUPLOAD_BINARY_AS_LFS": "false",  # below 8 MB, every file is sent inline, binary or not
    # No background chunking of LFS uploads into xorbs: those writes would still be in flight when the test
    # checks that the upload paths left nothing in staging (xet_index is tested in test_xet.py).
    "OMH_XET_INDEX_UPLOADS": "false",
}

FOLDER = {
    "config.json": b'{"model_type": "bert", "hidden_size": 32}\n',
    "README.md": b"---\nlicense: mit\n---\n# S3 model\n",
    "tokenizer.json": os.urandom(200_000),
    "weights/model.bin": os.urandom(6 * MiB + 1),  # LFS, sent inline, written by the hub in two parts
}
BATCH = {
    "big9.bin": os.urandom(9 * MB),  # LFS batch, one presigned PUT
    "big13.bin": os.urandom(13 * MiB),  # LFS batch, three presigned parts
}
XET = {"xet10.bin": os.urandom(10 * MB)}  # sent by the default client through Xet: xorbs in the bucket
ALL = {**FOLDER, **BATCH, **XET}
REDIRECTED = {"weights/model.bin", *BATCH}  # LFS files stored as one blob: 302 to the bucket

UPLOAD = textwrap.dedent(
    """
    import json
    from huggingface_hub import HfApi, constants

    repo_id, folder, files, lfs_batch = json.loads(r'''{args}''')
    assert constants.HF_HUB_DISABLE_XET == lfs_batch
    api = HfApi()
    if folder:
        api.create_repo(repo_id)
        api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="folder")
    for path, name in files:
        api.upload_file(path_or_fileobj=path, path_in_repo=name, repo_id=repo_id, commit_message=name)
    print("RESULT=" + json.dumps(api.model_info(repo_id).sha))
    """
)

DOWNLOAD = textwrap.dedent(
    """
    import hashlib, json
    from pathlib import Path
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    repo_id, names, cache = json.loads(r'''{args}''')
    out = {{"sha256": {{}}, "meta": {{}}}}
    for name in names:
        path = hf_hub_download(repo_id, name, cache_dir=cache)
        out["sha256"][name] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        m = get_hf_file_metadata(hf_hub_url(repo_id, name))
        out["meta"][name] = {{
            "commit": m.commit_hash, "etag": m.etag, "size": m.size, "location": m.location
        }}
    print("RESULT=" + json.dumps(out))
    """
)


def _client(code: str, args: Any, hub: HubServer, token: str, tmp_path: Path, **env: str) -> Any:
    result = run_client(
        code.format(args=json.dumps(args)),
        env={
            "HF_ENDPOINT": hub.url,
            "HF_TOKEN": token,
            "HF_HOME": str(tmp_path / "hf-home"),
            "HF_HUB_DISABLE_IMPLICIT_TOKEN": "",
            **env,
        },
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT="))
    return json.loads(line.removeprefix("RESULT="))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("s3-files")
    for name, data in ALL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_upload_and_download_through_s3(tmp_path: Path, moto_endpoint: str, files: Path) -> None:
    bucket = new_bucket(moto_endpoint)
    data_dir = tmp_path / "data"
    redirect = HubServer(data_dir, env={**s3_env(moto_endpoint, bucket), **SETTINGS})
    try:
        redirect.start()
        redirect.create_user("alice")
        token = redirect.create_token("alice")
        repo_id = "alice/s3-model"
        folder = tmp_path / "folder"
        for name in FOLDER:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(ALL[name])

        # The default path (hf_xet installed): the folder is below the preupload threshold, sent inline; the
        # larger file goes through Xet.
        xet = [[str(files / n), n] for n in XET]
        _client(UPLOAD, [repo_id, str(folder), xet, False], redirect, token, tmp_path)
        # The LFS batch path: presigned URLs straight into the bucket.
        batch = [[str(files / n), n] for n in BATCH]
        sha = _client(UPLOAD, [repo_id, None, batch, True], redirect, token, tmp_path, HF_HUB_DISABLE_XET="1")
        assert len(sha) == 40
        # Complete objects only, nothing left in staging; the inline and LFS batch uploads as whole blobs.
        stored = check_bucket(moto_endpoint, bucket)
        assert {_sha256(ALL[n]) for n in (*FOLDER, *BATCH)} <= stored

        # The plain HTTP download path (the hub may also offer Xet; that is tested below and elsewhere).
        cache = str(tmp_path / "cache-redirect")
        got = _client(
            DOWNLOAD, [repo_id, list(ALL), cache], redirect, token, tmp_path, HF_HUB_DISABLE_XET="1"
        )
        assert got["sha256"] == {n: _sha256(d) for n, d in ALL.items()}
        for name, data in ALL.items():
            meta = got["meta"][name]
            assert meta["commit"] == sha and meta["size"] == len(data)
            # LFS blobs: the client stopped at the 302 and keeps the presigned URL as its download location.
            # Small files, and Xet-stored content (no single object to point at), are streamed by the hub.
            assert meta["location"].startswith(moto_endpoint) == (name in REDIRECTED), (
                name,
                meta["location"],
            )
            if len(data) >= 1 * MB:
                assert meta["etag"] == _sha256(data)
        _check_redirect_answers(redirect, token, repo_id, sha, moto_endpoint)
        direct = _check_direct_batch(redirect, token, repo_id, moto_endpoint)
        sha = RawHub(redirect.url, repo_id, token).head()  # that made a commit
        assert check_bucket(moto_endpoint, bucket)
        assert len(direct) == 2
        # The client's default download path (hf_xet installed): the same bytes.
        cache = str(tmp_path / "cache-default")
        got = _client(DOWNLOAD, [repo_id, list(ALL), cache], redirect, token, tmp_path)
        assert got["sha256"] == {n: _sha256(d) for n, d in ALL.items()}
    finally:
        redirect.stop()

    # The same data dir and bucket, served with OMH_S3_DOWNLOAD=proxy: the same bytes, through the hub.
    proxy = HubServer(data_dir, env={**s3_env(moto_endpoint, bucket, OMH_S3_DOWNLOAD="proxy"), **SETTINGS})
    try:
        proxy.start()
        got = _client(DOWNLOAD, [repo_id, list(ALL), str(tmp_path / "cache-proxy")], proxy, token, tmp_path)
        assert got["sha256"] == {n: _sha256(d) for n, d in ALL.items()}
        for name in ALL:
            assert got["meta"][name]["location"].startswith(proxy.url), name
        _check_proxy_answers(proxy, token, repo_id, sha)
    finally:
        proxy.stop()


def _check_redirect_answers(hub: HubServer, token: str, repo_id: str, sha: str, endpoint: str) -> None:
    rh = RawHub(hub.url, repo_id, token)
    try:
        data = ALL["weights/model.bin"]
        for method in ("HEAD", "GET"):
            r = rh.client.request(method, rh.resolve_url("weights/model.bin"), headers=auth(token))
            assert r.status_code == 302, r.text
            assert r.headers["X-Repo-Commit"] == sha
            assert r.headers["X-Linked-Etag"] == f'"{_sha256(data)}"'
            assert r.headers["ETag"] == f'"{_sha256(data)}"'
            assert r.headers["X-Linked-Size"] == str(len(data))
            assert r.headers["Location"].startswith(endpoint)
        # The presigned URL needs no token and names the file.
        got = httpx.get(r.headers["Location"], timeout=60)
        assert got.status_code == 200 and got.content == data
        assert 'filename="model.bin"' in got.headers["content-disposition"]
        # Small (non-LFS) files are streamed by the hub even in redirect mode.
        r = rh.client.head(rh.resolve_url("config.json"), headers=auth(token))
        assert r.status_code == 200
        assert r.headers["Content-Length"] == str(len(ALL["config.json"]))
        assert r.headers["X-Repo-Commit"] == sha and "X-Linked-Etag" not in r.headers
        git_sha1 = hashlib.sha1(b"blob %d\0" % len(ALL["config.json"]) + ALL["config.json"]).hexdigest()
        assert r.headers["ETag"] == f'"{git_sha1}"'
        r = rh.get_file("config.json", headers={"Range": "bytes=1-10"})
        assert r.status_code == 206 and r.content == ALL["config.json"][1:11]
    finally:
        rh.close()


def _check_direct_batch(hub: HubServer, token: str, repo_id: str, endpoint: str) -> list[str]:
    """The batch API points clients straight at the bucket; the hub checks what arrived before publishing.
    Returns the sha256s it uploaded."""
    rh = RawHub(hub.url, repo_id, token)
    try:
        data = os.urandom(1500)
        oid = _sha256(data)
        (obj,) = rh.lfs_batch([(oid, len(data))])["objects"]
        put, verify = obj["actions"]["upload"], obj["actions"]["verify"]
        assert put["href"].startswith(f"{endpoint}/") and "chunk_size" not in put.get("header", {})
        assert verify["href"] == f"{hub.url}/{repo_id}.git/info/lfs/verify"
        for body, code in ((os.urandom(len(data)), "ChecksumMismatch"), (data + b"!", "SizeMismatch")):
            assert httpx.put(put["href"], content=body, timeout=60).status_code == 200  # S3 takes anything
            r = rh.client.post(verify["href"], json={"oid": oid, "size": len(data)}, headers=auth(token))
            assert_error(r, 400, code)
            assert "actions" in rh.lfs_batch([(oid, len(data))])["objects"][0], (
                "a refused upload is not stored"
            )
        r = rh.client.post(verify["href"], json={"oid": oid, "size": len(data)}, headers=auth(token))
        assert_error(r, 400, "LfsObjectNotFound")  # the refused uploads were dropped
        assert httpx.put(put["href"], content=data, timeout=60).status_code == 200
        r = rh.client.post(verify["href"], json={"oid": oid, "size": len(data)}, headers=auth(token))
        assert r.status_code == 200, r.text
        assert "actions" not in rh.lfs_batch([(oid, len(data))])["objects"][0]
        assert rh.commit_ok([header_line("direct"), lfs_line("direct.bin", oid, len(data))])
        r = rh.get_file("direct.bin")  # committed as an LFS file: redirected, whatever its size
        assert r.status_code == 302 and httpx.get(r.headers["Location"], timeout=60).content == data

        # Multipart: presigned part URLs, our own signed completion, which assembles, checks and publishes.
        size = 13 * MiB
        big = os.urandom(size)
        r = rh.client.post(
            f"{hub.url}/{repo_id}.git/info/lfs/objects/batch",
            json={
                "operation": "upload",
                "transfers": ["basic", "multipart"],
                "objects": [{"oid": _sha256(big), "size": size}],
            },
            headers=auth(token),
        )
        upload = r.json()["objects"][0]["actions"]["upload"]
        chunk = int(upload["header"]["chunk_size"])
        parts = {int(k): v for k, v in upload["header"].items() if k.isdigit()}
        assert chunk == 5 * MiB and sorted(parts) == [1, 2, 3]
        assert all(url.startswith(f"{endpoint}/") for url in parts.values())
        assert upload["href"].startswith(f"{hub.url}/lfs/multipart/")
        etags = []
        for n, url in sorted(parts.items()):
            r = httpx.put(url, content=big[(n - 1) * chunk : n * chunk], timeout=60)
            assert r.status_code == 200 and r.headers["ETag"]
            etags.append({"partNumber": n, "etag": r.headers["ETag"]})
        r = httpx.post(upload["href"].split("?")[0], json={"oid": _sha256(big), "parts": etags}, timeout=60)
        assert r.status_code in (401, 403), "the completion URL is signed"
        swapped = [{**etags[0], "etag": etags[1]["etag"]}, etags[1], etags[2]]
        r = httpx.post(upload["href"], json={"oid": _sha256(big), "parts": swapped}, timeout=60)
        assert_error(r, 400, "BadRequest")
        r = httpx.post(upload["href"], json={"oid": _sha256(big), "parts": etags}, timeout=60)
        assert r.status_code == 200, r.text
        assert "actions" not in rh.lfs_batch([(_sha256(big), size)])["objects"][0]
        return [oid, _sha256(big)]
    finally:
        rh.close()


def _check_proxy_answers(hub: HubServer, token: str, repo_id: str, sha: str) -> None:
    rh = RawHub(hub.url, repo_id, token)
    try:
        data = ALL["big13.bin"]
        size = len(data)
        r = rh.client.head(rh.resolve_url("big13.bin"), headers=auth(token))
        assert r.status_code == 200
        assert r.headers["Content-Length"] == str(size) and r.headers["X-Linked-Size"] == str(size)
        assert r.headers["X-Linked-Etag"] == f'"{_sha256(data)}"' == r.headers["ETag"]
        assert r.headers["X-Repo-Commit"] == sha and r.headers["Accept-Ranges"] == "bytes"
        r = rh.get_file("big13.bin")
        assert r.status_code == 200 and r.content == data
        for header, start, end in (
            ("bytes=10-19", 10, 19),
            ("bytes=5242870-5242889", 5242870, 5242889),
            (f"bytes={size - 7}-", size - 7, size - 1),
            ("bytes=-5", size - 5, size - 1),
            (f"bytes=100-{size + 1000}", 100, size - 1),
        ):
            r = rh.get_file("big13.bin", headers={"Range": header})
            assert r.status_code == 206, (header, r.text)
            assert r.headers["Content-Range"] == f"bytes {start}-{end}/{size}", header
            assert r.content == data[start : end + 1], header
            assert r.headers["Content-Length"] == str(end - start + 1)
        r = rh.get_file("big13.bin", headers={"Range": f"bytes={size}-"})
        assert_error(r, 416, "RangeNotSatisfiable")
        r = rh.get_file("big13.bin", headers={"If-None-Match": f'"{_sha256(data)}"'})
        assert r.status_code == 304
        r = rh.get_file("no-such-file.bin")
        assert_error(r, 404, "EntryNotFound")
        assert r.headers["X-Repo-Commit"] == sha
    finally:
        rh.close()


def test_an_unreachable_object_store_is_a_503_and_moves_no_branch(tmp_path: Path) -> None:
    with own_moto(tmp_path / "moto") as moto:
        bucket = new_bucket(moto.endpoint)
        hub = HubServer(
            tmp_path / "data", env={**s3_env(moto.endpoint, bucket, OMH_S3_DOWNLOAD="proxy"), **SETTINGS}
        )
        hub.start()
        try:
            hub.create_user("alice")
            token = hub.create_token("alice")
            rh = RawHub(hub.url, "alice/outage", token)
            rh.create_repo()
            big = os.urandom(2 * MB)
            head = rh.commit_ok(
                [header_line("before"), file_line("a.txt", b"stored"), file_line("big.bin", big)]
            )
            assert rh.get_file("a.txt").content == b"stored"
            moto.stop()

            cases = {
                "regular upload": lambda: rh.commit(ndjson([header_line("new"), file_line("b.txt", b"new")])),
                "commit of a stored LFS object": lambda: rh.commit(
                    ndjson([header_line("again"), lfs_line("copy.bin", _sha256(big), len(big))])
                ),
                "LFS batch": lambda: rh.client.post(
                    f"{hub.url}/alice/outage.git/info/lfs/objects/batch",
                    json={"operation": "upload", "objects": [{"oid": _sha256(big), "size": len(big)}]},
                    headers=auth(token),
                ),
                "download": lambda: rh.get_file("a.txt"),
                "LFS download": lambda: rh.get_file("big.bin"),
            }
            for name, call in cases.items():
                r = call()
                body = assert_error_5xx(r, 503, "StorageUnavailable")
                assert body["error"].startswith("The hub's object storage is not reachable: "), (name, body)
                assert rh.head() == head, f"{name} moved the branch"
            # The server itself is fine: metadata answers do not need the object store.
            r = rh.client.get(rh.api("tree", "main"), headers=auth(token))
            assert r.status_code == 200 and {e["path"] for e in r.json()} == {
                ".gitattributes",
                "a.txt",
                "big.bin",
            }
        finally:
            hub.stop()
        assert "unhandled error" not in hub.log()  # every API failure was the 503 above, none a 500


def assert_error_5xx(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text[:1000])
    assert resp.headers.get("x-error-code") == code, resp.headers
    body = resp.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    return body
