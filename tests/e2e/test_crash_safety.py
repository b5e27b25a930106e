"""kill -9 during uploads and commits: after a restart the hub shows the old state or the new one, not a mix.

Each test runs its own hub (`fresh_hub`) and SIGKILLs it at chosen moments: while a body is still arriving,
right after the whole body was sent (while the server stores blobs and writes the commit), and so on. After
each restart: the branch is at a consistent commit, every visible file is complete, every object under its
final sha256 name hashes to that name, no API call fails with a 5xx, and the operation can be redone.

On the scale-out stack the hubs store in S3 with OMH_S3_DOWNLOAD=proxy: every byte of an upload or a download
then passes through the hub (with "redirect", LFS transfers go straight to the bucket and a killed hub is not
in their path), so what is killed is the hub's own writing into the bucket.
"""

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.rawhub import (
    LFS_JSON,
    NDJSON,
    RawHub,
    assert_error,
    assert_not_5xx,
    auth,
    file_line,
    header_line,
    lfs_line,
    ndjson,
)
from tests.support.server import HubServer
from tests.support.stack import STACK
from tests.support.stored import check_stored, object_stored

pytestmark = pytest.mark.slow

REPO = "alice/crashy"
MB = 1 << 20
PROXY = {"OMH_S3_DOWNLOAD": "proxy"}  # no effect on a local blob directory
# Small files per commit in the "being made" tests. Every one is written to the store, then read back twice
# per kill point; through S3 (moto) each is several HTTP round trips, so the scale-out pass uses fewer. The
# kill points are the same fractions of the server's measured work either way.
MANY = 150 if STACK == "embedded" else 40
SOME = 80 if STACK == "embedded" else 30


