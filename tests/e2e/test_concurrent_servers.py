"""Several server processes on one hub: commits racing on one branch land exactly once or are refused.

Runs on both stacks: two `omh serve` processes share one data dir (embedded: one SQLite file) or one
PostgreSQL database and S3 bucket (scale-out). Each commit names its `parentCommit`, so at most one of the
commits racing from the same parent can land; the others must be refused with 409/412 and leave no trace.
"""

import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import HubServer

pytestmark = pytest.mark.slow

REPO = "alice/race"
WRITERS = 50


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[HubServer, HubServer, str]]:
    first = HubServer(tmp_path / "data")
    first.create_user("alice")
    token = first.create_token("alice")
    first.start()
    # Same data dir and the same backend settings (database, bucket, queues): one hub, two processes.
    shared = {k: v for k, v in first.env.items() if k.startswith("OMH_")}
    second = HubServer(tmp_path / "data", env=shared)
    second.start()
    try:
        yield first, second, token
    finally:
        second.stop()
        first.stop()


def _commit(url: str, token: str, parent: str, n: int) -> httpx.Response:
    lines = [
        {"key": "header", "value": {"summary": f"writer {n}", "parentCommit": parent}},
        {
            "key": "file",
            "value": {
                "path": f"w/{n}.txt",
                "content": base64.b64encode(f"written by {n}\n".encode()).decode(),
                "encoding": "base64",
            },
        },
    ]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    return httpx.post(
        f"{url}/api/models/{REPO}/commit/main",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        timeout=120,
    )


def _history(url: str, token: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{url}/api/models/{REPO}/commits/main",
        params={"limit": 1000},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return list(r.json())


def _head(url: str, token: str) -> str:
    r = httpx.get(f"{url}/api/models/{REPO}", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert r.status_code == 200, r.text
    return str(r.json()["sha"])


def test_racing_commits_land_exactly_once_or_are_refused(
    two_servers: tuple[HubServer, HubServer, str],
) -> None:
    first, second, token = two_servers
    r = httpx.post(
        f"{first.url}/api/repos/create",
        json={"name": "race", "type": "model"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    urls = [first.url, second.url]
    start = threading.Barrier(WRITERS)
    outcomes: dict[int, httpx.Response] = {}

    def writer(n: int) -> None:
        # Every writer reads the head, then all send at once: at most one per observed parent can land.
        parent = _head(urls[n % 2], token)
        start.wait()
        outcomes[n] = _commit(urls[n % 2], token, parent, n)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert len(outcomes) == WRITERS

    landed = {n for n, resp in outcomes.items() if resp.status_code == 200}
    refused = {n for n, resp in outcomes.items() if resp.status_code in (409, 412)}
    others = {
        n: (resp.status_code, resp.text[:200]) for n, resp in outcomes.items() if n not in landed | refused
    }
    assert not others, f"answers other than 200/409/412: {others}"
    assert landed, "no commit landed"
    for n in refused:
        assert outcomes[n].headers.get("X-Error-Code"), outcomes[n].headers

    # Both processes see the same history: the initial commit plus exactly the accepted ones, once each.
    history = _history(first.url, token)
    assert history == _history(second.url, token)
    summaries = [c["title"] for c in history]
    written = sorted(int(s.split()[1]) for s in summaries if s.startswith("writer "))
    assert written == sorted(landed)
    commit_ids = {c["id"] for c in history}
    for n in landed:
        assert outcomes[n].json()["commitOid"] in commit_ids

    # Refused writers retry from the new head until they land; then every writer is in the history once.
    for n in sorted(refused):
        for _attempt in range(20):
            resp = _commit(urls[n % 2], token, _head(urls[n % 2], token), n)
            if resp.status_code == 200:
                break
            assert resp.status_code in (409, 412), resp.text
        else:
            pytest.fail(f"writer {n} never landed")
    history = _history(second.url, token)
    written = sorted(int(c["title"].split()[1]) for c in history if c["title"].startswith("writer "))
    assert written == list(range(WRITERS))
    files = httpx.get(
        f"{first.url}/api/models/{REPO}/tree/main/w", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert sorted(f["path"] for f in files) == sorted(f"w/{n}.txt" for n in range(WRITERS))
    for n in (0, WRITERS - 1):
        got = httpx.get(
            f"{second.url}/{REPO}/resolve/main/w/{n}.txt", headers={"Authorization": f"Bearer {token}"}
        )
        assert got.text == f"written by {n}\n"

    fsck = first.cli("fsck", check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_creating_different_repos_at_once_never_collides(
    two_servers: tuple[HubServer, HubServer, str],
) -> None:
    """New repos start with identical initial commits (same tree, author and second): two processes storing
    the same git objects at once must both succeed, not report the repo as existing."""
    first, second, token = two_servers
    urls = [first.url, second.url]
    start = threading.Barrier(20)
    answers: dict[int, httpx.Response] = {}

    def create(n: int) -> None:
        start.wait()
        answers[n] = httpx.post(
            f"{urls[n % 2]}/api/repos/create",
            json={"name": f"same-second-{n}", "type": "model"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )

    threads = [threading.Thread(target=create, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    failed = {n: (r.status_code, r.text[:200]) for n, r in answers.items() if r.status_code != 200}
    assert len(answers) == 20 and not failed
    listed = httpx.get(f"{first.url}/api/models", params={"author": "alice", "limit": 100}).json()
    assert {m["id"] for m in listed} >= {f"alice/same-second-{n}" for n in range(20)}
