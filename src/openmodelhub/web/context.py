"""One page request as handlers see it: the caller, their session cookie and CSRF token, the form, and
helpers to answer with a template or a redirect.

Handlers are plain functions run in a worker thread (they call the synchronous services directly); the
form is parsed and its CSRF token checked before a handler runs (web/app.py).
"""

from typing import Any

from jinja2 import Environment
from markupsafe import Markup
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from openmodelhub.api.errors import hub_error_response
from openmodelhub.services.auth import Principal
from openmodelhub.services.container import Services
from openmodelhub.services.errors import HubError
from openmodelhub.services.sessions import SESSION_LIFETIME
from openmodelhub.web import urls


class LoginRequired(Exception):
    """The page needs a signed-in user: answered with a redirect to the sign-in page."""


class Page:
    def __init__(
        self, request: Request, svc: Services, env: Environment, cookie_name: str, secure: bool
    ) -> None:
        self.request = request
        self.svc = svc
        self.env = env
        self.cookie_name = cookie_name
        self.secure = secure
        self.cookie: str | None = request.cookies.get(cookie_name) or None
        self.principal: Principal | None = None
        self.form: FormData | None = None
        # (value, persistent) of a cookie to set on the answer
        self._new_cookie: tuple[str, bool] | None = None
        if self.cookie is None:
            # Anonymous visitors get a value naming no session, so their forms have a CSRF token too.
            self._new_cookie = (svc.sessions.new_cookie_value(), False)

    # -- session -------------------------------------------------------------------------------------------
    @property
    def cookie_value(self) -> str:
        if self._new_cookie is not None:
            return self._new_cookie[0]
        assert self.cookie is not None
        return self.cookie

    @property
    def csrf_token(self) -> str:
        return self.svc.sessions.csrf_token(self.cookie_value)

    def csrf_field(self) -> Markup:
        """The hidden input every POST form carries."""
        return Markup('<input type="hidden" name="csrf_token" value="{}">').format(self.csrf_token)

    def set_session(self, value: str, principal: Principal | None) -> None:
        """Use a new cookie value from now on (after sign-in, sign-up or sign-out)."""
        self._new_cookie = (value, principal is not None)
        self.principal = principal

    def apply_cookie(self, response: Response) -> None:
        if self._new_cookie is None:
            return
        value, persistent = self._new_cookie
        response.set_cookie(
            self.cookie_name,
            value,
            max_age=int(SESSION_LIFETIME.total_seconds()) if persistent else None,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def require_user(self) -> Principal:
        if self.principal is None:
            raise LoginRequired()
        return self.principal

    # -- request -------------------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """The path and query of this request, for `?next=` links back here."""
        raw = (self.request.scope.get("raw_path") or self.request.url.path.encode()).decode("latin-1")
        query = self.request.url.query
        return f"{raw}?{query}" if query else raw

    @property
    def base_url(self) -> str:
        """The URL clients reach this hub at: OMH_PUBLIC_URL, else the request's scheme and Host."""
        configured = self.svc.hub.settings.public_url
        if configured:
            return configured.rstrip("/")
        host = self.request.headers.get("host") or f"{self.request.url.hostname}:{self.request.url.port}"
        return f"{self.request.url.scheme}://{host}"

    @property
    def client_ip(self) -> str:
        """The address the request came from, as the sign-in throttle keys it ("unknown" without one)."""
        client = self.request.client
        return client.host if client is not None else "unknown"

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)

    def field(self, name: str, default: str = "") -> str:
        """A text field of the posted form."""
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else default

    def files(self, name: str) -> list[UploadFile]:
        if self.form is None:
            return []
        return [f for f in self.form.getlist(name) if isinstance(f, UploadFile) and f.filename]

    # -- answers -------------------------------------------------------------------------------------------
    def render(
        self, template: str, status: int = 200, headers: dict[str, str] | None = None, **values: Any
    ) -> Response:
        html = self.env.get_template(template).render(page=self, **values)
        return HTMLResponse(html, status_code=status, headers=headers)

    def form_error(self, template: str, exc: HubError, **values: Any) -> Response:
        """A form shown again with what went wrong, with the status and X-Error-Code the API would give."""
        api = hub_error_response(self.request, exc)
        headers = {k: v for k, v in api.headers.items() if k.lower() in ("x-error-code", "retry-after")}
        return self.render(template, status=api.status_code, headers=headers, error=exc.message, **values)

    @staticmethod
    def redirect(url: str) -> Response:
        return RedirectResponse(url, status_code=303)

    def login_redirect(self) -> Response:
        return self.redirect(urls.login(self.path if self.request.method == "GET" else None))
