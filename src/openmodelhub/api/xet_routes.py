"""Xet over HTTP: the token endpoints, the CAS under `/xet`, signed xorb downloads, storage statistics.

The CAS paths are those hf_xet 1.8 calls (docs/xet.md "HTTP traffic"), relative to the `casUrl` the token
endpoints hand out (`{base}/xet`). Every CAS request carries `Authorization: Bearer <Xet access token>`, a
short-lived token signed by the hub and scoped to one repo (services/xet.py); the xorb data URLs in
reconstruction answers carry their own signature instead, as presigned URLs do (hf_xet sends no token there).
"""

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from openmodelhub.api.common import JSON, base_url, principal, query_bool, services, stream_into
from openmodelhub.api.rawpath import RepoPath
from openmodelhub.services.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, Unauthorized
from openmodelhub.services.xet import MAX_SHARD_UPLOAD, XetToken

# -- token endpoints (repo routes: /api/{type}s/{ns}/{name}/xet-{read|write}-token/{revision}) ---------------


async def xet_token(request: Request, p: RepoPath) -> Response:
    """`{"accessToken", "exp", "casUrl"}`, also as the `X-Xet-*` headers huggingface_hub reads (§3.7)."""
    svc = services(request)
    who = await principal(request)
    write = p.action == "xet-write-token"
    revision = "/".join(p.args) or "main"

    def issue() -> XetToken:
        if write:
            repo = svc.repos.get_writable(who, p.repo_type, p.repo_id)
            return svc.xet.issue_token(repo, "write", revision)
        repo = svc.repos.get_readable(who, p.repo_type, p.repo_id)
        svc.access.check_content(who, repo)
        return svc.xet.issue_token(repo, "read", svc.repos.resolve(repo, revision))

    token = await run_in_threadpool(issue)
    access = svc.xet.encode_token(token)
    cas = f"{base_url(request)}/xet"
    headers = {"X-Xet-Access-Token": access, "X-Xet-Token-Expiration": str(token.exp), "X-Xet-Cas-Url": cas}
    return JSON({"accessToken": access, "exp": token.exp, "casUrl": cas}, headers=headers)


# -- the CAS ------------------------------------------------------------------------------------------------


def _token(request: Request, scope: str) -> XetToken:
    return services(request).xet.check_token(request.headers.get("authorization"), scope)


async def upload_xorb(request: Request) -> Response:
    """`POST /xet/v1/xorbs/default/{hash}`: verified while it streams into the blob store."""
    svc = services(request)
    token = _token(request, "write")
    length = request.headers.get("content-length")
    size = int(length) if length is not None and length.isdigit() else None
    upload = await run_in_threadpool(svc.xet.start_xorb_upload, token, request.path_params["hash"], size)
    try:
        await stream_into(request, upload.write)
        inserted = await run_in_threadpool(upload.finish)
    except BaseException:
        upload.abort()
        raise
    return JSON({"was_inserted": inserted})


async def upload_shard(request: Request) -> Response:
    """`POST /xet/v1/shards` and `/xet/v2/shards` (v2 answers NDJSON progress, v1 one JSON object)."""
    svc = services(request)
    token = _token(request, "write")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SHARD_UPLOAD:
            raise PayloadTooLarge(f"a shard has at most {MAX_SHARD_UPLOAD} bytes")
    files = await run_in_threadpool(svc.xet.upload_shard, token, bytes(body))
    if request.url.path.startswith("/xet/v1/"):
        return JSON({"result": 1})
    lines = [
        {"type": "validating", "verified": files, "total": files},
        {"type": "committing", "stage": "uploading"},
        {"type": "committing", "stage": "syncing"},
        {"type": "result", "result": 1},
    ]
    return Response(b"".join(orjson.dumps(x) + b"\n" for x in lines), media_type="application/x-ndjson")


async def dedup_query(request: Request) -> Response:
    """`GET /xet/v1/chunks/default/{chunk}`: a shard of stored xorbs holding this chunk, or 404."""
    svc = services(request)
    token = _token(request, "write")
    answer = await run_in_threadpool(svc.xet.dedup_shard, token, request.path_params["hash"])
    if answer is None:
        raise NotFound("no stored xorb holds this chunk")
    return Response(answer, media_type="application/octet-stream")


