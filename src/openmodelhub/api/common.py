"""Helpers shared by the handlers: JSON responses, the caller's identity, URLs, pagination links."""

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from openmodelhub.protocol.names import RepoType
from openmodelhub.services.auth import Principal
from openmodelhub.services.container import Services
from openmodelhub.services.errors import BadRequest

MAX_JSON_BODY = 16 * 1024 * 1024
STREAM_HOP = 1 << 20  # `stream_into` hands the body to its writer in batches of about this many bytes


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def principal(request: Request) -> Principal | None:
    """The authenticated caller (None for anonymous). Bad tokens are a 401, never silently anonymous."""
    header = request.headers.get("authorization")
    if not header:
        return None
    return await run_in_threadpool(services(request).auth.authenticate, header)


def base_url(request: Request) -> str:
    configured = services(request).hub.settings.public_url
    if configured:
        return configured.rstrip("/")
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}"


def repo_url(request: Request, repo_type: str, repo_id: str) -> str:
    return f"{base_url(request)}/{RepoType(repo_type).url_prefix}{repo_id}"


def next_link(request: Request, cursor: str) -> str:
    """An absolute `Link: <...>; rel="next"` keeping every query parameter but the cursor."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    params.append(("cursor", cursor))
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    return f'<{base_url(request)}{raw_path.decode("latin-1")}?{urlencode(params)}>; rel="next"'


async def read_json(request: Request, *, required: bool = True) -> dict[str, Any]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BODY:
            raise BadRequest("request body too large")
    if not body.strip():
        if required:
            raise BadRequest("a JSON body is required")
        return {}
    try:
        data = orjson.loads(bytes(body))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("the JSON body must be an object")
    return data


async def stream_into(request: Request, write: Callable[[bytes], object]) -> None:
    """Feed the request body to a blocking `write` off the event loop, about 1 MiB of chunks per thread hop.

    The chunks the server delivered are handed over as they are (no joining into a new buffer), so at most
    about 1 MiB of body is held at a time and each byte is copied only where `write` puts it. Size limits are
    `write`'s to enforce: whatever it raises stops the stream and reaches the caller.
    """

    def write_all(chunks: list[bytes]) -> None:
        for chunk in chunks:
            write(chunk)

    pending: list[bytes] = []
    held = 0
    async for chunk in request.stream():
        if not chunk:
            continue
        pending.append(chunk)
        held += len(chunk)
        if held >= STREAM_HOP:
            await run_in_threadpool(write_all, pending)
            pending, held = [], 0
    if pending:
        await run_in_threadpool(write_all, pending)


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    return value.lower() in ("1", "true", "yes")


def query_int(request: Request, name: str, default: int, *, lo: int = 1, hi: int = 1000) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        n = int(value)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer") from None
    return max(lo, min(hi, n))


def encode_offset_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_offset_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = int(json.loads(base64.urlsafe_b64decode(padded))["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("invalid pagination cursor") from exc
    if offset < 0:
        raise BadRequest("invalid pagination cursor")
    return offset
