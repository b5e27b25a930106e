"""Xet end to end (issue #4): the stock client with hf_xet uploads and downloads through the hub's CAS.

- all-MiniLM-L6-v2 goes up through Xet (the server records xorbs) and comes back byte-identical, with the
  same embeddings, through Xet and through plain HTTP (HF_HUB_DISABLE_XET=1);
- deduplication, measured on the hub's storage accounting: a 256 MiB file again, a copy with 1 MiB changed,
  the same file in a second repo;
- bad input (wrong xorb hash, corrupt LZ4, a shard naming unknown xorbs, a sha256 that the bytes do not have,
  expired, forged and wrong-repo tokens) is a clear 4xx, stores nothing and moves no branch;
- a hub killed (SIGKILL) during a Xet upload: after a restart the upload completes and only the xorbs that
  were not stored are sent again;
- content uploaded through Git LFS is chunked into the same store, so Xet clients download and dedup it.

huggingface_hub reads HF_ENDPOINT and HF_HUB_DISABLE_XET at import time: clients of the test's own hubs run in
a subprocess (`client_result`), each with its own hf_xet cache so that downloads really go to the hub.
"""

import hashlib
import json
import os
import shutil
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from openmodelhub.protocol.xet import XetPacker, build_xorb, chunk_bytes, hash_to_hex
from tests.support.server import HubServer, client_result
from tests.support.stored import lfs_redirects

MiB = 1 << 20
JSON_ARGS = "json.loads(r'''{args}''')"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


def _files_of(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): _sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith(".cache/")
    }