class Sender(threading.Thread):
    """Sends one request in the background, its body handed over chunk by chunk (with `Content-Length`, as
    huggingface_hub does), and records how far it got."""

    def __init__(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        chunk: int = MB,
        pause: float = 0.0,
        mark_at: int | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.method, self.url, self.body, self.chunk, self.pause = method, url, body, chunk, pause
        self.headers = {**(headers or {}), "Content-Length": str(len(body))}
        self.mark_at = mark_at
        self.reached_mark = threading.Event()  # at least `mark_at` bytes were written to the socket
        self.all_sent = threading.Event()  # the whole body was written to the socket
        self.sent_at = 0.0
        self.answered_at = 0.0
        self.stop = threading.Event()
        self.response: httpx.Response | None = None
        self.error: Exception | None = None

    def _chunks(self) -> Iterator[bytes]:
        sent = 0
        for start in range(0, len(self.body), self.chunk):
            if self.stop.is_set():
                raise RuntimeError("sender stopped")
            piece = self.body[start : start + self.chunk]
            yield piece  # resumes once the piece was written
            sent += len(piece)
            if self.mark_at is not None and sent >= self.mark_at:
                self.reached_mark.set()
            if self.pause and sent < len(self.body):
                time.sleep(self.pause)
        self.sent_at = time.monotonic()
        self.all_sent.set()

    def run(self) -> None:
        try:
            with httpx.Client(timeout=120) as client:
                self.response = client.request(
                    self.method, self.url, content=self._chunks(), headers=self.headers
                )
                self.answered_at = time.monotonic()
        except Exception as exc:  # the server was killed under us: expected
            self.error = exc
        finally:
            self.reached_mark.set()
            self.all_sent.set()

    def finish(self) -> None:
        self.stop.set()
        self.join(60)
        assert not self.is_alive(), "the sender thread hangs after the server was killed"


@dataclass
class Crashy:
    server: HubServer
    token: str
    rh: RawHub

    def restart(self) -> RawHub:
        """Start the hub again on the same data dir; a fresh client (old connections are dead)."""
        self.rh.close()
        self.server.start()
        self.rh = RawHub(self.server.url, REPO, self.token)
        return self.rh

    def kill(self) -> None:
        self.server.kill()


@pytest.fixture
def crashy(fresh_hub: HubServer) -> Iterator[Crashy]:
    fresh_hub.env.update(PROXY)
    fresh_hub.create_user("alice")
    token = fresh_hub.create_token("alice")
    fresh_hub.start()
    rh = RawHub(fresh_hub.url, REPO, token)
    rh.create_repo()
    rh.commit_ok([header_line("base"), file_line("README.md", b"# crashy\n")])
    c = Crashy(fresh_hub, token, rh)
    yield c
    c.rh.close()


def sha256_of_download(rh: RawHub, path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with rh.client.stream("GET", rh.resolve_url(path), headers=auth(rh.token)) as r:
        assert r.status_code == 200, r.read()[:500]
        for block in r.iter_bytes(MB):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def assert_healthy(c: Crashy) -> None:
    """A handful of read and write-negotiation calls, none of which may fail with a 5xx."""
    rh = c.rh
    calls = [
        rh.client.get(rh.api(), headers=auth(rh.token)),
        rh.client.get(rh.api("revision", "main"), headers=auth(rh.token)),
        rh.client.get(rh.api("tree", "main"), params={"recursive": "true"}, headers=auth(rh.token)),
        rh.client.get(rh.api("commits", "main"), headers=auth(rh.token)),
        rh.client.get(rh.api("refs"), headers=auth(rh.token)),
        rh.client.post(
            rh.api("paths-info", "main"), json={"paths": ["README.md", "x"]}, headers=auth(rh.token)
        ),
        rh.client.post(
            rh.api("preupload", "main"),
            json={"files": [{"path": "big.bin", "size": 10, "sample": ""}]},
            headers=auth(rh.token),
        ),
        rh.client.get(f"{rh.url}/api/models", params={"author": "alice"}),
        rh.client.get(f"{rh.url}/api/whoami-v2", headers=auth(rh.token)),
        rh.get_file("README.md"),
    ]
    for r in calls:
        assert_not_5xx(r)
        assert r.status_code == 200, f"{r.request.url}: {r.status_code} {r.text[:300]}"
    assert rh.get_file("README.md").content == b"# crashy\n"
    assert check_stored(c.server) > 0


def history(rh: RawHub) -> list[dict[str, Any]]:
    r = rh.client.get(rh.api("commits", "main"), headers=auth(rh.token))
    assert r.status_code == 200, r.text
    commits = r.json()
    assert isinstance(commits, list)
    return commits


# -- (a) killed while the commit body is still arriving ------------------------------------------------------
def test_kill_during_commit_upload(crashy: Crashy) -> None:
    rh = crashy.rh
    before = rh.head()
    data = os.urandom(45 * 1000 * 1000)  # 60 MB of base64 on one NDJSON line
    digest = hashlib.sha256(data).hexdigest()
    body = ndjson([header_line("big upload"), file_line("big.bin", data), file_line("small.txt", b"small")])
    sender = Sender(
        "POST",
        rh.api("commit", "main"),
        body,
        {"Content-Type": NDJSON, **auth(crashy.token)},
        pause=0.02,
        mark_at=len(body) // 3,
    )
    sender.start()
    assert sender.reached_mark.wait(120)
    time.sleep(0.3)  # let the server take in (and spool) some of it
    assert not sender.all_sent.is_set(), "the body went through before the kill: make it slower"
    crashy.kill()
    sender.finish()
    assert sender.response is None, sender.response

    rh = crashy.restart()
    assert rh.head() == before
    assert_error(rh.get_file("big.bin"), 404, "EntryNotFound")
    assert_error(rh.get_file("small.txt"), 404, "EntryNotFound")
    assert not object_stored(crashy.server, digest)
    assert_healthy(crashy)

    # The same upload now goes through.
    r = rh.commit(body)
    assert r.status_code == 200, r.text
    assert rh.head() == r.json()["commitOid"]
    assert sha256_of_download(rh, "big.bin") == (digest, len(data))
    assert rh.get_file("small.txt").content == b"small"
    assert_healthy(crashy)


def test_kill_during_commit_upload_then_restart_twice(crashy: Crashy) -> None:
    """Two crashes in a row, the second one earlier in the body; leftovers of the first must not matter."""
    data = os.urandom(8 * MB)
    body = ndjson([header_line("again"), file_line("a.bin", data)])
    before = crashy.rh.head()
    for fraction in (0.7, 0.2):
        rh = crashy.rh
        sender = Sender(
            "POST",
            rh.api("commit", "main"),
            body,
            {"Content-Type": NDJSON, **auth(crashy.token)},
            chunk=256 * 1024,
            pause=0.01,
            mark_at=int(len(body) * fraction),
        )
        sender.start()
        assert sender.reached_mark.wait(60)
        crashy.kill()
        sender.finish()
        crashy.restart()
        assert crashy.rh.head() == before
        assert_healthy(crashy)
    crashy.rh.commit_ok([header_line("again"), file_line("a.bin", data)])
    assert sha256_of_download(crashy.rh, "a.bin") == (hashlib.sha256(data).hexdigest(), len(data))


# -- (b) killed while the server is making the commit --------------------------------------------------------
def _many_files(seed: int) -> dict[str, bytes]:
    files = {f"shard-{seed}/part-{i:03d}.bin": os.urandom(40_000 + i) for i in range(MANY)}
    files[f"shard-{seed}/big.bin"] = os.urandom(10_500_000)  # over the LFS threshold: stored as LFS
    files[f"shard-{seed}/config.json"] = b'{"seed": %d}' % seed
    files["README.md"] = b"# crashy\n"  # unchanged content, rewritten
    files["latest.txt"] = str(seed).encode()  # changed by every attempt
    return files


def _commit_body(files: dict[str, bytes], summary: str) -> bytes:
    return ndjson([header_line(summary), *(file_line(p, d) for p, d in files.items())])


def _assert_all_or_nothing(rh: RawHub, before: str, files: dict[str, bytes], summary: str) -> bool:
    """The branch is at `before` (nothing of `files` visible) or one commit further with all of them, intact.
    Returns whether the commit landed."""
    head = rh.head()
    commits = history(rh)
    if head == before:
        assert commits[0]["id"] == before
        for path in files:
            if path not in ("README.md", "latest.txt"):
                assert_error(rh.get_file(path), 404, "EntryNotFound")
        if "latest.txt" in files:
            assert rh.get_file("latest.txt").content != files["latest.txt"]
        return False
    assert commits[0]["id"] == head
    assert commits[0]["title"] == summary
    assert commits[1]["id"] == before, "the new head is not a child of the old one"
    for path, data in files.items():
        if len(data) > MB:
            assert sha256_of_download(rh, path) == (hashlib.sha256(data).hexdigest(), len(data)), path
        else:
            got = rh.get_file(path)
            assert got.status_code == 200, (path, got.text[:300])
            assert got.content == data, f"{path} is not byte-identical after the crash"
    return True


def test_kill_while_the_commit_is_being_made(crashy: Crashy) -> None:
    rh = crashy.rh
    # Measure how long the server works on such a commit once the body is in.
    files = _many_files(0)
    sender = Sender(
        "POST",
        rh.api("commit", "main"),
        _commit_body(files, "timing"),
        {"Content-Type": NDJSON, **auth(crashy.token)},
    )
    sender.start()
    sender.join(120)
    assert sender.response is not None and sender.response.status_code == 200, sender.error or sender.response
    work = max(sender.answered_at - sender.sent_at, 0.05)

    landed = []
    # Kill points spread over the server's work, denser near its end (where the ref moves).
    for attempt, fraction in enumerate([0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0, 1.1], start=1):
        rh = crashy.rh
        before = rh.head()
        files = _many_files(attempt)
        summary = f"attempt {attempt}"
        body = _commit_body(files, summary)
        sender = Sender(
            "POST", rh.api("commit", "main"), body, {"Content-Type": NDJSON, **auth(crashy.token)}
        )
        sender.start()
        assert sender.all_sent.wait(120)
        time.sleep(work * fraction)
        crashy.kill()
        sender.finish()

        rh = crashy.restart()
        answered = sender.response
        if answered is not None:
            # A 200 that reached the client must be durable.
            assert answered.status_code == 200, answered.text
            assert rh.head() == answered.json()["commitOid"]
        landed.append((_assert_all_or_nothing(rh, before, files, summary), answered is not None))
        assert_healthy(crashy)

        # The client retries: it succeeds, and leaves every file complete.
        r = rh.commit(body)
        assert r.status_code == 200, r.text
        head = rh.head()
        assert head == r.json()["commitOid"]
        for path, data in files.items():
            if len(data) <= MB:
                assert rh.get_file(path).content == data, path
        big = f"shard-{attempt}/big.bin"
        assert sha256_of_download(rh, big) == (hashlib.sha256(files[big]).hexdigest(), len(files[big]))
    print(f"server work ~{work:.2f}s; (landed, answered) per kill: {landed}")


def test_kill_right_after_commit_with_parent_then_retry(crashy: Crashy) -> None:
    """A retried commit with `parentCommit`: 200 if the first attempt was lost, 412 if it landed."""
    for attempt, delay in enumerate([0.0, 0.05, 0.2, 0.5], start=1):
        rh = crashy.rh
        before = rh.head()
        files = {f"p{attempt}/{i}.bin": os.urandom(30_000) for i in range(SOME)}
        body = ndjson(
            [header_line(f"p{attempt}", parent=before), *(file_line(p, d) for p, d in files.items())]
        )
        sender = Sender(
            "POST", rh.api("commit", "main"), body, {"Content-Type": NDJSON, **auth(crashy.token)}
        )
        sender.start()
        assert sender.all_sent.wait(60)
        time.sleep(delay)
        crashy.kill()
        sender.finish()
        rh = crashy.restart()
        landed = _assert_all_or_nothing(rh, before, files, f"p{attempt}")
        r = rh.commit(body)
        if landed:
            assert_error(r, 412, "ParentCommitMismatch")
        else:
            assert r.status_code == 200, r.text
        assert _assert_all_or_nothing(rh, before, files, f"p{attempt}")
        assert_healthy(crashy)


# -- (c) killed during an LFS transfer -----------------------------------------------------------------------
def _upload_href(rh: RawHub, oid: str, size: int) -> str | None:
    (obj,) = rh.lfs_batch([(oid, size)])["objects"]
    assert "error" not in obj, obj
    actions = obj.get("actions")
    return actions["upload"]["href"] if actions else None


def _finish_lfs_and_commit(c: Crashy, data: bytes, path: str) -> None:
    """Batch again, upload if the hub asks for it, verify, commit and download: the bytes must match."""
    rh = c.rh
    oid = hashlib.sha256(data).hexdigest()
    href = _upload_href(rh, oid, len(data))
    if href is not None:
        r = rh.client.put(href, content=data)
        assert r.status_code == 200, r.text
    r = rh.client.post(
        f"{rh.url}/{REPO}.git/info/lfs/verify", json={"oid": oid, "size": len(data)}, headers=auth(c.token)
    )
    assert r.status_code == 200, r.text
    assert _upload_href(rh, oid, len(data)) is None, "a verified object must not be asked for again"
    rh.commit_ok([header_line(f"add {path}"), lfs_line(path, oid, len(data))])
    assert sha256_of_download(rh, path) == (oid, len(data))
    assert object_stored(c.server, oid)


def _assert_lfs_object_absent(c: Crashy, oid: str, size: int) -> None:
    rh = c.rh
    before = rh.head()
    assert not object_stored(c.server, oid), "a partial upload is visible under its final name"
    assert _upload_href(rh, oid, size) is not None, "the hub thinks it has an object it never fully received"
    r = rh.client.post(
        f"{rh.url}/{REPO}.git/info/lfs/verify", json={"oid": oid, "size": size}, headers=auth(c.token)
    )
    assert_error(r, 400, "LfsObjectNotFound")
    r = rh.client.post(
        f"{rh.url}/{REPO}.git/info/lfs/objects/batch",
        json={"operation": "download", "objects": [{"oid": oid, "size": size}]},
        headers={"Content-Type": LFS_JSON, **auth(c.token)},
    )
    assert r.status_code == 200
    assert r.json()["objects"][0]["error"]["code"] == 404
    assert_error(rh.commit(ndjson([header_line(), lfs_line("w.bin", oid, size)])), 400, "LfsObjectNotFound")
    assert rh.head() == before


def test_kill_during_lfs_put(crashy: Crashy) -> None:
    rh = crashy.rh
    data = os.urandom(40 * MB)
    oid = hashlib.sha256(data).hexdigest()
    href = _upload_href(rh, oid, len(data))
    assert href is not None
    sender = Sender("PUT", href, data, chunk=MB, pause=0.03, mark_at=len(data) // 2)
    sender.start()
    assert sender.reached_mark.wait(120)
    time.sleep(0.1)
    assert not sender.all_sent.is_set()
    crashy.kill()
    sender.finish()
    assert sender.response is None

    crashy.restart()
    _assert_lfs_object_absent(crashy, oid, len(data))
    assert_healthy(crashy)
    _finish_lfs_and_commit(crashy, data, "weights/model.bin")
    assert_healthy(crashy)


def test_kill_right_after_lfs_put_body(crashy: Crashy) -> None:
    """Killed while the hub checks and publishes the object: it is then either fully there or absent."""
    for attempt, delay in enumerate([0.0, 0.02, 0.05, 0.1, 0.2, 0.4], start=1):
        rh = crashy.rh
        data = os.urandom(24 * MB)
        oid = hashlib.sha256(data).hexdigest()
        href = _upload_href(rh, oid, len(data))
        assert href is not None
        sender = Sender("PUT", href, data, chunk=4 * MB)
        sender.start()
        assert sender.all_sent.wait(60)
        time.sleep(delay)
        crashy.kill()
        sender.finish()
        crashy.restart()
        if sender.response is not None:
            assert sender.response.status_code == 200, sender.response.text
            assert _upload_href(crashy.rh, oid, len(data)) is None, "an acknowledged upload was lost"
        if object_stored(crashy.server, oid):
            pass  # published before the kill (check_stored below proves it is complete)
        else:
            _assert_lfs_object_absent(crashy, oid, len(data))
        assert_healthy(crashy)
        _finish_lfs_and_commit(crashy, data, f"weights/{attempt}.bin")


def test_kill_during_multipart_lfs_upload(tmp_path: Any) -> None:
    """Multipart transfer: killed while a part arrives, and again right after the completion request."""
    server = HubServer(
        tmp_path / "data",
        env={"OMH_LFS_MULTIPART_THRESHOLD": "1", "OMH_LFS_MULTIPART_CHUNK_SIZE": str(4 * MB), **PROXY},
    )
    server.create_user("alice")
    token = server.create_token("alice")
    server.start()
    try:
        c = Crashy(server, token, RawHub(server.url, REPO, token))
        c.rh.create_repo()
        c.rh.commit_ok([header_line("base"), file_line("README.md", b"# crashy\n")])
        data = os.urandom(14 * MB)
        oid = hashlib.sha256(data).hexdigest()

        def negotiate() -> dict[str, Any]:
            r = c.rh.client.post(
                f"{c.rh.url}/{REPO}.git/info/lfs/objects/batch",
                json={
                    "operation": "upload",
                    "transfers": ["basic", "multipart"],
                    "objects": [{"oid": oid, "size": len(data)}],
                },
                headers={"Content-Type": LFS_JSON, **auth(token)},
            )
            assert r.status_code == 200, r.text
            (obj,) = r.json()["objects"]
            upload = obj["actions"]["upload"]
            assert upload["header"]["chunk_size"] == str(4 * MB)
            return upload

        upload = negotiate()
        chunk = 4 * MB
        part_urls = [
            upload["header"][k] for k in sorted((k for k in upload["header"] if k.isdigit()), key=int)
        ]
        assert len(part_urls) == 4
        etags = []
        for n, url in enumerate(part_urls[:2]):
            r = c.rh.client.put(url, content=data[n * chunk : (n + 1) * chunk])
            assert r.status_code == 200, r.text
            etags.append(r.headers["etag"])
        # Part 3 is cut off half way.
        sender = Sender(
            "PUT", part_urls[2], data[2 * chunk : 3 * chunk], chunk=256 * 1024, pause=0.05, mark_at=chunk // 2
        )
        sender.start()
        assert sender.reached_mark.wait(60)
        assert not sender.all_sent.is_set()
        c.kill()
        sender.finish()
        c.restart()
        _assert_lfs_object_absent(c, oid, len(data))
        assert_healthy(c)

        # Completing now must fail cleanly: part 3 never arrived whole.
        parts = [{"partNumber": i + 1, "etag": e} for i, e in enumerate([*etags, "", ""])]
        r = c.rh.client.post(upload["href"], json={"oid": oid, "parts": parts})
        assert_error(r, 400, "BadRequest")
        assert "part 3" in r.json()["error"]
        _assert_lfs_object_absent(c, oid, len(data))

        # Resume with the URLs handed out before the crash (they are signed, and still valid).
        for n in (2, 3):
            r = c.rh.client.put(part_urls[n], content=data[n * chunk : (n + 1) * chunk])
            assert r.status_code == 200, r.text
            etags.append(r.headers["etag"])
        parts = [{"partNumber": i + 1, "etag": e} for i, e in enumerate(etags)]
        sender = Sender(
            "POST",
            upload["href"],
            json.dumps({"oid": oid, "parts": parts}).encode(),
            {"Content-Type": LFS_JSON},
        )
        sender.start()
        assert sender.all_sent.wait(60)
        time.sleep(0.05)
        c.kill()
        sender.finish()
        c.restart()
        assert check_stored(server) > 0
        if not object_stored(server, oid):
            r = c.rh.client.post(upload["href"], json={"oid": oid, "parts": parts})
            assert r.status_code == 200, r.text
        _finish_lfs_and_commit(c, data, "weights/multipart.bin")
        assert_healthy(c)
        c.rh.close()
    finally:
        server.stop()
