"""Content isolation between repos (issue #5, docs/security.md "Content isolation").

Bytes are stored once per sha256 for the whole hub, and a gated repo's tree shows the sha256 and size of its
LFS files to anyone. Knowing them must not be enough to get the bytes: a commit of bob's naming alice's gated
or private content is refused (as if it had never been uploaded), the LFS batch and verify calls do not tell
whether the hub holds some content, and a Xet read token of bob's repo cannot reconstruct alice's file. What
still works: the stock client uploads the same file to two repos (through LFS and through Xet), the bytes are
stored once, and uploading content a repo has already needs no transfer.
"""

import hashlib
import os
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from tests.conftest import Accounts
from tests.support.rawhub import (
    RawHub,
    assert_error,
    auth,
    header_line,
    lfs_line,
    ndjson,
)
from tests.support.server import HubServer, client_result

MiB = 1 << 20


def _secret(size: int) -> bytes:
    return b"\x00secret weights\x00" + os.urandom(size - 16)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _content(rh: RawHub, path: str) -> bytes:
    """A file's bytes through `resolve` (following a redirect to the bucket on the S3 stacks)."""
    r = rh.get_file(path)
    if r.status_code == 302:
        r = httpx.get(r.headers["Location"], timeout=60)
    assert r.status_code == 200, (path, r.status_code, r.text[:500])
    return r.content


def _refused_message(rb: RawHub, path: str, oid: str, size: int | None) -> str:
    """The error of a commit naming `oid`, which must be refused as never uploaded to this repo."""
    body = assert_error(
        rb.commit(ndjson([header_line("take it"), lfs_line(path, oid, size)])), 400, "LfsObjectNotFound"
    )
    message: str = body["error"]
    assert "has not been uploaded to this repo: upload it first" in message, message
    return message


@pytest.mark.parametrize(("kind", "via"), [("gated", "lfs"), ("private", "xet")])
def test_content_of_another_repo_cannot_be_committed_downloaded_or_probed(
    hub: HubServer, accounts: Accounts, repo_name: str, tmp_path: Path, kind: str, via: str
) -> None:
    alice, bob = HfApi(endpoint=hub.url, token=accounts.alice), HfApi(endpoint=hub.url, token=accounts.bob)
    a_id, b_id = f"alice/{repo_name}", f"bob/{repo_name}"
    alice.create_repo(a_id, private=kind == "private")
    if kind == "gated":
        alice.update_repo_settings(a_id, gated="manual")
    secret = _secret(256 * 1024)
    sha, size = _sha(secret), len(secret)
    ra = RawHub(hub.url, a_id, accounts.alice)
    if via == "lfs":
        ra.lfs_upload(secret)
        ra.commit_ok([header_line("add the secret"), lfs_line("secret.bin", sha, size)])
    else:  # the stock client in this process has hf_xet: the weights go up through Xet
        path = tmp_path / "secret.bin"
        path.write_bytes(secret)
        alice.upload_file(path_or_fileobj=str(path), path_in_repo="secret.bin", repo_id=a_id)
    head = ra.client.head(ra.resolve_url("secret.bin"), headers=auth(accounts.alice))
    assert head.status_code in (200, 302) and head.headers["X-Linked-Etag"] == f'"{sha}"', head.headers
    file_hash = head.headers.get("X-Xet-Hash")
    if via == "xet":
        assert file_hash, "the Xet upload left no Xet file"

    # What bob can see: a gated repo's tree shows the sha256 and size (a private repo shows nothing, but
    # a sha256 can be guessed); the bytes are refused.
    if kind == "gated":
        (info,) = bob.get_paths_info(a_id, ["secret.bin"])
        assert info.lfs is not None and (info.lfs.sha256, info.lfs.size) == (sha, size)
        with pytest.raises(GatedRepoError):
            hf_hub_download(a_id, "secret.bin", token=accounts.bob, cache_dir=tmp_path / "bob-cache")
    else:
        with pytest.raises(RepositoryNotFoundError):
            bob.model_info(a_id)

    # Bob's commit naming that content in his own repo is refused exactly as content never uploaded is: same
    # status, code and words, with or without the size, and a wrong size is not "SizeMismatch" (which would
    # tell the real one). His branch does not move and the file is not there.
    bob.create_repo(b_id)
    rb = RawHub(hub.url, b_id, accounts.bob)
    before = rb.head()
    never = _sha(os.urandom(64))
    taken = _refused_message(rb, "stolen.bin", sha, size)
    assert taken == _refused_message(rb, "stolen.bin", never, size).replace(never, sha)
    _refused_message(rb, "stolen.bin", sha, None)
    _refused_message(rb, "stolen.bin", sha, size + 1)
    assert rb.head() == before
    assert_error(rb.get_file("stolen.bin"), 404, "EntryNotFound")

    # No oracle: the batch API asks bob to upload alice's content as it asks for content nobody has, verify
    # says neither was uploaded, and a download through bob's repo finds neither.
    objects = rb.lfs_batch([(sha, size), (never, size)])["objects"]
    assert [sorted(o) for o in objects] == [["actions", "authenticated", "oid", "size"]] * 2, objects
    assert all("upload" in o["actions"] for o in objects)
    for oid in (sha, never):
        r = rb.client.post(
            f"{hub.url}/{b_id}.git/info/lfs/verify", json={"oid": oid, "size": size}, headers=auth(rb.token)
        )
        assert_error(r, 400, "LfsObjectNotFound")
    down = rb.lfs_batch([(sha, size), (never, size)], operation="download")["objects"]
    assert [o.get("error", {}).get("code") for o in down] == [404, 404], down

    # A Xet read token of bob's repo cannot reconstruct alice's file.
    if file_hash:
        r = httpx.get(f"{hub.url}/api/models/{b_id}/xet-read-token/main", headers=auth(accounts.bob))
        assert r.status_code == 200, r.text
        xet = r.json()
        r = httpx.get(
            f"{xet['casUrl']}/v2/reconstructions/{file_hash}",
            headers={"Authorization": f"Bearer {xet['accessToken']}"},
        )
        assert_error(r, 403, "Forbidden")
        assert f"is not part of {b_id}" in r.json()["error"]

    # Bob uploading the same bytes himself (he has them) is an ordinary upload, and then the commit works.
    assert rb.lfs_upload(secret) == sha
    rb.commit_ok([header_line("my own copy"), lfs_line("mine.bin", sha, size)])
    assert _content(rb, "mine.bin") == secret
    # Alice's repo is as it was: still gated (or private) to bob.
    if kind == "gated":
        with pytest.raises(GatedRepoError):
            hf_hub_download(a_id, "secret.bin", token=accounts.bob, cache_dir=tmp_path / "bob-cache-2")
    ra.close()
    rb.close()


