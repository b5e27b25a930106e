"""Secrets never leave the hub where they should not: no token or password in the server's log, and no
token in any URL the hub hands out (Location and pagination Link headers, LFS transfer URLs, Xet xorb URLs).
URLs that grant access carry a signature of their own instead of the caller's bearer token.

One hub, with `--log-level debug`, driven through every way a token is sent: Bearer and Basic (git-lfs)
headers, the stock client's Xet upload, web sign-in, wrong passwords and unknown tokens; every answer is
recorded and read afterwards.
"""

import base64
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from huggingface_hub import HfApi

from tests.support.rawhub import LFS_JSON, NDJSON, file_line, header_line, lfs_line, ndjson
from tests.support.server import HubServer

PASSWORD = "a password nobody logs"
WRONG_PASSWORD = "a wrong password nobody logs"
# Headers whose values are URLs the hub emits.
URL_HEADERS = ("location", "content-location", "link", "x-xet-cas-url")


class Recorder:
    """An httpx client that keeps every answer."""

    def __init__(self, hub: HubServer) -> None:
        self.answers: list[httpx.Response] = []
        self.http = httpx.Client(
            base_url=hub.url, timeout=60, event_hooks={"response": [self._keep]}, follow_redirects=False
        )

    def _keep(self, r: httpx.Response) -> None:
        r.read()
        self.answers.append(r)

    def __call__(self, method: str, url: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, url, headers=headers, **kw)


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for v in data.values():
            yield from _strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from _strings(v)


def _emitted_urls(r: httpx.Response) -> list[str]:
    """URLs in an answer's headers and (JSON) body."""
    urls = []
    for name in URL_HEADERS:
        for value in r.headers.get_list(name):
            urls += re.findall(r"<([^>]+)>", value) if name == "link" else [value]
    if r.headers.get("content-type", "").startswith(("application/json", LFS_JSON)) and r.content:
        urls += [s for s in _strings(r.json()) if s.startswith(("http://", "https://", "/"))]
    return urls


def _ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:500]}"
    return r.json() if r.content else None


@pytest.fixture
def debug_hub(fresh_hub: HubServer) -> HubServer:
    fresh_hub.env["OMH_REGISTRATION"] = "open"
    fresh_hub.log_level = "debug"
    return fresh_hub.start()


