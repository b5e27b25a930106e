"""The ASGI application."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from openmodelhub import __version__
from openmodelhub.api import discussion_routes, people_routes, repo_routes, top_routes, xet_routes
from openmodelhub.api.errors import error_response, hub_error_response, internal_error_response
from openmodelhub.api.hotcache import HotCache
from openmodelhub.api.rawpath import parse_repo_path
from openmodelhub.protocol import codes
from openmodelhub.services import background
from openmodelhub.services.container import Services
from openmodelhub.services.errors import HubError
from openmodelhub.storage import BlobStoreUnavailable
from openmodelhub.web.app import WebUI

log = logging.getLogger("openmodelhub")


async def dispatch_repo_path(request: Request) -> Response:
    """Everything not matched by a fixed route: repo-scoped API, resolve and LFS, routed on the raw path."""
    p = parse_repo_path(request.scope.get("raw_path") or request.url.path.encode())
    method = "GET" if request.method == "HEAD" else request.method
    if p is not None:
        if p.kind == "resolve" and method == "GET":
            return await repo_routes.resolve(request, p)
        if p.kind == "lfs" and method == "POST":
            return await repo_routes.lfs(request, p)
        if p.kind == "api":
            handler = repo_routes.API_ROUTES.get((method, p.action))
            if handler is not None:
                return await handler(request, p)
    return error_response(404, "NotFound", f"No route for {request.method} {request.url.path}")


class HubApp(FastAPI):
    """FastAPI, with GET/HEAD of `/resolve` and repo info answered before the middleware stack and routes.

    Downloads and `model_info` are the hottest paths by far; they get the same handlers and the same error
    answers as through the full stack (`hub_error_response` for HubError, `internal_error_response` else).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            raw = scope.get("raw_path") or scope["path"].encode()
            if b"/resolve/" in raw or raw.startswith((b"/api/models/", b"/api/datasets/")):
                p = parse_repo_path(raw)
                handler = None
                if p is not None and p.kind == "resolve":
                    handler = repo_routes.resolve
                elif p is not None and p.kind == "api" and p.action in ("", "revision"):
                    handler = repo_routes.info
                if p is not None and handler is not None:
                    scope["app"] = self
                    request = Request(scope, receive)
                    try:
                        response = await handler(request, p)
                    except HubError as exc:
                        response = hub_error_response(request, exc)
                    except Exception as exc:  # answered like the app's own handler does
                        response = internal_error_response(request, exc)
                    await response(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Jobs lost with a crashed process are found and re-enqueued (ADR 0005); jobs still running in this
        # process (embedded engine) get a few seconds at shutdown, the rest is redone by the next reconcile.
        await asyncio.to_thread(background.enqueue_quietly, services.jobs, "reconcile")
        yield
        services.social.close()  # download counts still in memory are written now
        services.jobs.close(timeout=5)

    app = HubApp(
        title="OpenModelHub",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.hot = HotCache(services.hub.engine)
    # Cached callers are re-read when the database changes (revoked tokens, memberships count at once).
    services.auth.cache_version = app.state.hot.version

    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> Response:
        return hub_error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, codes.BAD_REQUEST)
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(BlobStoreUnavailable)  # a 503 answered here is not re-raised as a crash
    async def _storage_error(request: Request, exc: BlobStoreUnavailable) -> Response:
        return internal_error_response(request, exc)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        return internal_error_response(request, exc)

    routes = [
        Route("/api/whoami-v2", people_routes.whoami, methods=["GET"]),
        Route("/api/users", people_routes.register, methods=["POST"]),
        Route("/api/users/{name:str}/overview", people_routes.user_overview, methods=["GET"]),
        Route("/api/users/{name:str}/likes", discussion_routes.user_likes, methods=["GET"]),
        Route("/api/invites", people_routes.create_invite, methods=["POST"]),
        Route("/api/organizations/create", people_routes.create_org, methods=["POST"]),
        Route("/api/organizations/{name:str}/overview", people_routes.org_overview, methods=["GET"]),
        Route("/api/organizations/{name:str}/members", people_routes.org_members, methods=["GET"]),
        Route(
            "/api/organizations/{name:str}/members/{user:str}",
            people_routes.org_member,
            methods=["PUT", "DELETE"],
        ),
        Route("/api/tokens", people_routes.list_tokens, methods=["GET"]),
        Route("/api/tokens", people_routes.create_token, methods=["POST"]),
        Route("/api/tokens/{token_id:str}", people_routes.revoke_token, methods=["DELETE"]),
        Route("/{ns:str}/{name:str}/ask-access", people_routes.ask_access_web, methods=["POST"]),
        Route("/datasets/{ns:str}/{name:str}/ask-access", people_routes.ask_access_web, methods=["POST"]),
        Route("/api/validate-yaml", top_routes.validate_yaml, methods=["POST"]),
        Route("/api/repos/create", top_routes.create_repo, methods=["POST"]),
        Route("/api/repos/delete", top_routes.delete_repo, methods=["DELETE"]),
        Route("/api/repos/move", top_routes.move_repo, methods=["POST"]),
        Route("/api/models", top_routes.list_repos, methods=["GET"]),
        Route("/api/datasets", top_routes.list_repos, methods=["GET"]),
        Route("/api/agent-harnesses", top_routes.agent_harnesses, methods=["GET"]),
        Route("/lfs/objects/{oid:str}/{size:int}", top_routes.lfs_put, methods=["PUT"]),
        Route("/lfs/objects/{oid:str}", top_routes.lfs_get, methods=["GET", "HEAD"]),
        Route("/lfs/multipart/{upload_id:str}/complete", top_routes.lfs_complete, methods=["POST"]),
        Route("/lfs/multipart/{upload_id:str}/{part:int}", top_routes.lfs_part, methods=["PUT"]),
    ]
    app.router.routes.extend(routes)
    app.router.routes.extend(xet_routes.ROUTES)  # the Xet CAS under /xet, storage statistics

    web = WebUI()

    async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
        # Whatever no fixed route matched (any path, even one with %0A in it) goes to the raw-path dispatcher,
        # unless it is a web page; the web UI never claims a protocol path (web/routes.py).
        page = web.match(scope)
        if page is not None:
            await web.serve(page, scope, receive, send)
            return
        response = await dispatch_repo_path(Request(scope, receive))
        await response(scope, receive, send)

    app.router.default = fallback
    return app
