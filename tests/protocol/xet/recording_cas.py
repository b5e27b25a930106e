"""A minimal Hub-token + Xet CAS server for tests: it records what hf_xet sends and can serve it back.

Upload side: answers the Hub token endpoints (``/api/{type}s/{ns}/{name}/xet-{read|write}-token/{rev}``) and
the CAS endpoints under ``/cas`` (xorb upload, shard upload v1 and v2, global dedup query), storing every xorb
and shard body verbatim. Download side: answers ``/cas/v{1,2}/reconstructions/{file}`` from the recorded (or
injected) shards using the library's reconstruction planner, and serves xorb bytes with Range support.

Everything else is recorded and answered 404, which is how the tests learn which optional endpoints hf_xet
tries (for instance the unspecified ``/v1/xorb-grants/``) and that it falls back. Test support only: no auth
checks beyond recording the Authorization header.
"""

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from openmodelhub.protocol.xet import (
    RangeNotSatisfiableError,
    XorbLayout,
    hash_to_hex,
    hex_to_hash,
    parse_byte_range,
    parse_shard,
    plan_reconstruction,
    plan_to_v1_json,
    plan_to_v2_json,
    read_xorb,
)

ACCESS_TOKEN = "xet-test-token"
_RECORDED_HEADERS = (
    "authorization",
    "content-type",
    "content-length",
    "transfer-encoding",
    "range",
    "user-agent",
    "accept",
    "accept-encoding",
    "x-xet-session-id",
    "x-request-id",
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body_size: int
    status: int = 0
    json_body: bytes | None = None  # small JSON request bodies (xorb grant requests, telemetry)


@dataclass
class Recording:
    requests: list[RecordedRequest] = field(default_factory=list)
    xorbs: dict[str, bytes] = field(default_factory=dict)  # Xet hex -> body as uploaded
    shards: list[bytes] = field(default_factory=list)
    shard_paths: list[str] = field(default_factory=list)
    xorb_fetches: list[tuple[str, str]] = field(default_factory=list)  # (xorb hex, Range header)
    dedup_answers: dict[str, bytes] = field(default_factory=dict)  # chunk hex -> shard to answer with

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]


