"""Static files under content-hashed URLs (web/assets.py)."""

from starlette.responses import Response

from openmodelhub.web import assets
from openmodelhub.web.routes import page


@page("/-/static/{digest}/{name}", bare=True)
def static_file(digest: str, name: str) -> Response:
    found = assets.response(digest, name)
    if found is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    return found


@page("/favicon.ico", bare=True)
def favicon() -> Response:
    asset = assets.ASSETS["favicon.svg"]
    return Response(
        asset.data, media_type=asset.media_type, headers={"Cache-Control": "public, max-age=86400"}
    )
