"""Repo-scoped endpoints: everything under /api/{type}s/{ns}/{name}/..., resolve and the LFS batch API."""

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from openmodelhub.api import discussion_routes, openness_routes, people_routes, render, xet_routes
from openmodelhub.api.common import (
    JSON,
    base_url,
    decode_offset_cursor,
    encode_offset_cursor,
    next_link,
    principal,
    query_bool,
    read_json,
    repo_url,
    services,
)
from openmodelhub.api.errors import header_safe
from openmodelhub.api.hotcache import HotCache
from openmodelhub.api.rawpath import RepoPath
from openmodelhub.protocol.names import DEFAULT_BRANCH
from openmodelhub.services.container import Services
from openmodelhub.services.errors import (
    BadRequest,
    NotSupported,
    PayloadTooLarge,
    RangeNotSatisfiable,
    RepoNotFound,
)
from openmodelhub.services.files import TreeItem
from openmodelhub.services.social import counts_as_download, is_counted_request

Handler = Callable[[Request, RepoPath], Awaitable[Response]]
TREE_PAGE = 1000
TREE_PAGE_EXPANDED = 50
COMMITS_PAGE = 100


async def _repo(request: Request, p: RepoPath, *, write: bool = False) -> Any:
    who = await principal(request)
    repos = services(request).repos
    if write:
        return who, await run_in_threadpool(repos.get_writable, who, p.repo_type, p.repo_id)
    return who, await run_in_threadpool(repos.get_readable, who, p.repo_type, p.repo_id)


def _one_arg(p: RepoPath, what: str) -> str:
    if len(p.args) != 1 or not p.args[0]:
        raise RepoNotFound() if not p.args else BadRequest(f"expected a single {what} segment")
    return p.args[0]


# -- read ----------------------------------------------------------------------------------------------------
async def info(request: Request, p: RepoPath) -> Response:
    # Repo info is a function of the database and immutable content: reuse it while the database is unchanged.
    svc = services(request)
    hot: HotCache = request.app.state.hot
    key = ("info", request.headers.get("authorization"), p.repo_type, p.repo_id, p.action, *p.args)
    key += (request.url.query,)
    version, hit = hot.get(key)
    if hit is None and key in hot.flights:
        # Another request is computing this answer: wait for it rather than start another thread (a burst of
        # misses would otherwise wake the whole thread pool, and its memory). Still a miss: compute as before.
        await hot.flights[key].wait()
        version, hit = hot.get(key)
    if hit is not None and (hit[0] is None or not svc.auth.touch_due(hit[0])):
        return Response(hit[1], media_type="application/json")
    leader = hit is None and key not in hot.flights
    if leader:
        hot.flights[key] = asyncio.Event()
    try:
        who, repo = await _repo(request, p)
        revision = _one_arg(p, "revision") if p.action == "revision" else DEFAULT_BRANCH
        commit = await run_in_threadpool(svc.repos.resolve, repo, revision)
        expand = request.query_params.getlist("expand")
        fields = set(expand) & render.ALL_INFO_FIELDS if expand else render.ALL_INFO_FIELDS
        data = await run_in_threadpool(
            render.repo_json, svc, repo, commit, fields, blobs=query_bool(request, "blobs")
        )
        if query_bool(request, "securityStatus"):
            data["securityRepoStatus"] = await run_in_threadpool(_repo_security, svc, repo, commit)
        body = orjson.dumps(data)
        hot.put(version, key, (who.token_id if who else None, body))
    finally:
        if leader:
            hot.flights.pop(key).set()
    return Response(body, media_type="application/json")


def _repo_security(svc: Services, repo: Any, commit: str) -> dict[str, Any]:
    _, items = svc.files.list_tree(repo, commit, "", recursive=True)
    files = [(i.meta.sha256, i.entry.path) for i in items if i.meta is not None]
    security = svc.scans.lookup(repo, files)
    issues = [
        {"path": path, "level": sec.verdict.value if sec.verdict else "queued", "released": sec.released}
        for (sha, path), sec in security.items()
        if sec.verdict is None or sec.verdict.value != "safe"
    ]
    return {"scansDone": all(s.verdict is not None for s in security.values()), "filesWithIssues": issues}