class RecordingCas:
    """Run with `start()`/`stop()` (or as a context manager); `url` is the Hub endpoint, `cas_url` the CAS."""

    def __init__(
        self, *, support_v2_shards: bool = True, reconstruction_versions: tuple[int, ...] = (1, 2)
    ) -> None:
        self.rec = Recording()
        self.support_v2_shards = support_v2_shards
        self.reconstruction_versions = reconstruction_versions
        self.token_lifetime = 3600
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.cas_url = f"{self.url}/cas"
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[Route("/{path:path}", self._dispatch, methods=["GET", "HEAD", "POST", "PUT"])]
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> "RecordingCas":
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("recording CAS did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)
        self._sock.close()

    def __enter__(self) -> "RecordingCas":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def token_url(self, kind: str = "write", repo: str = "alice/xet-test", rev: str = "main") -> str:
        return f"{self.url}/api/models/{repo}/xet-{kind}-token/{rev}"

    # -- serving ---------------------------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> Response:
        body = await request.body()
        entry = RecordedRequest(
            request.method,
            request.url.path,
            request.url.query,
            {k: v for k, v in request.headers.items() if k.lower() in _RECORDED_HEADERS},
            len(body),
        )
        if "json" in request.headers.get("content-type", "") and len(body) < 65536:
            entry.json_body = body
        with self._lock:
            self.rec.requests.append(entry)
        response = await asyncio.to_thread(self._route, request, body)
        entry.status = response.status_code
        return response

    def _route(self, request: Request, body: bytes) -> Response:
        parts = request.url.path.strip("/").split("/")
        method = request.method
        if len(parts) >= 6 and parts[0] == "api" and parts[-2] in ("xet-write-token", "xet-read-token"):
            return self._token()
        if parts[:1] != ["cas"]:
            return Response(status_code=404)
        cas = parts[1:]
        if method == "POST" and cas[:3] == ["v1", "xorbs", "default"] and len(cas) == 4:
            with self._lock:
                self.rec.xorbs[cas[3]] = body
            return JSONResponse({"was_inserted": True})
        if method == "POST" and cas == ["v1", "shards"]:
            return self._shard(body, request.url.path, streaming=False)
        if method == "POST" and cas == ["v2", "shards"]:
            if not self.support_v2_shards:
                return Response(status_code=404)
            return self._shard(body, request.url.path, streaming=True)
        if (
            method == "GET"
            and cas[:1] in (["v1"], ["v2"])
            and cas[1:2] == ["reconstructions"]
            and len(cas) == 3
        ):
            version = int(cas[0][1:])
            if version not in self.reconstruction_versions:
                return Response(status_code=404)
            return self._reconstruction(cas[2], request.headers.get("range"), version)
        if method == "GET" and cas[:3] == ["v1", "chunks", "default"] and len(cas) == 4:
            answer = self.rec.dedup_answers.get(cas[3])
            if answer is None:
                return Response(status_code=404)
            return Response(answer, media_type="application/octet-stream")
        if method == "GET" and cas[:1] == ["xorb-data"] and len(cas) == 2:
            return self._xorb_bytes(cas[1], request.headers.get("range"))
        return Response(status_code=404)

    def _token(self) -> Response:
        exp = int(time.time()) + self.token_lifetime
        payload = {"accessToken": ACCESS_TOKEN, "exp": exp, "casUrl": self.cas_url}
        headers = {
            "X-Xet-Access-Token": ACCESS_TOKEN,
            "X-Xet-Token-Expiration": str(exp),
            "X-Xet-Cas-Url": self.cas_url,
        }
        return JSONResponse(payload, headers=headers)

    def _shard(self, body: bytes, path: str, *, streaming: bool) -> Response:
        with self._lock:
            self.rec.shards.append(body)
            self.rec.shard_paths.append(path)
        if not streaming:
            return JSONResponse({"result": 1})
        lines = [
            {"type": "validating", "verified": 1, "total": 1},
            {"type": "committing", "stage": "uploading"},
        ]
        lines += [{"type": "committing", "stage": "syncing"}, {"type": "result", "result": 1}]
        payload = b"".join(orjson.dumps(line) + b"\n" for line in lines)
        return StreamingResponse(iter([payload]), media_type="application/x-ndjson")

    def _file_segments(self, file_hex: str) -> Any:
        file_hash = hex_to_hash(file_hex)
        for raw in reversed(self.rec.shards):
            for info in parse_shard(raw).files:
                if info.file_hash == file_hash:
                    return info.entries
        return None

    def _layout(self, xorb_hex: str) -> XorbLayout:
        return XorbLayout.from_xorb_info(read_xorb(self.rec.xorbs[xorb_hex]))

    def _reconstruction(self, file_hex: str, range_header: str | None, version: int) -> Response:
        segments = self._file_segments(file_hex)
        if segments is None:
            return Response(status_code=404)
        layouts = {hex_to_hash(h): self._layout(h) for h in {hash_to_hex(s.xorb_hash) for s in segments}}
        file_size = sum(s.unpacked_segment_bytes for s in segments)
        try:
            byte_range = parse_byte_range(range_header, file_size) if range_header else None
            plan = plan_reconstruction(segments, layouts, byte_range)
        except RangeNotSatisfiableError:
            return Response(status_code=416)

        def url_for(xorb: bytes, *_: object) -> str:
            return f"{self.cas_url}/xorb-data/{hash_to_hex(xorb)}"

        if version == 1:
            return JSONResponse(plan_to_v1_json(plan, url_for))
        return JSONResponse(plan_to_v2_json(plan, url_for, multi_range=False))

    def _xorb_bytes(self, xorb_hex: str, range_header: str | None) -> Response:
        data = self.rec.xorbs.get(xorb_hex)
        with self._lock:
            self.rec.xorb_fetches.append((xorb_hex, range_header or ""))
        if data is None:
            return Response(status_code=404)
        if not range_header:
            return Response(data, media_type="application/octet-stream")
        start, end = parse_byte_range(range_header, len(data))
        headers = {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
        return Response(
            data[start : end + 1], status_code=206, headers=headers, media_type="application/octet-stream"
        )
