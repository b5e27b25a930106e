"""Endpoints outside a repo's path: identity, card validation, repo create/delete/move, listings and LFS
transfers."""

import hashlib
import os
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from openmodelhub.api import render, repo_routes
from openmodelhub.api.common import (
    JSON,
    decode_offset_cursor,
    encode_offset_cursor,
    next_link,
    principal,
    query_bool,
    query_int,
    read_json,
    repo_url,
    services,
    stream_into,
)
from openmodelhub.protocol.names import DEFAULT_BRANCH, REPO_TYPES_BY_PLURAL, RepoType
from openmodelhub.services.cards import validate_card
from openmodelhub.services.errors import BadRequest, InvalidCardMetadata, NotFound, SizeMismatch, Unauthorized
from openmodelhub.services.openness import parse_openness_class
from openmodelhub.services.repos import ListQuery, parse_repo_id
from openmodelhub.storage import ChecksumError

LIST_PAGE_DEFAULT = 1000


async def validate_yaml(request: Request) -> Response:
    body = await read_json(request)
    content = body.get("content")
    if not isinstance(content, str):
        raise BadRequest("'content' must be the README text")
    errors, warnings = validate_card(content)
    if errors:
        raise InvalidCardMetadata(errors)
    return JSON({"errors": [], "warnings": [{"message": m} for m in warnings]})


def _repo_type(value: Any) -> RepoType:
    if value is None:
        return RepoType.MODEL
    try:
        return RepoType(value)
    except ValueError:
        raise BadRequest(f"unknown repo type {value!r}: use 'model' or 'dataset'") from None


async def create_repo(request: Request) -> Response:
    svc = services(request)
    who = await principal(request)
    body = await read_json(request)
    name, org = body.get("name"), body.get("organization")
    if not isinstance(name, str) or (org is not None and not isinstance(org, str)):
        raise BadRequest("the body needs 'name' and an optional 'organization'")
    repo_type = _repo_type(body.get("type"))
    if repo_type is RepoType.SPACE:
        raise BadRequest("Spaces are not supported by this hub")
    private = body.get("private")
    visibility = body.get("visibility")
    if visibility is not None:
        if visibility not in ("public", "private"):
            raise BadRequest("'visibility' must be 'public' or 'private'")
        private = visibility == "private"
    if private is not None and not isinstance(private, bool):
        raise BadRequest("'private' must be true or false")
    if who is None:
        raise Unauthorized("You must be authenticated to create a repo: pass a token with write access")
    repo = await run_in_threadpool(svc.repos.create, who, repo_type, name, org, bool(private))
    repo_id = f"{repo.namespace}/{repo.name}"
    return JSON({"url": repo_url(request, repo_type.value, repo_id), "name": repo_id, "id": repo_id})


def _repo_id_from_body(body: dict[str, Any]) -> str:
    name, org = body.get("name"), body.get("organization")
    if not isinstance(name, str) or (org is not None and not isinstance(org, str)):
        raise BadRequest("the body needs 'name' and an optional 'organization'")
    return f"{org}/{name}" if org else name


async def delete_repo(request: Request) -> Response:
    svc = services(request)
    who = await principal(request)
    body = await read_json(request)
    repo_id = _repo_id_from_body(body)
    if "/" not in repo_id and who is not None:
        repo_id = f"{who.name}/{repo_id}"
    await run_in_threadpool(svc.repos.delete, who, _repo_type(body.get("type")), repo_id)
    return JSON({"success": True})


async def move_repo(request: Request) -> Response:
    svc = services(request)
    who = await principal(request)
    body = await read_json(request)
    src, dst = body.get("fromRepo"), body.get("toRepo")
    if not isinstance(src, str) or not isinstance(dst, str):
        raise BadRequest("the body needs 'fromRepo' and 'toRepo'")
    parse_repo_id(dst)
    await run_in_threadpool(svc.repos.move, who, _repo_type(body.get("type")), src, dst)
    return JSON({"success": True})


async def list_repos(request: Request) -> Response:
    svc = services(request)
    who = await principal(request)
    plural = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    repo_type = REPO_TYPES_BY_PLURAL[plural]
    qp = request.query_params
    limit = query_int(request, "limit", LIST_PAGE_DEFAULT, hi=LIST_PAGE_DEFAULT)
    offset = decode_offset_cursor(qp.get("cursor"))
    q = ListQuery(
        repo_type=repo_type,
        search=qp.getlist("search"),
        author=qp.get("author"),
        filters=qp.getlist("filter"),
        sort=qp.get("sort"),
        offset=offset,
        limit=limit + 1,
    )
    min_class = parse_openness_class(qp["openness"]) if qp.get("openness") else None
    commercial = _tri_bool(qp.get("commercial"), "commercial")
    repos = await run_in_threadpool(
        lambda: svc.openness.list_models(who, q, min_class=min_class, commercial=commercial)
    )
    more = len(repos) > limit
    repos = repos[:limit]
    expand = qp.getlist("expand")
    fields = set(render.LIST_DEFAULT_FIELDS)
    if expand:
        fields = set(expand) & render.ALL_INFO_FIELDS
    if query_bool(request, "full"):
        fields |= {"sha", "siblings", "lastModified"}
    if query_bool(request, "cardData"):
        fields.add("cardData")
    if query_bool(request, "config"):
        fields.add("config")

    def build() -> list[dict[str, Any]]:
        out = []
        needs_commit = bool(fields & {"sha", "siblings", "config", "usedStorage"})
        for repo in repos:
            commit = svc.repos.resolve(repo, DEFAULT_BRANCH) if needs_commit else None
            out.append(render.repo_json(svc, repo, commit, fields))
        return out

    data = await run_in_threadpool(build)
    headers = {"Link": next_link(request, encode_offset_cursor(offset + limit))} if more else {}
    return JSON(data, headers=headers)