# -- the stock client, two repos, one copy of the bytes ------------------------------------------------------
UPLOAD = """
    from huggingface_hub import HfApi, constants
    repo_id, path, name, token, xet = ARGS
    assert constants.HF_HUB_DISABLE_XET == (not xet)
    api = HfApi(token=token)
    api.create_repo(repo_id, exist_ok=True)
    info = api.upload_file(path_or_fileobj=path, path_in_repo=name, repo_id=repo_id)
    print("RESULT=" + json.dumps(info.oid))
"""


def test_stock_clients_upload_the_same_file_to_two_repos_and_store_it_once(
    fresh_hub: HubServer, tmp_path: Path
) -> None:
    # Stored bytes change only with uploads (no background chunking of LFS content into xorbs), and LFS
    # objects of 2 MiB and more go in 1 MiB parts, so the multipart path is crossed too.
    fresh_hub.env.update(
        {
            "OMH_XET_INDEX_UPLOADS": "false",
            "OMH_LFS_MULTIPART_THRESHOLD": str(2 * MiB),
            "OMH_LFS_MULTIPART_CHUNK_SIZE": str(MiB),
        }
    )
    hub = fresh_hub.start()
    for name in ("alice", "bob"):
        hub.create_user(name)
    hub.create_user("root", admin=True)
    alice, bob, root = hub.create_token("alice"), hub.create_token("bob"), hub.create_token("root")

    def stored() -> int:
        r = httpx.get(f"{hub.url}/api/storage", headers=auth(root), timeout=60)
        assert r.status_code == 200, r.text
        return int(r.json()["stored_bytes"])

    size = 3 * MiB
    files = {}
    for via in ("lfs", "xet"):
        files[via] = tmp_path / f"{via}.bin"
        files[via].write_bytes(_secret(size))
    for via, xet in (("lfs", False), ("xet", True)):
        path = files[via]
        sha = _sha(path.read_bytes())
        s0 = stored()
        client_result(hub, tmp_path, UPLOAD, [f"alice/{via}-one", str(path), "w.bin", alice, xet], xet=xet)
        s1 = stored()
        assert s1 - s0 >= size * 0.9, (via, s0, s1)
        # Another user's repo: the client uploads (the hub asks for the bytes), nothing new is stored.
        client_result(hub, tmp_path, UPLOAD, [f"bob/{via}-two", str(path), "w.bin", bob, xet], xet=xet)
        assert stored() - s1 < 0.01 * size, (via, s1, stored())
        for repo_id, token in ((f"alice/{via}-one", alice), (f"bob/{via}-two", bob)):
            r = httpx.get(
                f"{hub.url}/{repo_id}/resolve/main/w.bin",
                headers=auth(token),
                timeout=60,
                follow_redirects=True,
            )
            assert r.status_code == 200 and _sha(r.content) == sha, (repo_id, r.status_code)
        # The same content again in a repo that has it: the batch API asks for no transfer.
        rh = RawHub(hub.url, f"bob/{via}-two", bob)
        (obj,) = rh.lfs_batch([(sha, size)])["objects"]
        assert "actions" not in obj and "error" not in obj, obj
        # ... while a repo that does not have it is asked for the bytes.
        rh.repo_id = f"alice/{via}-three"
        rh.token = alice
        rh.create_repo()
        (obj,) = rh.lfs_batch([(sha, size)])["objects"]
        assert "upload" in obj["actions"], obj
        rh.close()
    # A re-upload to the same repo under another path goes through without new bytes.
    s2 = stored()
    client_result(
        hub, tmp_path, UPLOAD, ["alice/lfs-one", str(files["lfs"]), "copy.bin", alice, False], xet=False
    )
    client_result(
        hub, tmp_path, UPLOAD, ["alice/xet-one", str(files["xet"]), "copy.bin", alice, True], xet=True
    )
    assert stored() - s2 < 0.01 * size


