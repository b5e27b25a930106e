"""Static files (CSS, JS, icons) served by the hub itself, under content-hashed URLs.

`/-/static/<hash>/<name>`: the hash is the first 12 hex digits of the file's sha256, read once at start-up,
so a URL names one version forever and is cached for a year (`immutable`). A request with an old hash
still gets the current file, but uncached. `-` cannot start a user or org name, so these URLs never
collide with a repo page. No CDN, no build step.
"""

import hashlib
from dataclasses import dataclass
from importlib import resources

from starlette.responses import Response

PREFIX = "/-/static"
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    name: str
    data: bytes
    digest: str
    media_type: str


def _load() -> dict[str, Asset]:
    out = {}
    folder = resources.files("openmodelhub.web").joinpath("static")
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1] if "." in item.name else ""
        if not item.is_file() or suffix not in TYPES:
            continue
        data = item.read_bytes()
        out[item.name] = Asset(item.name, data, hashlib.sha256(data).hexdigest()[:12], TYPES[suffix])
    return out


ASSETS = _load()


def url(name: str) -> str:
    """The versioned URL of a static file (KeyError for a file that does not exist: a template bug)."""
    return f"{PREFIX}/{ASSETS[name].digest}/{name}"


def response(digest: str, name: str) -> Response | None:
    asset = ASSETS.get(name)
    if asset is None:
        return None
    cache = IMMUTABLE if digest == asset.digest else "no-cache"
    return Response(
        asset.data,
        media_type=asset.media_type,
        headers={"Cache-Control": cache, "ETag": f'"{asset.digest}"', "X-Content-Type-Options": "nosniff"},
    )