def _tri_bool(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise BadRequest(f"'{name}' must be true or false")


async def agent_harnesses(request: Request) -> Response:
    return JSON({"standardEnvVars": [], "harnesses": {}})


# -- LFS transfers (self-authorising signed URLs) --------------------------------------------------------
async def lfs_put(request: Request) -> Response:
    svc = services(request)
    oid, size_text = request.path_params["oid"], request.path_params["size"]
    # The URL names the repo the batch API signed it for: the upload is recorded there (services/uploads.py).
    repo_text = request.query_params.get("repo", "")
    svc.uploads.check_signature(
        "put",
        f"{oid}:{size_text}:{repo_text}",
        request.query_params.get("exp"),
        request.query_params.get("sig"),
    )
    size, repo_id = int(size_text), int(repo_text)
    writer = svc.uploads.object_writer(oid, size)
    try:
        await stream_into(request, writer.write)
    except ChecksumError as exc:  # more bytes than the signed size: a client error, not a 500
        writer.abort()
        raise SizeMismatch(str(exc)) from exc
    except BaseException:
        writer.abort()
        raise
    await run_in_threadpool(svc.uploads.finish_object, writer, oid, repo_id)
    return JSON({"success": True})


async def lfs_get(request: Request) -> Response:
    svc = services(request)
    oid = request.path_params["oid"]
    svc.uploads.check_signature("get", oid, request.query_params.get("exp"), request.query_params.get("sig"))
    path = svc.hub.blobs.local_path(oid)
    if path is None:  # a remote store (S3): a presigned redirect, or streamed (as resolve does)
        blob_size = await run_in_threadpool(svc.hub.blobs.size, oid)
        size = blob_size if blob_size is not None else await run_in_threadpool(svc.content.size, oid)
        if size is None:
            raise NotFound(f"LFS object {oid} does not exist")
        settings = svc.hub.settings
        ttl = settings.s3_presign_ttl_seconds
        url = svc.hub.blobs.presigned_get_url(oid, filename=None, ttl=ttl) if blob_size is not None else None
        if url is not None and settings.s3_download == "redirect":
            return Response(status_code=302, headers={"Location": url})
        range_header = request.headers.get("range")
        headers = {"Accept-Ranges": "bytes"}
        return await repo_routes.stream_blob(
            svc, oid, size, request.method, range_header, headers, "application/octet-stream"
        )
    if not path.exists():
        # Uploaded through Xet: no blob, the bytes are reconstructed from xorbs (services/content.py).
        size = await run_in_threadpool(svc.content.size, oid)
        if size is None:
            raise NotFound(f"LFS object {oid} does not exist")
        return await repo_routes.stream_blob(
            svc, oid, size, request.method, request.headers.get("range"), {}, "application/octet-stream"
        )
    return FileResponse(path, media_type="application/octet-stream")


async def lfs_part(request: Request) -> Response:
    svc = services(request)
    upload_id, part = request.path_params["upload_id"], int(request.path_params["part"])
    svc.uploads.check_signature(
        "part", f"{upload_id}:{part}", request.query_params.get("exp"), request.query_params.get("sig")
    )
    up = await run_in_threadpool(svc.uploads.multipart_upload, upload_id)
    expected = svc.uploads.expected_part_size(up, part)
    final = svc.uploads.part_path(upload_id, part)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_suffix(f".{os.getpid()}.tmp")
    md5 = hashlib.md5(usedforsecurity=False)
    received = 0
    with open(tmp, "wb") as f:

        def write(chunk: bytes) -> None:
            nonlocal received
            received += len(chunk)
            if received > expected:
                raise BadRequest(f"part {part} is larger than {expected} bytes")
            md5.update(chunk)
            f.write(chunk)

        try:
            await stream_into(request, write)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    if received != expected:
        tmp.unlink(missing_ok=True)
        raise BadRequest(f"part {part} has {received} bytes, expected {expected}")
    os.replace(tmp, final)
    return Response(status_code=200, headers={"ETag": f'"{md5.hexdigest()}"'})


async def lfs_complete(request: Request) -> Response:
    svc = services(request)
    upload_id = request.path_params["upload_id"]
    repo_text, via = request.query_params.get("repo", ""), request.query_params.get("via", "")
    svc.uploads.check_signature(
        "complete",
        f"{upload_id}:{repo_text}:{via}",
        request.query_params.get("exp"),
        request.query_params.get("sig"),
    )
    body = await read_json(request)
    await run_in_threadpool(svc.uploads.complete_multipart, upload_id, body.get("parts"), int(repo_text), via)
    return JSON({"success": True})
