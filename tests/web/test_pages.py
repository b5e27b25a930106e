"""The pages, read as HTML over HTTP: search filters and sort, the repo page (card, metadata, snippets,
revisions), the file tree and viewer, downloads, history with diffs, editing and uploading from forms,
and who may see and do what."""

import io
import json
import re
from collections.abc import Iterator
from html import unescape

import httpx
import numpy as np
import pytest
from huggingface_hub import CommitOperationAdd
from safetensors.numpy import save as save_safetensors

from tests.support.server import HubServer
from tests.web.support import PASSWORD, WebClient, api, unique, write_token


class Owner:
    """A user signed in on the web UI, with a write token for the stock client."""

    def __init__(self, hub: HubServer) -> None:
        self.name = unique("owner")
        self.web = WebClient(hub)
        self.web.sign_up(self.name)
        self.token = write_token(hub, self.name)
        self.hf = api(hub, self.token)


@pytest.fixture(scope="module")
def owner(web_hub: HubServer) -> Iterator[Owner]:
    o = Owner(web_hub)
    yield o
    o.web.close()


def _text(html: str) -> str:
    """What a reader sees: the page without its tags, entities decoded."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def _names(html: str) -> list[str]:
    """Repo ids listed on a listing page, in order."""
    return re.findall(r'class="repo-item-link" href="/(?:datasets/)?[^"]+">([^<]+)<', html)


CARD = """---
license: mit
pipeline_tag: text-classification
base_model: google-bert/bert-base-uncased
datasets:
- stanfordnlp/imdb
tags:
- alpha
language: en
---
# Sentiment model

| metric | value |
|--------|-------|
| accuracy | 0.93 |

