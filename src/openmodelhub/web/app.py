"""The web UI as one ASGI handler that api/app.py consults for paths no API route took.

For each page request: the session cookie names the caller (services/sessions.py); a POST needs the CSRF
token of that cookie in its form, or it is refused with a 403 page before the handler runs; the handler
(a plain function, run in a worker thread) calls services and renders a template. Domain errors become an
HTML page with the status and `X-Error-Code` api/errors.py gives them. Every answer carries the same
security headers, among them `Content-Security-Policy: default-src 'self'`.
"""

import logging
from typing import Any

from python_multipart.exceptions import FormParserError
from starlette.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from openmodelhub.api.errors import hub_error_response, internal_error_response
from openmodelhub.services.container import Services
from openmodelhub.services.errors import BadRequest, GatedRepo, HubError, PayloadTooLarge, Unauthorized
from openmodelhub.web import routes
from openmodelhub.web.context import LoginRequired, Page
from openmodelhub.web.templating import make_env

log = logging.getLogger("openmodelhub.web")

CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
FORM_MAX_FIELDS = 200
FORM_MAX_FILES = 1000
FORM_MAX_FIELD_BYTES = 2 * (1 << 20)  # the editor's text is one field
TITLES = {
    400: "This request could not be handled",
    401: "Sign in needed",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    412: "Changed in the meantime",
    413: "Too large",
    429: "Too many attempts",
    501: "Not supported yet",
    503: "Storage unavailable",
}


def cookie_settings(svc: Services, request: Request) -> tuple[str, bool]:
    """(cookie name, Secure flag). Over https the cookie is `__Host-` prefixed: Secure, Path=/, no Domain."""
    public = svc.hub.settings.public_url or ""
    secure = public.startswith("https://") or (not public and request.url.scheme == "https")
    return ("__Host-omh_session" if secure else "omh_session"), secure


def with_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.media_type and response.media_type.startswith("text/html"):
        # Pages hold CSRF tokens and private data: never stored by a browser or proxy cache.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


class WebUI:
    def __init__(self) -> None:
        from openmodelhub.web import pages  # noqa: F401 - registers the pages' routes

        self.env = make_env()

    @staticmethod
    def match(scope: Scope) -> routes.Match | None:
        if scope["type"] != "http":
            return None
        return routes.match(scope["method"], scope.get("raw_path") or scope["path"].encode())

    async def serve(self, found: routes.Match, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if found.route.bare:
            response = found.route.handler(**found.params)
        else:
            response = await self._page(found, request)
        await with_security_headers(response)(scope, receive, send)

    async def _page(self, found: routes.Match, request: Request) -> Response:
        svc: Services = request.app.state.services
        name, secure = cookie_settings(svc, request)
        page = Page(request, svc, self.env, name, secure)
        try:
            try:
                page.principal = await run_in_threadpool(svc.sessions.principal, page.cookie)
                if request.method == "POST":
                    if found.route.auth and page.principal is None:
                        raise LoginRequired()
                    await self._read_form(page)
                    svc.sessions.check_csrf(page.cookie, page.field("csrf_token"))
                response: Response = await run_in_threadpool(
                    lambda: found.route.handler(page, **found.params)
                )
            except LoginRequired:
                response = page.login_redirect()
            except HubError as exc:
                response = self.error_page(page, exc)
            except (MultiPartException, FormParserError) as exc:
                response = self.error_page(page, BadRequest(f"The form could not be read: {exc}"))
            except Exception as exc:
                answer = internal_error_response(request, exc)  # logs it
                message = (
                    "The hub's storage could not be reached; nothing was changed. Try again later."
                    if answer.status_code == 503
                    else "Something went wrong on the hub's side; nothing was changed."
                )
                response = page.render(
                    "error.html", status=answer.status_code, title="Hub error", message=message, sign_in=False
                )
        finally:
            if page.form is not None:
                await page.form.close()
        page.apply_cookie(response)
        return response

    @staticmethod
    async def _read_form(page: Page) -> None:
        limit = page.svc.hub.settings.max_commit_body_bytes
        length = page.request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"This form is larger than the hub accepts ({limit} bytes)")
        page.form = await page.request.form(
            max_files=FORM_MAX_FILES, max_fields=FORM_MAX_FIELDS, max_part_size=FORM_MAX_FIELD_BYTES
        )

    @staticmethod
    def error_page(page: Page, exc: HubError, **extra: Any) -> Response:
        """An error as a page, with the status and X-Error-Code the API gives the same error."""
        api = hub_error_response(page.request, exc)
        headers = {k: v for k, v in api.headers.items() if k.lower() in ("x-error-code", "retry-after")}
        sign_in = page.principal is None and (
            isinstance(exc, Unauthorized) or (isinstance(exc, GatedRepo) and not exc.authenticated)
        )
        return page.render(
            "error.html",
            status=api.status_code,
            headers=headers,
            title=TITLES.get(api.status_code, "Error"),
            message=exc.message,
            sign_in=sign_in,
            **extra,
        )