async def reconstruction(request: Request) -> Response:
    """`GET /xet/v{1,2}/reconstructions/{file}`: terms and signed xorb URLs (a `Range` selects bytes)."""
    svc = services(request)
    token = _token(request, "read")
    version = 1 if request.url.path.startswith("/xet/v1/") else 2
    base = base_url(request)
    settings = svc.hub.settings

    def url_for(blob_sha256: str) -> str:
        if svc.hub.blobs.local_path(blob_sha256) is None and settings.s3_download == "redirect":
            url = svc.hub.blobs.presigned_get_url(
                blob_sha256, filename=None, ttl=settings.xet_token_ttl_seconds
            )
            if url is not None:
                return url
        return f"{base}/xet/xorb-data/{blob_sha256}?{svc.xet.sign_xorb_url(blob_sha256)}"

    def answer() -> dict[str, Any]:
        f = svc.xet.readable_file(token, request.path_params["file"])
        return svc.xet.reconstruction(f, request.headers.get("range"), version, url_for)

    return JSON(await run_in_threadpool(answer))


async def xorb_data(request: Request) -> Response:
    """`GET /xet/xorb-data/{blob sha256}?exp=&sig=`: a stored xorb's bytes, with `Range` support."""
    from openmodelhub.api.repo_routes import stream_blob

    svc = services(request)
    sha = request.path_params["sha"]
    svc.xet.check_xorb_url(sha, request.query_params.get("exp"), request.query_params.get("sig"))
    path = svc.hub.blobs.local_path(sha)
    if path is not None:
        if not path.is_file():
            raise NotFound("this xorb is not stored")
        return FileResponse(path, media_type="application/octet-stream")
    size = await run_in_threadpool(svc.hub.blobs.size, sha)
    if size is None:
        raise NotFound("this xorb is not stored")
    headers = {"Accept-Ranges": "bytes"}
    return await stream_blob(
        svc, sha, size, request.method, request.headers.get("range"), headers, "application/octet-stream"
    )


# -- storage statistics --------------------------------------------------------------------------------------


async def hub_storage(request: Request) -> Response:
    """`GET /api/storage`: the whole hub's storage accounting (hub admins)."""
    svc = services(request)
    who = await principal(request)
    if who is None:
        raise Unauthorized("Storage statistics of the hub need an admin's token")
    if not who.is_admin:
        raise Forbidden("Only hub admins can see the hub's storage statistics")
    stats = await run_in_threadpool(svc.xet.storage_stats)
    return JSON(stats.as_dict())


async def namespace_storage(request: Request) -> Response:
    """`GET /api/storage/{namespace}`: a user's or organization's repos (who may write there, and admins)."""
    svc = services(request)
    who = await principal(request)
    namespace = request.path_params["namespace"]
    if who is None or not who.is_admin:
        svc.auth.require_write(who, namespace)
    stats = await run_in_threadpool(lambda: svc.xet.storage_stats(namespace=namespace))
    return JSON(stats.as_dict())


async def repo_storage(request: Request, p: RepoPath) -> Response:
    """`GET /api/{type}s/{ns}/{name}/storage`: one repo (anyone who may read it)."""
    svc = services(request)
    who = await principal(request)
    repo = await run_in_threadpool(svc.repos.get_readable, who, p.repo_type, p.repo_id)
    if p.args:
        raise BadRequest("use GET .../storage")
    stats = await run_in_threadpool(lambda: svc.xet.storage_stats(repo=repo))
    data = stats.as_dict()
    if query_bool(request, "brief"):
        data.pop("both_paths", None)
    return JSON(data)


ROUTES = [
    Route("/xet/v1/xorbs/{prefix:str}/{hash:str}", upload_xorb, methods=["POST"]),
    Route("/xet/v1/shards", upload_shard, methods=["POST"]),
    Route("/xet/v2/shards", upload_shard, methods=["POST"]),
    Route("/xet/v1/chunks/{prefix:str}/{hash:str}", dedup_query, methods=["GET"]),
    Route("/xet/v1/reconstructions/{file:str}", reconstruction, methods=["GET"]),
    Route("/xet/v2/reconstructions/{file:str}", reconstruction, methods=["GET"]),
    Route("/xet/xorb-data/{sha:str}", xorb_data, methods=["GET", "HEAD"]),
    Route("/api/storage", hub_storage, methods=["GET"]),
    Route("/api/storage/{namespace:str}", namespace_storage, methods=["GET"]),
]
