"""The web UI's route table, matched on the raw path like the API (docs/decisions/0001-route-on-raw-paths.md).

A revision in a page URL is one percent-encoded segment (`/tree/refs%2Fpr%2F1/dir/file`), so each segment is
decoded on its own. Patterns are tuples of segments: a literal, `{var}` (one segment), `{ns}`/`{name}`
(one segment that is a valid namespace or repo name) or a final `{*var}` (the rest, joined with '/', may be
empty). The most specific pattern wins (more literal segments first), so `/settings/tokens` is a settings
page while `/alice/bert` is a repo.

The web UI never claims a protocol path: nothing under `/api/`, `/lfs/` or `/xet/`, nothing `parse_repo_path`
recognises (resolve, the LFS batch API), and no `{name}.git` segment (names ending in `.git` are invalid).
Other modules add pages with `@page(...)` and `@repo_page(...)` (repo pages exist for models at
`/{ns}/{name}/...` and for datasets at `/datasets/{ns}/{name}/...`).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openmodelhub.api.rawpath import decode_segment, parse_repo_path
from openmodelhub.protocol.names import NameError_, RepoType, validate_name_part
from openmodelhub.services.errors import BadRequest

Handler = Callable[..., Any]
PROTOCOL_PREFIXES = frozenset({"api", "lfs", "xet"})
_NAME_VARS = ("{ns}", "{name}")


@dataclass(frozen=True)
class WebRoute:
    pattern: tuple[str, ...]
    handler: Handler
    methods: frozenset[str]
    # POSTs to this page need a signed-in user; checked before the body is read.
    auth: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)
    # No session, no cookie, no CSRF (static files: cacheable, the same for everyone).
    bare: bool = False

    @property
    def specificity(self) -> int:
        return sum(1 for p in self.pattern if not p.startswith("{"))

    def match(self, segs: list[str]) -> dict[str, Any] | None:
        params: dict[str, Any] = dict(self.defaults)
        for i, part in enumerate(self.pattern):
            if part.startswith("{*"):
                params[part[2:-1]] = "/".join(segs[i:])
                return params
            if i >= len(segs):
                return None
            seg = segs[i]
            if part.startswith("{"):
                if part in _NAME_VARS:
                    try:
                        validate_name_part(seg)
                    except NameError_:
                        return None
                elif not seg:
                    return None
                params[part[1:-1]] = seg
            elif part != seg:
                return None
        return params if len(segs) == len(self.pattern) else None


@dataclass(frozen=True)
class Match:
    route: WebRoute
    params: dict[str, Any]


ROUTES: list[WebRoute] = []


def _add(route: WebRoute) -> None:
    ROUTES.append(route)
    ROUTES.sort(key=lambda r: -r.specificity)  # stable: same specificity keeps registration order


def page(
    path: str, *, methods: tuple[str, ...] = ("GET",), auth: bool = False, bare: bool = False
) -> Callable[[Handler], Handler]:
    """Register a page at `path` ("/", "/login", "/settings/{*rest}", ...)."""

    def register(handler: Handler) -> Handler:
        pattern = tuple(p for p in path.strip("/").split("/") if p)
        _add(WebRoute(pattern, handler, frozenset(methods), auth, bare=bare))
        return handler

    return register


def repo_page(
    suffix: str = "", *, methods: tuple[str, ...] = ("GET",), auth: bool = False
) -> Callable[[Handler], Handler]:
    """Register a repo page (`suffix` like "tree/{rev}/{*path}") for models and datasets; the handler gets
    `repo_type`, `ns` and `name` besides the suffix's variables."""

    def register(handler: Handler) -> Handler:
        tail = tuple(p for p in suffix.strip("/").split("/") if p)
        for prefix, repo_type in (("datasets",), RepoType.DATASET), ((), RepoType.MODEL):
            pattern = (*prefix, "{ns}", "{name}", *tail)
            _add(WebRoute(pattern, handler, frozenset(methods), auth, {"repo_type": repo_type}))
        return handler

    return register


def split_raw_path(raw_path: bytes) -> list[str] | None:
    """Decoded segments of a raw path ('' for the root); None when a segment is not valid UTF-8."""
    text = raw_path.decode("latin-1")
    segs = text.split("/")[1:]
    if segs and segs[-1] == "" and len(segs) > 1:
        segs = segs[:-1]  # a trailing slash names the same page
    if segs == [""]:
        segs = []
    try:
        return [decode_segment(s) for s in segs]
    except BadRequest:
        return None


def match(method: str, raw_path: bytes) -> Match | None:
    """The page for a request, or None when the web UI does not serve this path (or this method there)."""
    try:
        if parse_repo_path(raw_path) is not None:
            return None
    except BadRequest:  # a protocol path with a bad segment: the API answers it
        return None
    segs = split_raw_path(raw_path)
    if segs is None or (segs and segs[0] in PROTOCOL_PREFIXES):
        return None
    method = "GET" if method == "HEAD" else method
    for route in ROUTES:
        params = route.match(segs)
        if params is not None and method in route.methods:
            return Match(route, params)
    return None