async def release(request: Request, p: RepoPath) -> Response:
    """POST .../security/release {"path", "revision"?, "reason"?}: serve a quarantined file in this repo."""
    svc = services(request)
    who, repo = await _repo(request, p, write=True)
    if p.args != ["release"]:
        raise BadRequest("use POST .../security/release")
    body = await read_json(request)
    path, revision, reason = body.get("path"), body.get("revision", DEFAULT_BRANCH), body.get("reason", "")
    if not isinstance(path, str) or not isinstance(revision, str) or not isinstance(reason, str):
        raise BadRequest("the body needs a 'path' and optional 'revision' and 'reason' strings")
    f = await run_in_threadpool(svc.files.resolve_file, repo, revision, path)
    await run_in_threadpool(svc.scans.release, who, repo, f.meta.sha256, path, reason)
    return JSON({"success": True, "sha256": f.meta.sha256})


async def tree(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    _, repo = await _repo(request, p)
    if not p.args:
        raise BadRequest("missing revision: /tree/{revision}[/{path}]")
    revision, path = p.args[0], "/".join(p.args[1:])
    recursive = query_bool(request, "recursive")
    expand = query_bool(request, "expand")
    commit, items = await run_in_threadpool(svc.files.list_tree, repo, revision, path, recursive)
    offset = decode_offset_cursor(request.query_params.get("cursor"))
    page_size = TREE_PAGE_EXPANDED if expand else TREE_PAGE
    page = items[offset : offset + page_size]
    headers = {}
    if offset + page_size < len(items):
        headers["Link"] = next_link(request, encode_offset_cursor(offset + page_size))
    return JSON(await _entries(svc, repo, commit, page, expand), headers=headers)


async def _entries(svc: Services, repo: Any, commit: str, items: list[TreeItem], expand: bool) -> list[Any]:
    """Tree entries as JSON; `expand` adds each file's last commit and its security status."""
    if not expand:
        return [render.tree_entry(i) for i in items]
    last = await run_in_threadpool(svc.files.last_commits, commit, [i.entry.path for i in items])
    files = [(i.meta.sha256, i.entry.path) for i in items if i.meta is not None]
    security = await run_in_threadpool(svc.scans.lookup, repo, files)
    return [
        render.tree_entry(
            i,
            last.get(i.entry.path),
            security.get((i.meta.sha256, i.entry.path)) if i.meta is not None else None,
        )
        for i in items
    ]


async def paths_info(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    _, repo = await _repo(request, p)
    revision = _one_arg(p, "revision")
    paths: list[str]
    expand = False
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await read_json(request)
        paths = body.get("paths") or []
        expand = bool(body.get("expand"))
    else:
        raw = await request.body()
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        paths = form.get("paths", [])
        expand = (form.get("expand") or ["false"])[0].lower() == "true"
    if not isinstance(paths, list) or not all(isinstance(x, str) for x in paths) or len(paths) > 10000:
        raise BadRequest("'paths' must be a list of at most 10000 strings")
    commit, items = await run_in_threadpool(svc.files.paths_info, repo, revision, paths)
    return JSON(await _entries(svc, repo, commit, items, expand))


async def refs(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    _, repo = await _repo(request, p)
    branches, tags, converts, prs = [], [], [], []
    for ref in await run_in_threadpool(svc.repos.refs, repo):
        item = {"name": ref.short, "ref": ref.name, "targetCommit": ref.target}
        if ref.name.startswith("refs/heads/"):
            branches.append(item)
        elif ref.name.startswith("refs/tags/"):
            tags.append(item)
        elif ref.name.startswith("refs/convert/"):
            converts.append(item)
        elif ref.name.startswith("refs/pr/"):
            prs.append(item)
    out: dict[str, Any] = {"branches": branches, "converts": converts, "tags": tags}
    if query_bool(request, "include_prs"):
        out["pullRequests"] = prs
    return JSON(out)


async def commits(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    _, repo = await _repo(request, p)
    revision = _one_arg(p, "revision") if p.args else DEFAULT_BRANCH
    offset = decode_offset_cursor(request.query_params.get("cursor"))
    page, more = await run_in_threadpool(svc.files.history, repo, revision, offset, COMMITS_PAGE)
    headers = {"Link": next_link(request, encode_offset_cursor(offset + COMMITS_PAGE))} if more else {}
    return JSON([render.commit_json(c) for c in page], headers=headers)


async def auth_check(request: Request, p: RepoPath) -> Response:
    who, repo = await _repo(request, p, write=p.args == ["write"])
    # Like the Hub: a gated repo's read check fails (GatedRepo) until the caller may read its files.
    await run_in_threadpool(services(request).access.check_content, who, repo)
    return JSON({"ok": True})


# -- refs ----------------------------------------------------------------------------------------------------
async def branch(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    who, repo = await _repo(request, p, write=True)
    name = "/".join(p.args)
    if not name:
        raise BadRequest("missing branch name")
    if request.method == "DELETE":
        await run_in_threadpool(svc.repos.delete_branch, who, repo, name)
    else:
        body = await read_json(request, required=False)
        start = body.get("startingPoint")
        if start is not None and not isinstance(start, str):
            raise BadRequest("'startingPoint' must be a string")
        await run_in_threadpool(svc.repos.create_branch, who, repo, name, start)
    return JSON({"success": True})


async def tag(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    who, repo = await _repo(request, p, write=True)
    arg = "/".join(p.args)
    if not arg:
        raise BadRequest("missing tag or revision")
    if request.method == "DELETE":
        await run_in_threadpool(svc.repos.delete_tag, who, repo, arg)
        return JSON({"success": True})
    body = await read_json(request)
    name, message = body.get("tag"), body.get("message")
    if not isinstance(name, str) or (message is not None and not isinstance(message, str)):
        raise BadRequest("the body needs a 'tag' string and an optional 'message' string")
    await run_in_threadpool(svc.repos.create_tag, who, repo, name, arg, message)
    return JSON({"success": True})


async def settings(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    who = await principal(request)
    body = await read_json(request)
    private = body.get("private")
    if "visibility" in body:
        if body["visibility"] not in ("public", "private"):
            raise BadRequest("'visibility' must be 'public' or 'private'")
        private = body["visibility"] == "private"
    if private is not None and not isinstance(private, bool):
        raise BadRequest("'private' must be true or false")
    await run_in_threadpool(
        svc.repos.update_settings, who, p.repo_type, p.repo_id, private=private, gated=body.get("gated")
    )
    return JSON({"success": True})


# -- upload --------------------------------------------------------------------------------------------------
async def preupload(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    who, repo = await _repo(request, p)
    revision = _one_arg(p, "revision")
    # Writers, or contributors opening a pull request (create_pr) or pushing to their own refs/pr/N.
    await run_in_threadpool(
        svc.discussions.require_push, who, repo, revision, query_bool(request, "create_pr")
    )
    body = await read_json(request)
    files = await run_in_threadpool(
        svc.uploads.preupload, repo, revision, body.get("files"), body.get("gitIgnore")
    )
    return JSON({"files": files, "commitOid": await run_in_threadpool(svc.repos.resolve, repo, revision)})


async def commit(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    who, repo = await _repo(request, p)
    revision = _one_arg(p, "revision")
    create_pr = query_bool(request, "create_pr")
    # Checked before the body is read: writers, or contributors opening or updating their pull request.
    await run_in_threadpool(svc.discussions.require_push, who, repo, revision, create_pr)
    limit = svc.hub.settings.max_commit_body_bytes
    # The body is spooled to disk, then parsed as a stream: nothing is ever held whole in memory.
    with tempfile.TemporaryFile(dir=svc.hub.settings.tmp_dir) as spool:
        received = 0
        batch = bytearray()
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(f"commit body larger than {limit} bytes; upload large files with LFS")
            batch += chunk
            if len(batch) >= 1 << 20:
                await run_in_threadpool(spool.write, bytes(batch))
                batch.clear()
        if batch:
            await run_in_threadpool(spool.write, bytes(batch))
        spool.seek(0)

        def run() -> Any:
            req = svc.commits.read_ndjson(spool)
            return svc.commits.create_commit(who, repo, revision, req, create_pr=create_pr)

        result = await run_in_threadpool(run)
    url = repo_url(request, repo.type, f"{repo.namespace}/{repo.name}")
    answer = {
        "success": True,
        "commitOid": result.oid,
        "commitUrl": f"{url}/commit/{result.oid}",
        "hookOutput": "",
    }
    if result.pr_num is not None:
        # The client derives refs/pr/N from this URL (it must match .*/discussions/(\d+)).
        answer["pullRequestUrl"] = f"{url}/discussions/{result.pr_num}"
    return JSON(answer)


async def not_supported(request: Request, p: RepoPath) -> Response:
    await _repo(request, p)
    raise NotSupported(f"'{p.action}' is not supported by this hub yet")


API_ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", ""): info,
    ("GET", "revision"): info,
    ("GET", "tree"): tree,
    ("POST", "paths-info"): paths_info,
    ("GET", "refs"): refs,
    ("GET", "commits"): commits,
    ("GET", "auth-check"): auth_check,
    ("POST", "branch"): branch,
    ("DELETE", "branch"): branch,
    ("POST", "tag"): tag,
    ("DELETE", "tag"): tag,
    ("PUT", "settings"): settings,
    ("POST", "preupload"): preupload,
    ("POST", "commit"): commit,
    ("POST", "security"): release,
    ("GET", "discussions"): discussion_routes.get,
    ("POST", "discussions"): discussion_routes.post,
    ("POST", "like"): discussion_routes.like,
    ("DELETE", "like"): discussion_routes.like,
    ("GET", "likers"): discussion_routes.likers,
    ("GET", "xet-write-token"): xet_routes.xet_token,
    ("GET", "xet-read-token"): xet_routes.xet_token,
    ("GET", "storage"): xet_routes.repo_storage,
    ("GET", "lineage"): openness_routes.lineage,
    ("GET", "openness"): openness_routes.openness,
    ("GET", "user-access-request"): people_routes.list_access_requests,
    ("POST", "user-access-request"): people_routes.manage_access_request,
    ("GET", "ask-access"): people_routes.gate_form,
    ("POST", "ask-access"): people_routes.ask_access,
}


# -- resolve -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Download:
    """Everything a resolve answer needs, computed once and reused while the database is unchanged."""

    token_id: int | None
    commit: str
    size: int
    local: Path | None  # None: the bytes are in a remote store (S3), see _remote_download
    stat: os.stat_result | None
    headers: dict[str, str]
    media_type: str
    sha256: str
    lfs: bool
    filename: str
    counted_repo: int | None = None  # the repo whose download count a GET of this file adds to
    xet_hash: str | None = None  # advertised to Xet clients (X-Xet-Hash + the xet-auth Link)
    xet_only: bool = False  # no blob: the bytes are reconstructed from Xet xorbs
    repo_path: str = ""  # "{type}s/{ns}/{name}", for the xet-read-token URL


def _prepare_download(svc: Services, authorization: str | None, p: RepoPath) -> _Download:
    who = svc.auth.authenticate(authorization)
    repo = svc.repos.get_readable(who, p.repo_type, p.repo_id)
    svc.access.check_content(who, repo)
    revision, path = p.args
    f = svc.files.resolve_file(repo, revision, path)
    warning = svc.scans.check_download(repo, f.meta.sha256, path)
    local = svc.content.local_path(f.meta.sha256)
    # Xet-stored content (uploaded through Xet, or chunked by the xet_index job) is offered to Xet clients;
    # content with no blob is served by reconstructing it from its xorbs.
    xet_file = None
    if svc.xet.enabled and (f.meta.is_lfs or local is None):
        xet_file = svc.content.xet_file(f.meta.sha256)
    xet_only = xet_file is not None and local is None and not svc.hub.blobs.exists(f.meta.sha256)
    headers = {"X-Repo-Commit": f.commit, "Accept-Ranges": "bytes"}
    if warning:
        # huggingface_hub logs `X-HF-Warning: <topic>; <message>` as a warning, once per topic.
        headers["X-HF-Warning"] = header_safe(f"security; {warning}")
    if f.meta.is_lfs:
        etag = f'"{f.meta.sha256}"'
        headers["X-Linked-Etag"] = etag
        headers["X-Linked-Size"] = str(f.meta.size)
    else:
        etag = f'"{f.meta.oid}"'
    headers["ETag"] = etag
    return _Download(
        token_id=who.token_id if who else None,
        commit=f.commit,
        size=f.meta.size,
        local=local,
        stat=os.stat(local) if local is not None else None,
        headers=headers,
        media_type=_media_type(path),
        sha256=f.meta.sha256,
        lfs=f.meta.is_lfs,
        filename=path.rsplit("/", 1)[-1],
        counted_repo=repo.id if counts_as_download(repo.type, path) else None,
        xet_hash=xet_file.file_hash if xet_file is not None and f.meta.is_lfs else None,
        xet_only=xet_only,
        repo_path=f"{repo.type}s/{repo.namespace}/{repo.name}",
    )


def _xet_headers(request: Request, d: _Download) -> dict[str, str]:
    """The resolve headers, plus what makes huggingface_hub download through Xet (hf-protocol.md §3.7)."""
    if d.xet_hash is None:
        return d.headers
    route = f"{base_url(request)}/api/{d.repo_path}/xet-read-token/{d.commit}"
    return {**d.headers, "X-Xet-Hash": d.xet_hash, "Link": f'<{route}>; rel="xet-auth"'}


async def resolve(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    hot: HotCache = request.app.state.hot
    authorization = request.headers.get("authorization")
    key = ("resolve", authorization, p.repo_type, p.repo_id, *p.args)
    version, d = hot.get(key)
    if d is None or (d.token_id is not None and svc.auth.touch_due(d.token_id)):
        d = await run_in_threadpool(_prepare_download, svc, authorization, p)
        hot.put(version, key, d)
    if _range_beyond_end(request.headers.get("range"), d.size):
        # Starlette's own 416 has no X-Error-Code and no JSON body; answer like every other error.
        raise RangeNotSatisfiable(
            f"Requested range not satisfiable: the file has {d.size} bytes", size=d.size, commit=d.commit
        )
    headers = _xet_headers(request, d)
    if _etag_matches(request.headers.get("if-none-match"), d.headers["ETag"]):
        return Response(status_code=304, headers=headers)
    if d.counted_repo is not None and is_counted_request(request.method, request.headers.get("range")):
        svc.social.count_download(d.counted_repo)  # in memory; written in batches (services/social.py)
    if d.xet_only:
        return await stream_blob(
            svc, d.sha256, d.size, request.method, request.headers.get("range"), headers, d.media_type
        )
    if d.local is None:
        return await _remote_download(request, svc, d, headers)
    return FileResponse(d.local, headers=headers, media_type=d.media_type, stat_result=d.stat)


async def _remote_download(
    request: Request, svc: Services, d: _Download, headers: dict[str, str]
) -> Response:
    """A file whose bytes are in a remote store (S3). With OMH_S3_DOWNLOAD=redirect an LFS file answers 302
    to a presigned URL, the metadata headers on the 302 itself: a client stops at a redirect to another origin
    and reads them there (hf-protocol.md §3.2), then GETs the URL without the hub's token. Small files, and
    every file with OMH_S3_DOWNLOAD=proxy, are streamed through the hub with Range support."""
    settings = svc.hub.settings
    if d.lfs and settings.s3_download == "redirect":
        ttl = settings.s3_presign_ttl_seconds
        url = svc.hub.blobs.presigned_get_url(d.sha256, filename=d.filename, ttl=ttl)
        if url is not None:
            return Response(status_code=302, headers={**headers, "Location": url})
    return await stream_blob(
        svc, d.sha256, d.size, request.method, request.headers.get("range"), headers, d.media_type
    )


async def stream_blob(
    svc: Services,
    sha256: str,
    size: int,
    method: str,
    range_header: str | None,
    headers: dict[str, str],
    media_type: str,
) -> Response:
    """Stream a stored object (one `Range: bytes=` range at most: 206 + Content-Range; other Range headers are
    ignored). The first chunk is fetched before the answer starts, so a store that is down or an object that
    is missing is an error answer, not a truncated 200."""
    span = _single_range(range_header, size)
    start, length = (0, size) if span is None else span
    out = {**headers, "Content-Length": str(length)}
    if span is not None:
        out["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    status = 200 if span is None else 206
    if method == "HEAD":
        return Response(status_code=status, headers=out, media_type=media_type)
    # A blob, or content reconstructed from Xet xorbs (services/content.py).
    chunks = await run_in_threadpool(svc.content.iter_range, sha256, start, length)
    first = await run_in_threadpool(next, chunks, b"")
    return StreamingResponse(_chain(first, chunks), status_code=status, headers=out, media_type=media_type)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _single_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) of a single satisfiable `bytes=a-b`, `bytes=a-` or `bytes=-n` range; None for no
    Range, several ranges or a malformed one (the whole file is sent). Ranges starting past the end were
    answered 416 before."""
    if not header or not header.strip().lower().startswith("bytes="):
        return None
    spec = header.strip()[6:].strip()
    if "," in spec:
        return None
    first, sep, last = (x.strip() for x in spec.partition("-"))
    if not sep or (first and not first.isdigit()) or (last and not last.isdigit()) or not (first or last):
        return None
    if not first:  # the last n bytes
        n = min(int(last), size)
        return (size - n, n) if n > 0 else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start > end:
        return None
    return start, end - start + 1


def _etag_matches(header: str | None, etag: str) -> bool:
    """True when an `If-None-Match` header names `etag` (weak or strong) or is `*`."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _range_beyond_end(header: str | None, size: int) -> bool:
    """True for a `Range: bytes=N-[M]` whose every range starts at or past the end of the file."""
    if not header or not header.strip().lower().startswith("bytes="):
        return False
    starts = []
    for part in header.strip()[6:].split(","):
        first, sep, _ = part.strip().partition("-")
        if not sep or not first.strip().isdigit():
            return False  # suffix ranges and malformed headers: left to FileResponse
        starts.append(int(first))
    return bool(starts) and all(start >= size for start in starts)


def _media_type(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".json"):
        return "application/json"
    if lower.endswith(
        (".md", ".txt", ".csv", ".py", ".yaml", ".yml", ".jsonl", ".gitattributes", ".gitignore")
    ):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


# -- LFS batch -----------------------------------------------------------------------------------------------
async def lfs(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    if p.action == "verify":
        _, repo = await _repo(request, p, write=True)
        body = await read_json(request)
        await run_in_threadpool(svc.uploads.verify, repo, body.get("oid"), body.get("size"))
        return JSON({"success": True}, media_type="application/vnd.git-lfs+json")
    body = await read_json(request)
    operation = body.get("operation")
    who, repo = await _repo(request, p, write=operation == "upload")
    if operation != "upload":
        await run_in_threadpool(svc.access.check_content, who, repo)
    url = repo_url(request, repo.type, f"{repo.namespace}/{repo.name}")
    data = await run_in_threadpool(
        svc.uploads.batch, repo, url, base_url(request), operation, body.get("objects"), body.get("transfers")
    )
    if operation == "download":
        data = await run_in_threadpool(svc.access.restrict_lfs_download, repo, data)
    return Response(orjson.dumps(data), media_type="application/vnd.git-lfs+json")