```python
print("hello")
```
"""


def test_search_filters_and_sort(web_hub: HubServer, owner: Owner) -> None:
    hf, me = owner.hf, owner.name
    ids = [f"{me}/{unique(p)}" for p in ("cls", "emb", "bare")]
    for repo_id in ids:
        hf.create_repo(repo_id)
    hf.upload_file(path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=ids[0])
    card2 = "---\nlicense: apache-2.0\nlibrary_name: sentence-transformers\ntags: [beta]\n---\n# emb\n"
    hf.upload_file(path_or_fileobj=card2.encode(), path_in_repo="README.md", repo_id=ids[1])
    like = httpx.post(
        f"{web_hub.url}/api/models/{ids[2]}/like", headers={"Authorization": f"Bearer {owner.token}"}
    )
    assert like.status_code == 200, like.text
    web = WebClient(web_hub)  # anonymous

    def listed(**params: str) -> list[str]:
        page = web.get("/models", params={"author": me, **params})
        assert page.status_code == 200
        return _names(page.text)

    assert sorted(listed()) == sorted(ids)
    assert listed(license="mit") == [ids[0]]
    assert listed(task="text-classification") == [ids[0]]
    assert listed(library="sentence-transformers") == [ids[1]]
    assert listed(tag="beta") == [ids[1]]
    assert listed(search=ids[1].split("/")[1]) == [ids[1]]
    assert listed(sort="likes")[0] == ids[2]
    assert listed(sort="updated")[0] == ids[1]  # the last commit
    assert listed(license="gpl-3.0") == []
    facets = web.get("/models").text
    assert re.search(r'<option value="text-classification"[^>]*>text-classification \(\d+\)</option>', facets)
    assert re.search(r'<option value="mit"[^>]*>mit \(\d+\)</option>', facets)
    web.close()


def test_repo_page_card_metadata_snippets_and_revisions(web_hub: HubServer, owner: Owner) -> None:
    hf = owner.hf
    repo_id = f"{owner.name}/{unique('card')}"
    hf.create_repo(repo_id)
    hf.upload_file(path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=repo_id)
    hf.create_branch(repo_id, branch="dev")
    hf.create_tag(repo_id, tag="v1.0")
    page = httpx.get(f"{web_hub.url}/{repo_id}")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Sentiment model</h1>" in html
    assert "<td>accuracy</td>" in html and '<pre class="highlight">' in html
    assert "license: mit" not in html  # the front matter is metadata, not text
    assert 'href="/models?license=mit"' in html
    assert 'href="/google-bert/bert-base-uncased"' in html
    assert 'href="/datasets/stanfordnlp/imdb"' in html
    assert 'href="/models?task=text-classification"' in html
    # Snippets point at this hub, not at huggingface.co.
    assert web_hub.url in html and "huggingface.co" not in html
    shown = _text(html)
    assert f"HF_ENDPOINT={web_hub.url} hf download {repo_id}" in shown
    assert f'snapshot_download("{repo_id}", endpoint="{web_hub.url}")' in shown
    assert f'pipeline("text-classification", model="{repo_id}")' in shown
    # The revision switcher: branches and tags, each a link to that revision's files.
    assert f'href="/{repo_id}/tree/dev"' in html and f'href="/{repo_id}/tree/v1.0"' in html
    security = page.headers["content-security-policy"]
    assert "default-src 'self'" in security and "unsafe-inline" not in security
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"


def test_static_files_are_served_by_the_hub_with_versioned_urls(web_hub: HubServer) -> None:
    html = httpx.get(f"{web_hub.url}/").text
    links = re.findall(r'(?:href|src)="(/-/static/[0-9a-f]{12}/[^"]+)"', html)
    assert {link.rsplit("/", 1)[-1] for link in links} >= {"app.css", "app.js", "pygments.css"}
    assert not re.search(r'(?:href|src)="(?:https?:)?//', html)  # nothing from another host
    for link in links:
        answer = httpx.get(f"{web_hub.url}{link}")
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = httpx.get(f"{web_hub.url}/-/static/000000000000/app.css")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    assert httpx.get(f"{web_hub.url}/-/static/000000000000/nope.css").status_code == 404


def _tensors() -> bytes:
    return save_safetensors(
        {
            "embed.weight": np.zeros((10, 4), dtype=np.float32),
            "head.bias": np.zeros((3,), dtype=np.int64),
        },
        metadata={"format": "np"},
    )


def test_tree_viewer_and_downloads(web_hub: HubServer, owner: Owner) -> None:
    hf = owner.hf
    repo_id = f"{owner.name}/{unique('files')}"
    hf.create_repo(repo_id)
    big = ("x" * 99 + "\n").encode() * 11_000  # 1.1 MB of text: offered as a download
    files = {
        "config.json": b'{"hidden_size": 4, "layers": [1, 2]}',
        "model.safetensors": _tensors(),
        "docs/guide.py": b"def guide():\n    return '<b>not html</b>'\n",
        "big.txt": big,
        "blob.bin": bytes(range(256)),
        "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    }
    ops = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=data) for path, data in files.items()]
    hf.create_commit(repo_id, ops, commit_message="Add files")
    http = httpx.Client(base_url=web_hub.url, timeout=30)
    tree = http.get(f"/{repo_id}/tree/main").text
    assert f'href="/{repo_id}/tree/main/docs"' in tree
    row = re.search(r"model\.safetensors</a></td>\s*<td[^>]*>([^<]+)</td>\s*<td>(.*?)</td>", tree, re.S)
    assert row and "LFS" in row.group(2)
    assert "1.1 MB" in tree
    sub = http.get(f"/{repo_id}/tree/main/docs").text
    assert f'href="/{repo_id}/blob/main/docs/guide.py"' in sub

    config = http.get(f"/{repo_id}/blob/main/config.json").text
    assert config.count('class="line"') >= 6  # one line of JSON, pretty-printed
    assert 'class="nt"' in config and '"hidden_size": 4,' in _text(config)
    code = http.get(f"/{repo_id}/blob/main/docs/guide.py").text
    assert '<span class="k">def</span>' in code and "&lt;b&gt;not html&lt;/b&gt;" in code
    tensors = http.get(f"/{repo_id}/blob/main/model.safetensors").text
    assert re.search(r"<dt>Tensors</dt><dd>2</dd>", tensors)
    assert "43" in tensors  # 10*4 + 3 parameters
    assert "F32 \u00d7 1" in tensors and "I64 \u00d7 1" in tensors
    assert "embed.weight" in tensors and "[10, 4]" in tensors and "format" in tensors
    large = http.get(f"/{repo_id}/blob/main/big.txt").text
    assert "too large to show" in large and 'class="line"' not in large
    binary = http.get(f"/{repo_id}/blob/main/blob.bin").text
    assert "binary file" in binary

    raw = http.get(f"/{repo_id}/raw/main/model.safetensors")
    assert raw.status_code == 200 and raw.content == files["model.safetensors"]
    assert raw.headers["content-disposition"].startswith("attachment")
    assert raw.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in raw.headers["content-security-policy"]
    svg = http.get(f"/{repo_id}/raw/main/logo.svg")
    assert svg.headers["content-type"] == "application/octet-stream"  # never rendered by the hub's origin
    assert svg.headers["content-disposition"].startswith("attachment")
    http.close()


def test_history_and_commit_diff(web_hub: HubServer, owner: Owner) -> None:
    hf = owner.hf
    repo_id = f"{owner.name}/{unique('hist')}"
    hf.create_repo(repo_id)
    hf.upload_file(path_or_fileobj=b"one\ntwo\nthree\n", path_in_repo="notes.txt", repo_id=repo_id)
    info = hf.upload_file(
        path_or_fileobj=b"one\n2\nthree\n",
        path_in_repo="notes.txt",
        repo_id=repo_id,
        commit_message="Fix two",
    )
    oid = info.oid
    history = httpx.get(f"{web_hub.url}/{repo_id}/commits").text
    assert "Fix two" in history and f'href="/{repo_id}/commit/{oid}"' in history
    commit = httpx.get(f"{web_hub.url}/{repo_id}/commit/{oid}").text
    assert '<span class="del">-two</span>' in commit
    assert '<span class="add">+2</span>' in commit
    assert "notes.txt" in commit and "modified" in commit
    missing = httpx.get(f"{web_hub.url}/{repo_id}/commit/{'0' * 40}")
    assert missing.status_code == 404 and missing.headers["X-Error-Code"] == "RevisionNotFound"


def test_private_and_gated_repos(web_hub: HubServer, owner: Owner) -> None:
    hf = owner.hf
    private_id = f"{owner.name}/{unique('private')}"
    hf.create_repo(private_id, private=True)
    anonymous = httpx.get(f"{web_hub.url}/{private_id}")
    assert anonymous.status_code == 404 and "sign in" in anonymous.text
    assert owner.web.get(f"/{private_id}").status_code == 200
    assert owner.web.get(f"/{private_id}/raw/main/.gitattributes").status_code == 200
    assert httpx.get(f"{web_hub.url}/{private_id}/raw/main/.gitattributes").status_code == 404

    gated_id = f"{owner.name}/{unique('gated')}"
    hf.create_repo(gated_id)
    hf.upload_file(path_or_fileobj=b"secret weights\n", path_in_repo="weights.txt", repo_id=gated_id)
    hf.update_repo_settings(gated_id, gated="manual")
    stranger = WebClient(web_hub)
    stranger.sign_up(unique("stranger"))
    page = stranger.get(f"/{gated_id}/blob/main/weights.txt")
    assert page.status_code == 200 and "secret weights" not in page.text
    assert "restricted" in page.text
    assert stranger.get(f"/{gated_id}/raw/main/weights.txt").status_code == 403
    assert "secret weights" in owner.web.get(f"/{gated_id}/blob/main/weights.txt").text
    stranger.close()


def test_edit_new_file_and_upload_from_forms(web_hub: HubServer, owner: Owner) -> None:
    hf, web = owner.hf, owner.web
    repo_id = f"{owner.name}/{unique('edit')}"
    hf.create_repo(repo_id)
    hf.upload_file(path_or_fileobj=b"# Old\n", path_in_repo="README.md", repo_id=repo_id)
    edit_page = f"/{repo_id}/edit/main/README.md"
    form = web.get(edit_page).text
    parent = re.search(r'name="parent" value="([0-9a-f]{40})"', form).group(1)
    saved = web.submit(
        edit_page, edit_page, {"content": "# New\r\nline\r\n", "summary": "", "parent": parent}
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/{repo_id}/blob/main/README.md"
    assert hf.hf_hub_download(repo_id, "README.md", cache_dir=None) is not None
    readme = httpx.get(f"{web_hub.url}/{repo_id}/resolve/main/README.md").content
    assert readme == b"# New\nline\n"  # textarea CRLF back to the file's LF
    assert hf.list_repo_commits(repo_id)[0].title == "Update README.md"
    # The editor was opened on `parent`; the branch has moved since: refused, not overwritten.
    stale = web.submit(edit_page, edit_page, {"content": "lost\n", "parent": parent})
    assert stale.status_code == 412 and "someone else committed" in stale.text
    assert httpx.get(f"{web_hub.url}/{repo_id}/resolve/main/README.md").content == b"# New\nline\n"

    new_page = f"/{repo_id}/new/main"
    created = web.submit(new_page, new_page, {"path": "src/app.py", "content": "print(1)\n"})
    assert created.status_code == 303
    exists = web.submit(new_page, new_page, {"path": "src/app.py", "content": "x"})
    assert exists.status_code == 400 and "already exists" in exists.text
    bad = web.submit(new_page, new_page, {"path": "../escape", "content": "x"})
    assert bad.status_code == 400 and bad.headers["X-Error-Code"] == "InvalidPath"

    upload_page = f"/{repo_id}/upload/main"
    sent = web.http.post(
        upload_page,
        data={"csrf_token": web.csrf(upload_page), "folder": "data", "summary": "Add data"},
        files=[
            ("files", ("a.csv", io.BytesIO(b"x,y\n1,2\n"), "text/csv")),
            ("files", ("b.json", b"{}", "x/y")),
        ],
    )
    assert sent.status_code == 303, sent.text[:1000]
    assert {"src/app.py", "data/a.csv", "data/b.json"} <= set(hf.list_repo_files(repo_id))
    assert hf.list_repo_commits(repo_id)[0].title == "Add data"

    as_pr = web.http.post(
        upload_page,
        data={"csrf_token": web.csrf(upload_page), "summary": "Proposal", "create_pr": "1"},
        files=[("files", ("proposal.md", b"hi\n", "text/markdown"))],
    )
    assert as_pr.status_code == 303 and as_pr.headers["location"] == f"/{repo_id}/discussions/1"
    refs = hf.list_repo_refs(repo_id, include_pull_requests=True)
    assert [r.ref for r in refs.pull_requests] == ["refs/pr/1"]
    assert "proposal.md" not in hf.list_repo_files(repo_id)
    assert "proposal.md" in hf.list_repo_files(repo_id, revision="refs/pr/1")


def test_only_writers_see_and_use_the_forms(web_hub: HubServer, owner: Owner) -> None:
    repo_id = f"{owner.name}/{unique('guarded')}"
    owner.hf.create_repo(repo_id)
    assert "Upload files" in owner.web.get(f"/{repo_id}/tree/main").text
    other = WebClient(web_hub)
    other.sign_up(unique("other"))
    assert "Upload files" not in other.get(f"/{repo_id}/tree/main").text
    page = other.get(f"/{repo_id}/upload/main")
    assert page.status_code == 403 and page.headers["X-Error-Code"] == "Forbidden"
    token = other.csrf("/")
    sent = other.http.post(
        f"/{repo_id}/upload/main",
        data={"csrf_token": token},
        files=[("files", ("x.txt", b"x", "text/plain"))],
    )
    assert sent.status_code == 403
    assert "x.txt" not in owner.hf.list_repo_files(repo_id)
    anonymous = httpx.get(f"{web_hub.url}/{repo_id}/upload/main")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    other.close()


def test_new_repo_form(web_hub: HubServer, owner: Owner) -> None:
    web = owner.web
    name = unique("formrepo")
    made = web.submit(
        "/new", "/new", {"owner": owner.name, "name": name, "type": "dataset", "visibility": "private"}
    )
    assert made.status_code == 303 and made.headers["location"] == f"/datasets/{owner.name}/{name}"
    info = owner.hf.dataset_info(f"{owner.name}/{name}")
    assert info.private is True
    again = web.submit("/new", "/new", {"owner": owner.name, "name": name, "type": "dataset"})
    assert again.status_code == 409 and "already" in again.text
    bad = web.submit("/new", "/new", {"owner": owner.name, "name": "no spaces", "type": "model"})
    assert bad.status_code == 400 and "invalid repo name" in bad.text
    foreign = web.submit("/new", "/new", {"owner": "someone-else", "name": "x", "type": "model"})
    assert foreign.status_code in (403, 404)


def test_namespace_page_and_json_of_unknown_pages(web_hub: HubServer, owner: Owner) -> None:
    page = httpx.get(f"{web_hub.url}/{owner.name}")
    assert page.status_code == 200 and owner.name in page.text
    missing = httpx.get(f"{web_hub.url}/{unique('ghost')}")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert json.loads(httpx.get(f"{web_hub.url}/api/models?limit=1").text) is not None
    head = httpx.head(f"{web_hub.url}/models")
    assert head.status_code == 200 and head.content == b""


def test_login_form_answers_without_javascript(web_hub: HubServer) -> None:
    web = WebClient(web_hub)
    name = unique("plain")
    web.sign_up(name)
    web.submit("/", "/logout", {})
    bad = web.sign_in(name, "nope")
    assert bad.status_code == 401 and 'role="alert"' in bad.text and f'value="{name}"' in bad.text
    assert web.sign_in(name, PASSWORD).status_code == 303
    web.close()