def test_tokens_stay_out_of_logs_and_emitted_urls(debug_hub: HubServer) -> None:
    hub = debug_hub
    call = Recorder(hub)
    name = f"leak{uuid.uuid4().hex[:6]}"
    _ok(call("POST", "/api/users", json={"username": name, "password": PASSWORD}))

    # Tokens from the password, as a UI does; a wrong password on the way.
    wrong = call("POST", "/api/tokens", json={"username": name, "password": WRONG_PASSWORD, "role": "read"})
    assert wrong.status_code == 401
    created: list[httpx.Response] = []

    def token(**body: Any) -> str:
        r = call("POST", "/api/tokens", json={"username": name, "password": PASSWORD, **body})
        created.append(r)
        secret = _ok(r)["token"]
        assert isinstance(secret, str) and secret.startswith("omh_")
        return secret

    write = token(role="write", displayName="w")
    read = token(role="read", displayName="r")
    scoped = token(role="fineGrained", scopes=[f"namespace:{name}:write"], displayName="fg")
    unknown = "omh_" + base64.urlsafe_b64encode(os.urandom(30)).decode()
    for t in (write, read, scoped):
        assert _ok(call("GET", "/api/whoami-v2", t))["name"] == name
    refused = call("GET", "/api/whoami-v2", unknown)
    assert refused.status_code == 401 and unknown not in refused.text
    assert call("GET", "/api/whoami-v2?token=" + write).status_code == 401  # never taken from a URL

    # Repos, and a listing long enough to be paginated (a Link header).
    repo = f"{name}/leaky"
    for n in ("leaky", "second", "third"):
        _ok(call("POST", "/api/repos/create", write, json={"name": n, "organization": name}))
    page = call("GET", f"/api/models?author={name}&limit=1", read)
    assert _ok(page) and 'rel="next"' in page.headers["link"]
    _ok(call("GET", page.headers["link"].split(">")[0][1:], read))

    # Git LFS: batch upload with a Bearer token, verify with Basic credentials as git-lfs sends them.
    blob = os.urandom(2048)
    oid = hashlib.sha256(blob).hexdigest()
    obj = {"oid": oid, "size": len(blob)}
    up = _ok(
        call(
            "POST",
            f"/{repo}.git/info/lfs/objects/batch",
            write,
            json={"operation": "upload", "transfers": ["basic"], "objects": [obj]},
        )
    )["objects"][0]["actions"]
    href = up["upload"]["href"]
    if href.startswith(hub.url):
        _ok(call("PUT", href, content=blob))
    else:  # a presigned URL of the object store
        assert httpx.put(href, content=blob).status_code == 200
    basic = "Basic " + base64.b64encode(f"{name}:{write}".encode()).decode()
    _ok(call("POST", up["verify"]["href"], json=obj, headers={"Authorization": basic}))
    commit = ndjson(
        [header_line("add"), file_line("README.md", b"# leaky\n"), lfs_line("w.bin", oid, len(blob))]
    )
    _ok(
        call(
            "POST", f"/api/models/{repo}/commit/main", write, content=commit, headers={"Content-Type": NDJSON}
        )
    )
    down = _ok(
        call(
            "POST",
            f"/{repo}.git/info/lfs/objects/batch",
            None,
            json={"operation": "download", "objects": [obj]},
            headers={"Authorization": basic},
        )
    )["objects"][0]["actions"]["download"]["href"]
    got = call("GET", down)
    assert (got.status_code == 200 and got.content == blob) or got.status_code == 302
    for t in (read, scoped):
        r = call("GET", f"/{repo}/resolve/main/w.bin", t)
        assert r.status_code in (200, 302), r.text
        assert r.status_code == 302 or r.content == blob

    # Xet: the stock client uploads binary content through Xet; its reconstruction hands out xorb URLs.
    data = os.urandom(300_000) + b"\0"
    HfApi(endpoint=hub.url, token=write).upload_file(path_or_fileobj=data, path_in_repo="x.bin", repo_id=repo)
    # X-Xet-Hash was missing once, right after the upload, in a loaded CI run (not reproduced since): give the
    # hub a few seconds; this test is about where tokens go, tests/e2e/test_xet.py about Xet itself.
    for _ in range(20):
        head = call("HEAD", f"/{repo}/resolve/main/x.bin", read)
        xet_hash = head.headers.get("x-xet-hash")
        if xet_hash:
            break
        time.sleep(0.5)
    assert xet_hash, head.headers
    xet = _ok(call("GET", f"/api/models/{repo}/xet-read-token/main", read))
    xet_write = _ok(call("GET", f"/api/models/{repo}/xet-write-token/main", write))
    for version in ("v1", "v2"):
        plan = _ok(call("GET", f"/xet/{version}/reconstructions/{xet_hash}", xet["accessToken"]))
        xorb_urls = [s for s in _strings(plan) if s.startswith("http")]
        assert xorb_urls, plan
        for url in xorb_urls:
            if url.startswith(hub.url):
                assert call("GET", url, headers={"Range": "bytes=0-15"}).status_code in (200, 206)

    # The web UI: signing in, with a page to come back to.
    login = call("GET", "/login?next=/" + repo)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', login.text)
    assert csrf
    signed_in = call(
        "POST",
        "/login",
        data={"csrf_token": csrf.group(1), "username": name, "password": PASSWORD, "next": "/" + repo},
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/" + repo
    cookie = call.http.cookies.get("omh_session")
    assert cookie
    call.http.cookies.clear()

    hub_secrets = {"write": write, "read": read, "fine-grained": scoped, "unknown": unknown}
    secrets = {
        **hub_secrets,
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "xet read": xet["accessToken"],
        "xet write": xet_write["accessToken"],
        "session": cookie,
    }

    # 1. No URL the hub emitted holds a token; the ones that grant access are signed.
    checked = 0
    for r in call.answers:
        for url in _emitted_urls(r):
            checked += 1
            for what, secret in secrets.items():
                assert secret not in url, f"{what} token in a URL from {r.request.url}: {url}"
            path = urlsplit(url).path
            if not url.startswith(hub.url) and url.startswith("http"):
                assert "Signature=" in url or "sig=" in url, url  # an object store's presigned URL
            elif path.startswith(("/lfs/objects/", "/lfs/multipart/", "/xet/xorb-data/")):
                assert re.search(r"[?&]sig=[0-9a-f]{64}", url) and "exp=" in url, url
    assert checked > 10
    # 2. No answer but the one creating a token (and whoami's token *name*) repeats a secret of the hub.
    for r in call.answers:
        if r in created:
            continue
        blob_of_answer = (
            r.text
            if "text" in r.headers.get("content-type", "") or "json" in r.headers.get("content-type", "")
            else ""
        )
        headers = json.dumps(list(r.headers.multi_items()))
        for what, secret in {**hub_secrets, "password": PASSWORD}.items():
            assert secret not in blob_of_answer and secret not in headers, (what, r.request.url)
    # 3. The server's log holds none of them, whatever the log level.
    log = hub.log_path.read_text(errors="replace")
    assert log.strip(), "the hub wrote no log at all"
    for what, secret in secrets.items():
        assert secret not in log, f"the {what} secret is in the server log"
    assert not re.search(r"omh_[A-Za-z0-9_-]{20,}", log), "something shaped like a hub token is in the log"