def test_with_direct_uploads_into_s3_stored_bytes_of_another_repo_go_through_the_hub(
    tmp_path: Path, moto_endpoint: str
) -> None:
    """With OMH_S3_DOWNLOAD=redirect clients upload straight into the bucket, where nothing tells whether
    this client had the bytes; so content the hub stores for another repo is uploaded through the hub's own
    signed URLs (single PUT or parts), which check the bytes as they arrive."""
    from tests.support.moto import new_bucket, s3_env

    env = {
        **s3_env(moto_endpoint, new_bucket(moto_endpoint)),
        "OMH_LFS_MULTIPART_THRESHOLD": str(6 * MiB),
        "OMH_LFS_MULTIPART_CHUNK_SIZE": str(5 * MiB),
        "OMH_XET_INDEX_UPLOADS": "false",
    }
    hub = HubServer(tmp_path / "data", env=env)
    try:
        hub.start()
        hub.create_user("alice")
        hub.create_user("bob")
        alice = RawHub(hub.url, "alice/s3-secret", hub.create_token("alice"))
        bob = RawHub(hub.url, "bob/s3-copy", hub.create_token("bob"))
        small, big = _secret(300_000), _secret(11 * MiB)
        alice.create_repo()
        for data in (small, big):  # "basic" transfers only: one presigned PUT each, into the bucket
            (obj,) = alice.lfs_batch([(_sha(data), len(data))])["objects"]
            assert obj["actions"]["upload"]["href"].startswith(moto_endpoint), obj
            assert alice.lfs_upload(data) == _sha(data)
        alice.commit_ok([header_line(), lfs_line("s.bin", _sha(small), len(small))])

        bob.create_repo()
        (obj,) = bob.lfs_batch([(_sha(small), len(small))])["objects"]
        put, verify = obj["actions"]["upload"]["href"], obj["actions"]["verify"]["href"]
        assert put.startswith(f"{hub.url}/lfs/objects/"), put
        assert_error(bob.client.put(put, content=os.urandom(len(small))), 400, "ChecksumMismatch")
        r = bob.client.post(verify, json={"oid": _sha(small), "size": len(small)}, headers=auth(bob.token))
        assert_error(r, 400, "LfsObjectNotFound")
        assert bob.client.put(put, content=small).status_code == 200
        r = bob.client.post(verify, json={"oid": _sha(small), "size": len(small)}, headers=auth(bob.token))
        assert r.status_code == 200, r.text

        r = bob.client.post(
            f"{hub.url}/bob/s3-copy.git/info/lfs/objects/batch",
            json={
                "operation": "upload",
                "transfers": ["basic", "multipart"],
                "objects": [{"oid": _sha(big), "size": len(big)}],
            },
            headers=auth(bob.token),
        )
        upload = r.json()["objects"][0]["actions"]["upload"]
        chunk = int(upload["header"]["chunk_size"])
        parts = {int(k): v for k, v in upload["header"].items() if k.isdigit()}
        assert sorted(parts) == [1, 2, 3] and all(
            u.startswith(f"{hub.url}/lfs/multipart/") for u in parts.values()
        )
        etags = []
        for n, url in sorted(parts.items()):
            r = bob.client.put(url, content=big[(n - 1) * chunk : n * chunk])
            assert r.status_code == 200, r.text
            etags.append({"partNumber": n, "etag": r.headers["ETag"]})
        r = bob.client.post(upload["href"], json={"oid": _sha(big), "parts": etags})
        assert r.status_code == 200, r.text
        bob.commit_ok(
            [
                header_line(),
                lfs_line("s.bin", _sha(small), len(small)),
                lfs_line("b.bin", _sha(big), len(big)),
            ]
        )
        for name, data in (("s.bin", small), ("b.bin", big)):
            assert _content(bob, name) == data, name
        alice.close()
        bob.close()
    finally:
        hub.stop()
