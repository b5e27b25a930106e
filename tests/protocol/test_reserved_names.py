"""Names the hub keeps for its own paths (protocol/names.py RESERVED_NAMES): the list must follow the routes.

A user or organization named like a first path segment of the hub would have a page and repos whose URLs
collide with the hub's own pages; the web route table and the API's fixed routes are read here, so a page
added without reserving its first segment fails this test.
"""

from pathlib import Path

import pytest
from starlette.routing import Route

import openmodelhub.web.pages  # noqa: F401 - registers every page's route
from openmodelhub.api.app import create_app
from openmodelhub.protocol.names import RESERVED_NAMES, is_reserved_name, validate_name_part
from openmodelhub.services.container import Services
from openmodelhub.settings import Settings
from openmodelhub.web.routes import PROTOCOL_PREFIXES, ROUTES


def _first_literal(pattern: tuple[str, ...]) -> str | None:
    return pattern[0] if pattern and not pattern[0].startswith("{") else None


def test_every_first_segment_of_the_web_route_table_is_reserved() -> None:
    firsts = {seg for r in ROUTES if (seg := _first_literal(r.pattern)) is not None}
    assert {"login", "logout", "join", "models", "datasets", "new"} <= firsts  # the table was read
    missing = sorted(firsts - RESERVED_NAMES)
    assert not missing, f"reserve these first path segments in protocol/names.py RESERVED_NAMES: {missing}"
    assert PROTOCOL_PREFIXES <= RESERVED_NAMES


def test_every_first_segment_of_the_api_routes_is_reserved(tmp_path: Path) -> None:
    svc = Services.open(Settings(data_dir=tmp_path / "hub"))
    try:
        app = create_app(svc)
        paths = [r.path for r in app.router.routes if isinstance(r, Route)]
    finally:
        svc.close()
    firsts = {p.split("/")[1] for p in paths if not p.split("/")[1].startswith("{")}
    assert {"api", "lfs", "xet", "datasets"} <= firsts
    assert firsts <= RESERVED_NAMES, sorted(firsts - RESERVED_NAMES)


@pytest.mark.parametrize("name", ["models", "Models", "API", "settings", "Organizations", "LOGIN", "xet"])
def test_reserved_names_are_refused_in_any_case(name: str) -> None:
    assert is_reserved_name(name)


@pytest.mark.parametrize("name", ["alice", "models2", "my-datasets", "apis", "settings-team", "root"])
def test_names_that_only_look_like_hub_paths_are_free(name: str) -> None:
    validate_name_part(name)
    assert not is_reserved_name(name)