def _get(hub: HubServer, path: str, token: str) -> dict[str, Any]:
    r = httpx.get(f"{hub.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


UPLOAD = """
    from huggingface_hub import HfApi, constants
    repo_id, path, name, token, create = ARGS
    assert not constants.HF_HUB_DISABLE_XET
    api = HfApi(token=token)
    if create:
        api.create_repo(repo_id, exist_ok=True)
    info = api.upload_file(path_or_fileobj=path, path_in_repo=name, repo_id=repo_id)
    print("RESULT=" + json.dumps(info.oid))
"""


# -- a real model, both ways ---------------------------------------------------------------------------------
DOWNLOAD_AND_EMBED = """
    import hashlib
    from pathlib import Path
    import torch
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url, snapshot_download
    from transformers import AutoModel, AutoTokenizer

    repo_id, token, cache, local, xet = ARGS
    assert constants.HF_HUB_DISABLE_XET == (not xet)
    meta = get_hf_file_metadata(hf_hub_url(repo_id, "model.safetensors"), token=token)
    # The hub offers Xet for the weights; a client with Xet enabled downloads them through the CAS.
    assert meta.xet_file_data is not None
    snap = Path(snapshot_download(repo_id, token=token, cache_dir=cache + "/snap"))
    files = {
        p.relative_to(snap).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(snap.rglob("*")) if p.is_file()
    }

    def embed(source, **kw):
        tok = AutoTokenizer.from_pretrained(source, **kw)
        model = AutoModel.from_pretrained(source, **kw).eval()
        batch = tok(["OpenModelHub speaks Xet."], return_tensors="pt")
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1))[0].tolist()

    remote = embed(repo_id, token=token, cache_dir=cache + "/tf")
    print("RESULT=" + json.dumps({"files": files, "remote": remote, "local": embed(local)}))
"""


@pytest.mark.slow
@pytest.mark.xdist_group("minilm")
def test_minilm_goes_up_through_xet_and_comes_back_identical_both_ways(
    hub: HubServer, accounts: Any, minilm_dir: Path, repo_name: str, tmp_path: Path
) -> None:
    src = tmp_path / "minilm"
    shutil.copytree(minilm_dir, src)
    repo_id = f"alice/{repo_name}"
    code = """
        from huggingface_hub import HfApi, constants
        repo_id, folder, token = ARGS
        assert not constants.HF_HUB_DISABLE_XET
        api = HfApi(token=token)
        api.create_repo(repo_id)
        api.upload_folder(folder_path=folder, repo_id=repo_id, commit_message="Upload MiniLM")
        print("RESULT=" + json.dumps(api.model_info(repo_id).sha))
    """
    client_result(hub, tmp_path, code, [repo_id, str(src), accounts.alice])
    stats = _get(hub, f"/api/models/{repo_id}/storage", accounts.alice)
    # The weights went through Xet: they are a Xet file made of stored xorbs (which this repo stored first,
    # unless another test of this session uploaded MiniLM before: Xet deduplicates across repos).
    weights = (src / "model.safetensors").stat().st_size
    assert stats["xet_files"] >= 1 and stats["xet_file_bytes"] >= weights, stats
    assert stats["xorb_bytes_referenced"] >= weights // 2, stats  # compressed, yet most of it

    head = httpx.head(
        f"{hub.url}/{repo_id}/resolve/main/model.safetensors",
        headers={"Authorization": f"Bearer {accounts.alice}"},
    )
    # On S3 (OMH_S3_DOWNLOAD=redirect) content also stored whole, as one object, answers 302 to the bucket;
    # content stored only as xorbs is streamed by the hub. The headers are the same either way.
    assert head.status_code in ((200, 302) if lfs_redirects(hub) else (200,))
    assert len(head.headers["X-Xet-Hash"]) == 64
    assert f"/api/models/{repo_id}/xet-read-token/" in head.headers["Link"]
    assert 'rel="xet-auth"' in head.headers["Link"]
    assert head.headers["X-Linked-Etag"] == f'"{_sha256_file(src / "model.safetensors")}"'
    assert int(head.headers["X-Linked-Size"]) == weights

    expected = _files_of(src)
    results = {}
    for xet in (True, False):
        args = [repo_id, accounts.alice, str(tmp_path / f"cache-{xet}"), str(minilm_dir), xet]
        results[xet] = client_result(hub, tmp_path, DOWNLOAD_AND_EMBED, args, xet=xet)
    assert results[True]["files"] == expected
    assert results[False]["files"] == expected
    for xet in (True, False):
        remote, local = results[xet]["remote"], results[xet]["local"]
        assert len(remote) == 384
        assert max(abs(a - b) for a, b in zip(remote, local, strict=True)) < 1e-6
    assert results[True]["remote"] == results[False]["remote"]


# -- deduplication, measured ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_dedup_of_a_256_mib_file(fresh_hub: HubServer, tmp_path: Path) -> None:
    hub = fresh_hub.start()
    hub.create_user("alice")
    hub.create_user("root", admin=True)
    alice, root = hub.create_token("alice"), hub.create_token("root")
    big = tmp_path / "big.bin"
    size = 256 * MiB
    with open(big, "wb") as f:
        for _ in range(size // (16 * MiB)):
            f.write(os.urandom(16 * MiB))
    changed = tmp_path / "changed.bin"
    shutil.copyfile(big, changed)
    with open(changed, "r+b") as f:
        f.seek(size // 2)
        f.write(os.urandom(MiB))

    def stored() -> int:
        return int(_get(hub, "/api/storage", root)["stored_bytes"])

    steps = [
        ("first upload", "alice/one", big, "big.bin", True),
        ("same bytes, another path", "alice/one", big, "again/big-copy.bin", False),
        ("1 MiB changed in the middle", "alice/one", changed, "changed.bin", False),
        ("same file, second repo", "alice/two", big, "big.bin", True),
    ]
    new_bytes = {}
    for label, repo_id, path, name, create in steps:
        before = stored()
        client_result(hub, tmp_path, UPLOAD, [repo_id, str(path), name, alice, create])
        new_bytes[label] = stored() - before
    print("\nnew stored bytes per step:", json.dumps(new_bytes))
    assert new_bytes["first upload"] >= size
    assert new_bytes["same bytes, another path"] < 0.01 * size, new_bytes
    assert new_bytes["1 MiB changed in the middle"] < 0.05 * size, new_bytes
    assert new_bytes["same file, second repo"] < 0.01 * size, new_bytes
    two = _get(hub, "/api/models/alice/two/storage", alice)
    assert two["logical_bytes"] >= size and two["xorb_bytes"] < 0.01 * size, two  # global dedup

    # Plain HTTP serves the reconstructed bytes: whole, and any range (206), identical to the file.
    url = f"{hub.url}/alice/one/resolve/main/changed.bin"
    auth = {"Authorization": f"Bearer {alice}"}
    digest = hashlib.sha256()
    with httpx.stream("GET", url, headers=auth, timeout=300) as r:
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == size
        for block in r.iter_bytes():
            digest.update(block)
    assert digest.hexdigest() == _sha256_file(changed)
    with open(changed, "rb") as f:
        f.seek(size // 2 - 1000)
        want = f.read(MiB + 2000)
    r = httpx.get(
        url, headers={**auth, "Range": f"bytes={size // 2 - 1000}-{size // 2 + MiB + 999}"}, timeout=60
    )
    assert r.status_code == 206 and r.content == want
    r = httpx.get(url, headers={**auth, "Range": f"bytes={size}-"}, timeout=60)
    assert r.status_code == 416


# -- bad input -----------------------------------------------------------------------------------------------
def _compressible(n: int, seed: int) -> bytes:
    rnd = __import__("random").Random(seed)
    out = bytearray()
    while len(out) < n:
        out += bytes([rnd.randrange(256)]) * rnd.randrange(1, 40) + rnd.randbytes(rnd.randrange(1, 20))
    return bytes(out[:n])


def test_bad_input_is_refused_and_stores_nothing(fresh_hub: HubServer, tmp_path: Path) -> None:
    ttl = 15  # tokens are fetched again right before each step; the last step waits for expiry
    fresh_hub.env["OMH_XET_TOKEN_TTL_SECONDS"] = str(ttl)
    hub = fresh_hub.start()
    hub.create_user("alice")
    alice = hub.create_token("alice")
    auth = {"Authorization": f"Bearer {alice}"}
    for name in ("a", "b"):
        assert httpx.post(f"{hub.url}/api/repos/create", json={"name": name}, headers=auth).status_code == 200

    def token(repo: str, kind: str, rev: str = "main") -> tuple[dict[str, str], str]:
        r = httpx.get(f"{hub.url}/api/models/alice/{repo}/xet-{kind}-token/{rev}", headers=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        assert r.headers["X-Xet-Access-Token"] == body["accessToken"]
        assert r.headers["X-Xet-Cas-Url"] == body["casUrl"] == f"{hub.url}/xet"
        assert int(r.headers["X-Xet-Token-Expiration"]) == body["exp"] > time.time()
        return {"Authorization": f"Bearer {body['accessToken']}"}, body["casUrl"]

    def refused(r: httpx.Response, status: int, code: str, words: str) -> None:
        assert r.status_code == status, (r.status_code, r.text)
        assert r.headers["X-Error-Code"] == code, r.headers
        assert words in r.json()["error"], r.json()

    def counts() -> tuple[int, int]:
        s = _get(hub, "/api/models/alice/b/storage", alice)
        return s["xorbs"], s["xet_files"]

    def head() -> str:
        return str(_get(hub, "/api/models/alice/b", alice)["sha"])

    data = _compressible(700_000, seed=1)
    packer = XetPacker(compression="lz4", max_xorb_bytes=256 * 1024)
    packer.add_bytes(data)
    packed = packer.finish()
    assert len(packed.xorbs) >= 2
    write, cas = token("b", "write")
    start = head()

    # A xorb whose chunks do not hash to the name it is uploaded under.
    x0, x1 = packed.xorbs[0], packed.xorbs[1]
    r = httpx.post(f"{cas}/v1/xorbs/default/{hash_to_hex(x1.hash)}", content=x0.data, headers=write)
    refused(r, 400, "XetDataInvalid", "xorb hash computed from its")
    # Corrupt LZ4 inside a chunk (sizes intact), and a truncated chunk.
    lz4 = next(c for c in x0.info.chunks if c.scheme != 0)
    corrupt = bytearray(x0.data)
    corrupt[lz4.offset + 8 + lz4.packed_size // 2] ^= 0x5A
    r = httpx.post(f"{cas}/v1/xorbs/default/{x0.info.hex}", content=bytes(corrupt), headers=write)
    refused(r, 400, "XetDataInvalid", "rejected")
    r = httpx.post(f"{cas}/v1/xorbs/default/{x0.info.hex}", content=x0.data[:-50], headers=write)
    refused(r, 400, "XetDataInvalid", "rejected")
    # A shard naming xorbs the hub does not have.
    r = httpx.post(f"{cas}/v2/shards", content=packed.shard, headers=write)
    refused(r, 400, "XetDataInvalid", "shard rejected")
    assert counts() == (0, 0)

    # A read token cannot upload; a forged token is a 401.
    read_b, _ = token("b", "read")
    r = httpx.post(f"{cas}/v1/xorbs/default/{x0.info.hex}", content=x0.data, headers=read_b)
    refused(r, 403, "Forbidden", "uploads need a write token")
    forged = {"Authorization": write["Authorization"][:-3] + "AAA"}
    r = httpx.post(f"{cas}/v1/xorbs/default/{x0.info.hex}", content=x0.data, headers=forged)
    refused(r, 401, "XetTokenInvalid", "invalid signature")
    assert counts() == (0, 0)

    # The real xorbs are accepted; then a shard claiming a sha256 its bytes do not have is refused.
    write, _ = token("b", "write")
    for x in packed.xorbs:
        r = httpx.post(f"{cas}/v1/xorbs/default/{x.info.hex}", content=x.data, headers=write)
        assert r.status_code == 200 and r.json() == {"was_inserted": True}, r.text
    from openmodelhub.protocol.xet import build_shard, parse_shard, sha256_field
    from openmodelhub.protocol.xet.shard import FileInfo

    parsed = parse_shard(packed.shard)
    f = parsed.files[0]
    fake_sha = hashlib.sha256(b"not these bytes").digest()
    lie = build_shard(
        [FileInfo(f.file_hash, f.entries, f.verification, sha256_field(fake_sha))], parsed.xorbs
    )
    r = httpx.post(f"{cas}/v2/shards", content=lie, headers=write)
    refused(r, 400, "XetDataInvalid", "reconstruct to sha256")
    assert counts() == (len(packed.xorbs), 0)

    # A commit naming that sha256 (or the real one, never registered) is refused; the branch does not move.
    for sha in (fake_sha.hex(), hashlib.sha256(data).hexdigest()):
        lines = [
            {"key": "header", "value": {"summary": "bad", "description": ""}},
            {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": sha, "size": len(data)}},
        ]
        body = "\n".join(json.dumps(x) for x in lines)
        r = httpx.post(
            f"{hub.url}/api/models/alice/b/commit/main",
            content=body,
            headers={**auth, "Content-Type": "application/x-ndjson"},
        )
        refused(r, 400, "LfsObjectNotFound", "has not been uploaded")
    assert head() == start

    # The honest shard registers the file; a commit in b makes it readable with b's read token only.
    write, _ = token("b", "write")
    r = httpx.post(f"{cas}/v2/shards", content=packed.shard, headers=write)
    assert r.status_code == 200 and b'"result"' in r.content, r.text
    sha = hashlib.sha256(data).hexdigest()
    lines[1]["value"]["oid"] = sha
    r = httpx.post(
        f"{hub.url}/api/models/alice/b/commit/main",
        content="\n".join(json.dumps(x) for x in lines),
        headers={**auth, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    file_id = hash_to_hex(f.file_hash)
    read_b, _ = token("b", "read")
    read_a, _ = token("a", "read")
    r = httpx.get(f"{cas}/v2/reconstructions/{file_id}", headers={**read_b, "Range": "bytes=0-99"})
    assert r.status_code == 200, r.text
    plan = r.json()
    first = next(iter(plan["xorbs"].values()))[0]
    span = first["ranges"][0]["bytes"]
    got = httpx.get(first["url"], headers={"Range": f"bytes={span['start']}-{span['end']}"})
    assert got.status_code == 206 and len(got.content) == span["end"] - span["start"] + 1
    if "/xet/xorb-data/" in first["url"]:  # the hub's own signed URL (with S3 redirects: a presigned S3 URL)
        refused(httpx.get(first["url"].split("?")[0]), 403, "Forbidden", "not signed")
    r = httpx.get(f"{cas}/v2/reconstructions/{file_id}", headers=read_a)
    refused(r, 403, "Forbidden", "is not part of alice/a")
    write, _ = token("b", "write")
    r = httpx.get(f"{cas}/v1/reconstructions/{file_id}", headers=write)
    refused(r, 403, "Forbidden", "downloads need a read token")
    # The plain download gives the bytes back.
    r = httpx.get(f"{hub.url}/alice/b/resolve/main/w.bin", headers=auth)
    assert r.status_code == 200 and r.content == data

    # Tokens expire.
    read_b, _ = token("b", "read")
    time.sleep(ttl + 1.5)
    r = httpx.get(f"{cas}/v2/reconstructions/{file_id}", headers=read_b)
    refused(r, 401, "XetTokenInvalid", "expired")


# -- a crash in the middle of a Xet upload -------------------------------------------------------------------
UPLOAD_FOLDER = """
    from huggingface_hub import HfApi
    repo_id, folder, token = ARGS
    api = HfApi(token=token)
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(folder_path=folder, repo_id=repo_id)
    print("RESULT=" + json.dumps(api.model_info(repo_id).sha))
"""


@pytest.mark.slow
def test_kill_during_xet_upload_then_resume(fresh_hub: HubServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    hub = fresh_hub.start()
    hub.create_user("alice")
    alice = hub.create_token("alice")
    folder = tmp_path / "folder"
    folder.mkdir()
    size = 320 * MiB
    with open(folder / "weights.bin", "wb") as f:
        for _ in range(size // (16 * MiB)):
            f.write(os.urandom(16 * MiB))
    (folder / "README.md").write_text("# resumed\n")

    def xorbs() -> dict[str, int]:
        out = hub.cli("storage", "stats", "--json")
        data = json.loads(out.stdout)
        return {"xorbs": data["xorbs"], "redundant": data["redundant_xorb_uploads"]}

    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_XET_CACHE": str(tmp_path / "xet-cache"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    code = "import json\n" + textwrap.dedent(UPLOAD_FOLDER).replace(
        "ARGS", JSON_ARGS.format(args=json.dumps(["alice/resumed", str(folder), alice]))
    )
    client = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 300
        while xorbs()["xorbs"] < 1:
            assert client.poll() is None, "the upload ended before any xorb was stored"
            assert time.monotonic() < deadline, "no xorb was stored"
            time.sleep(0.2)
        hub.kill()
    finally:
        client.kill()
        client.wait()
    stored_before = xorbs()["xorbs"]
    assert stored_before >= 1
    hub.start()
    sha = client_result(hub, tmp_path, UPLOAD_FOLDER, ["alice/resumed", str(folder), alice])
    after = xorbs()
    print(f"\nxorbs stored before the crash: {stored_before}; after resuming: {after}")
    # Every xorb stored before the crash was reused, none was sent again; the upload is complete.
    assert after["redundant"] == 0, after
    assert after["xorbs"] >= stored_before
    info = _get(hub, "/api/models/alice/resumed/storage", alice)
    assert info["xet_files"] == 1 and info["xorb_bytes"] < size * 1.01, info
    r = httpx.head(
        f"{hub.url}/alice/resumed/resolve/{sha}/weights.bin", headers={"Authorization": f"Bearer {alice}"}
    )
    assert r.status_code == 200 and r.headers["X-Linked-Etag"] == f'"{_sha256_file(folder / "weights.bin")}"'


# -- LFS uploads join the Xet store --------------------------------------------------------------------------
LFS_UPLOAD = """
    from huggingface_hub import HfApi, constants
    repo_id, path, token = ARGS
    assert constants.HF_HUB_DISABLE_XET
    api = HfApi(token=token)
    api.create_repo(repo_id)
    info = api.upload_file(path_or_fileobj=path, path_in_repo="w.bin", repo_id=repo_id)
    print("RESULT=" + json.dumps(info.oid))
"""

DOWNLOAD = """
    import hashlib
    from huggingface_hub import constants, hf_hub_download, get_hf_file_metadata, hf_hub_url
    repo_id, name, token, cache = ARGS
    assert not constants.HF_HUB_DISABLE_XET
    assert get_hf_file_metadata(hf_hub_url(repo_id, name), token=token).xet_file_data is not None
    path = hf_hub_download(repo_id, name, token=token, cache_dir=cache)
    print("RESULT=" + json.dumps(hashlib.sha256(open(path, "rb").read()).hexdigest()))
"""


@pytest.mark.slow
def test_lfs_uploads_are_chunked_into_the_same_store(fresh_hub: HubServer, tmp_path: Path) -> None:
    hub = fresh_hub.start()
    hub.create_user("alice")
    hub.create_user("root", admin=True)
    alice, root = hub.create_token("alice"), hub.create_token("root")
    path = tmp_path / "w.bin"
    path.write_bytes(os.urandom(12 * MiB))
    sha = _sha256_file(path)
    client_result(hub, tmp_path, LFS_UPLOAD, ["alice/lfs", str(path), alice], xet=False)
    deadline = time.monotonic() + 180
    while _get(hub, "/api/models/alice/lfs/storage", alice)["xet_files"] < 1:  # the xet_index job
        assert time.monotonic() < deadline, "the LFS upload was never chunked into xorbs"
        time.sleep(0.5)
    stats = _get(hub, "/api/storage", root)
    assert stats["both_files"] == 1 and sha in stats["both_paths"], stats
    # A Xet client now downloads it through the CAS, and deduplicates a new upload of it against it.
    assert client_result(hub, tmp_path, DOWNLOAD, ["alice/lfs", "w.bin", alice, str(tmp_path / "c")]) == sha
    before = int(_get(hub, "/api/storage", root)["xorb_bytes"])
    client_result(hub, tmp_path, UPLOAD, ["alice/via-xet", str(path), "w.bin", alice, True])
    assert int(_get(hub, "/api/storage", root)["xorb_bytes"]) - before < 0.01 * path.stat().st_size


def test_xorb_that_is_a_plain_blob_is_not_required_upfront(
    hub: HubServer, accounts: Any, repo_name: str
) -> None:
    """Tokens are per repo and per direction; the CAS answers 404 to dedup queries for unknown chunks."""
    auth = {"Authorization": f"Bearer {accounts.alice}"}
    assert (
        httpx.post(f"{hub.url}/api/repos/create", json={"name": repo_name}, headers=auth).status_code == 200
    )
    r = httpx.get(f"{hub.url}/api/models/alice/{repo_name}/xet-write-token/main", headers=auth)
    assert r.status_code == 200
    write = {"Authorization": f"Bearer {r.json()['accessToken']}"}
    chunk = build_xorb(chunk_bytes(b"x" * 20000)).info.chunks[0].hash
    r = httpx.get(f"{hub.url}/xet/v1/chunks/default/{hash_to_hex(chunk)}", headers=write)
    assert r.status_code == 404
    # Bob cannot get a write token for alice's repo; anonymous callers get none at all.
    bob = {"Authorization": f"Bearer {accounts.bob}"}
    r = httpx.get(f"{hub.url}/api/models/alice/{repo_name}/xet-write-token/main", headers=bob)
    assert r.status_code == 403
    r = httpx.get(f"{hub.url}/api/models/alice/{repo_name}/xet-write-token/main")
    assert r.status_code == 401
