"""Raw HTTP helpers for tests that need byte-level control over the Hub protocol (no huggingface_hub)."""

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

NDJSON = "application/x-ndjson"
LFS_JSON = "application/vnd.git-lfs+json"


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def assert_not_5xx(resp: httpx.Response) -> None:
    assert resp.status_code < 500, (
        f"{resp.request.method} {resp.request.url} -> {resp.status_code} (a server error):\n"
        f"{resp.text[:2000]}"
    )


def assert_error(resp: httpx.Response, status: int, code: str | None) -> dict[str, Any]:
    """A protocol error: the status, the `X-Error-Code` (None: absent) and a JSON body with 'error'."""
    assert_not_5xx(resp)
    assert resp.status_code == status, (
        f"expected {status} {code}, got {resp.status_code} {resp.headers.get('x-error-code')}: "
        f"{resp.text[:1000]}"
    )
    assert resp.headers.get("x-error-code") == code, resp.headers
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str), body
    assert body["error"], body
    return body


# -- NDJSON commit bodies ------------------------------------------------------------------------------------
def header_line(summary: str = "test commit", parent: str | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"summary": summary, "description": ""}
    if parent is not None:
        value["parentCommit"] = parent
    return {"key": "header", "value": value}


def file_line(path: str, data: bytes) -> dict[str, Any]:
    content = base64.b64encode(data).decode()
    return {"key": "file", "value": {"path": path, "content": content, "encoding": "base64"}}


def lfs_line(path: str, oid: str, size: int | None) -> dict[str, Any]:
    value: dict[str, Any] = {"path": path, "algo": "sha256", "oid": oid}
    if size is not None:
        value["size"] = size
    return {"key": "lfsFile", "value": value}


def delete_line(path: str, folder: bool = False) -> dict[str, Any]:
    return {"key": "deletedFolder" if folder else "deletedFile", "value": {"path": path}}


def ndjson(lines: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


_OWN_TOKEN = object()


class RawHub:
    """Thin helpers over one hub's HTTP API for one model repo."""

    def __init__(self, url: str, repo_id: str, token: str | None = None, timeout: float = 120) -> None:
        self.url = url.rstrip("/")
        self.repo_id = repo_id
        self.token = token
        self.client = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.client.close()

    # -- URLs --------------------------------------------------------------------------------------------
    def api(self, *parts: str) -> str:
        tail = "".join("/" + quote(p, safe="") for p in parts)
        return f"{self.url}/api/models/{self.repo_id}{tail}"

    def resolve_url(self, path: str, revision: str = "main") -> str:
        # Each segment percent-encoded on its own; '.' segments as %2E so no client normalises them away.
        segs = [quote(s, safe="") if s not in (".", "..") else s.replace(".", "%2E") for s in path.split("/")]
        return f"{self.url}/{self.repo_id}/resolve/{quote(revision, safe='')}/{'/'.join(segs)}"

    # -- calls -------------------------------------------------------------------------------------------
    def create_repo(self) -> None:
        ns, name = self.repo_id.split("/")
        r = self.client.post(
            f"{self.url}/api/repos/create", json={"name": name, "organization": ns}, headers=auth(self.token)
        )
        assert r.status_code == 200, r.text

    def head(self, branch: str = "main") -> str:
        r = self.client.get(self.api("revision", branch), headers=auth(self.token))
        assert r.status_code == 200, r.text
        sha = r.json()["sha"]
        assert isinstance(sha, str) and len(sha) == 40
        return sha

    def commit(
        self,
        body: bytes | Iterator[bytes],
        revision: str = "main",
        token: Any = _OWN_TOKEN,
        **kwargs: Any,
    ) -> httpx.Response:
        """POST a commit; `token` overrides the helper's own token (None: anonymous)."""
        tok = self.token if token is _OWN_TOKEN else token
        headers = {"Content-Type": NDJSON, **auth(tok)}
        return self.client.post(self.api("commit", revision), content=body, headers=headers, **kwargs)

    def commit_ok(self, lines: list[dict[str, Any]], revision: str = "main") -> str:
        r = self.commit(ndjson(lines), revision)
        assert r.status_code == 200, r.text
        oid = r.json()["commitOid"]
        assert isinstance(oid, str)
        return oid

    def get_file(
        self, path: str, revision: str = "main", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.client.get(
            self.resolve_url(path, revision), headers={**auth(self.token), **(headers or {})}
        )

    def lfs_batch(self, objects: list[tuple[str, int]], operation: str = "upload") -> dict[str, Any]:
        r = self.client.post(
            f"{self.url}/{self.repo_id}.git/info/lfs/objects/batch",
            json={
                "operation": operation,
                "transfers": ["basic"],
                "hash_algo": "sha256",
                "objects": [{"oid": oid, "size": size} for oid, size in objects],
            },
            headers={"Accept": LFS_JSON, "Content-Type": LFS_JSON, **auth(self.token)},
        )
        assert r.status_code == 200, r.text
        data = r.json()
        assert isinstance(data, dict)
        return data

    def lfs_upload(self, data: bytes) -> str:
        """Upload one object through the batch API and a single PUT; returns its sha256."""
        oid = hashlib.sha256(data).hexdigest()
        (obj,) = self.lfs_batch([(oid, len(data))])["objects"]
        assert "error" not in obj, obj
        actions = obj.get("actions")
        if actions:
            put = self.client.put(actions["upload"]["href"], content=data)
            assert put.status_code == 200, put.text
            if "verify" in actions:
                v = self.client.post(
                    actions["verify"]["href"], json={"oid": oid, "size": len(data)}, headers=auth(self.token)
                )
                assert v.status_code == 200, v.text
        return oid


def check_blob_store(data_dir: Path) -> int:
    """Every object visible under `blobs/sha256/ab/cd/<sha256>` is complete: its bytes hash to its name.
    Returns how many objects were checked."""
    root = data_dir / "blobs" / "sha256"
    count = 0
    for p in root.rglob("*"):
        if p.is_dir():
            continue
        rel = p.relative_to(root).parts
        assert len(rel) == 3, f"unexpected file in the object store: {p}"
        name = rel[2]
        assert rel[0] == name[:2] and rel[1] == name[2:4], f"object at the wrong place: {p}"
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        assert h.hexdigest() == name, f"partial or corrupt object under its final name: {p}"
        count += 1
    return count
