"""Web pages never shadow the protocol: every URL a Hub client uses is still answered by the API (JSON,
bytes), while the web UI answers its own pages (HTML)."""

from pathlib import Path

import httpx
import pytest
from huggingface_hub import hf_hub_download

from openmodelhub.protocol.names import RepoType
from openmodelhub.web import routes
from openmodelhub.web.app import WebUI
from tests.support.server import HubServer
from tests.web.support import api, unique, user_with_token

WebUI()  # registers the pages

PROTOCOL_PATHS = [
    ("GET", "/api/models"),
    ("GET", "/api/models/alice/bert"),
    ("GET", "/api/models/alice/bert/tree/main"),
    ("GET", "/api/models/tree/main"),
    ("GET", "/api/datasets/alice/data/revision/main"),
    ("GET", "/api/spaces/alice/app"),
    ("GET", "/api/whoami-v2"),
    ("GET", "/api/unknown"),
    ("GET", "/api/a/b"),
    ("POST", "/api/models/alice/bert/commit/main"),
    ("GET", "/alice/bert/resolve/main/config.json"),
    ("HEAD", "/alice/bert/resolve/refs%2Fpr%2F1/sub/model.safetensors"),
    ("GET", "/datasets/alice/data/resolve/main/train.csv"),
    ("POST", "/alice/bert.git/info/lfs/objects/batch"),
    ("POST", "/datasets/alice/data.git/info/lfs/verify"),
    ("GET", "/alice/bert.git/info/refs"),
    ("GET", "/alice/bert.git"),
    ("GET", "/lfs/objects/0123"),
    ("PUT", "/lfs/objects/0123/5"),
    ("GET", "/xet/v1/reconstructions/abc"),
    ("POST", "/alice/bert/ask-access"),
]


@pytest.mark.parametrize(("method", "path"), PROTOCOL_PATHS)
def test_the_web_router_never_claims_a_protocol_path(method: str, path: str) -> None:
    assert routes.match(method, path.encode()) is None


@pytest.mark.parametrize(
    ("path", "handler", "params"),
    [
        ("/", "home", {}),
        ("/models", "models", {}),
        ("/datasets", "datasets", {}),
        ("/login", "login", {}),
        ("/alice", "namespace", {"ns": "alice"}),
        ("/alice/bert", "repo_home", {"ns": "alice", "name": "bert", "repo_type": RepoType.MODEL}),
        ("/alice/bert/", "repo_home", {"ns": "alice", "name": "bert", "repo_type": RepoType.MODEL}),
        ("/datasets/alice/d", "repo_home", {"ns": "alice", "name": "d", "repo_type": RepoType.DATASET}),
        (
            "/alice/bert/tree/refs%2Fpr%2F1/a/b%20c.txt",
            "tree",
            {
                "ns": "alice",
                "name": "bert",
                "rev": "refs/pr/1",
                "path": "a/b c.txt",
                "repo_type": RepoType.MODEL,
            },
        ),
        ("/alice/bert/tree/main", "tree", {"ns": "alice", "name": "bert", "rev": "main", "path": ""}),
        ("/datasets/alice/d/blob/v1.0/x.json", "blob", {"rev": "v1.0", "path": "x.json"}),
        ("/alice/bert/commit/" + "a" * 40, "commit", {"oid": "a" * 40}),
    ],
)
def test_web_pages_are_matched_with_revisions_in_one_segment(path: str, handler: str, params: dict) -> None:
    found = routes.match("GET", path.encode())
    assert found is not None and found.route.handler.__name__ == handler
    assert params.items() <= found.params.items()


def test_names_that_are_not_repo_names_are_no_repo_pages() -> None:
    assert routes.match("GET", b"/-bad/name") is None
    assert routes.match("GET", b"/alice/bert.git") is None
    assert routes.match("GET", b"/alice/..") is None


def test_protocol_routes_still_win_on_a_running_hub(web_hub: HubServer) -> None:
    user, token = user_with_token(web_hub)
    hf = api(web_hub, token)
    repo_id = f"{user}/{unique('route')}"
    hf.create_repo(repo_id)
    hf.upload_file(path_or_fileobj=b'{"a": 1}\n', path_in_repo="config.json", repo_id=repo_id)
    # The stock client: info, listing, files, download.
    assert hf.model_info(repo_id).id == repo_id
    assert "config.json" in hf.list_repo_files(repo_id)
    assert any(m.id == repo_id for m in hf.list_models(author=user))
    path = hf_hub_download(repo_id, "config.json", endpoint=web_hub.url, token=token, cache_dir=None)
    assert Path(path).read_bytes() == b'{"a": 1}\n'

    http = httpx.Client(base_url=web_hub.url, timeout=30)
    raw = http.get(f"/{repo_id}/resolve/main/config.json")
    assert raw.status_code == 200 and raw.content == b'{"a": 1}\n'
    for path in (
        "/api/unknown",
        "/api/a/b",
        f"/{repo_id}.git/info/refs",
        "/api/models/tree/main",
        "/xet/nope",
    ):
        answer = http.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("application/json"), path
        assert "X-Error-Code" in answer.headers, path
    batch = http.post(
        f"/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "download", "objects": [{"oid": "0" * 64, "size": 1}]},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.git-lfs+json"},
    )
    assert batch.headers["content-type"].startswith("application/"), batch.text
    assert "html" not in batch.headers["content-type"]
    # ... and the same repo's page is HTML.
    page = http.get(f"/{repo_id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Use this model" in page.text
    http.close()
