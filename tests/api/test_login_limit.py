"""Password checks through the API (`POST /api/tokens` with `username` + `password`) are limited like web
sign-ins, in the same database rows (services/sessions.py): failures through one count for the other, per
user name and address and per address, and an over-the-limit answer is a 429 with `Retry-After`."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from openmodelhub.services.sessions import MAX_FAILURES_PER_IP, MAX_FAILURES_PER_USER_IP
from tests.support.server import HubServer
from tests.web.support import PASSWORD, WebClient, unique


@pytest.fixture(scope="module")
def open_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    server = HubServer(tmp_path_factory.mktemp("limit") / "data", env={"OMH_REGISTRATION": "open"}).start()
    yield server
    server.stop()


def _signed_up(hub: HubServer) -> str:
    name = unique("limit")
    web = WebClient(hub)
    try:
        web.sign_up(name)
    finally:
        web.close()
    return name


def _api_token(hub: HubServer, name: str, password: str) -> httpx.Response:
    body = {"username": name, "password": password, "role": "read"}
    return httpx.post(f"{hub.url}/api/tokens", json=body, timeout=60)


def _web_sign_in(hub: HubServer, name: str, password: str) -> httpx.Response:
    web = WebClient(hub)
    try:
        return web.sign_in(name, password)
    finally:
        web.close()


def _limited(r: httpx.Response) -> None:
    assert r.status_code == 429, (r.status_code, r.text[:300])
    assert r.headers["X-Error-Code"] == "TooManyRequests"
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins" in r.text


def test_api_password_failures_limit_the_api_and_the_web_sign_in(open_hub: HubServer) -> None:
    name = _signed_up(open_hub)
    assert _api_token(open_hub, name, PASSWORD).status_code == 200  # works, and resets nothing it shouldn't
    for _ in range(MAX_FAILURES_PER_USER_IP):
        wrong = _api_token(open_hub, name, "not the password")
        assert wrong.status_code == 401 and wrong.headers["X-Error-Code"] == "InvalidCredentials"
    _limited(_api_token(open_hub, name, PASSWORD))  # even the right password waits now
    _limited(_api_token(open_hub, name, "not the password"))
    _limited(_web_sign_in(open_hub, name, PASSWORD))
    # Another account from the same address is not affected (the per-user limit).
    other = _signed_up(open_hub)
    assert _api_token(open_hub, other, PASSWORD).status_code == 200
    assert _web_sign_in(open_hub, other, PASSWORD).status_code == 303


def test_web_sign_in_failures_limit_the_api(open_hub: HubServer) -> None:
    name = _signed_up(open_hub)
    for _ in range(MAX_FAILURES_PER_USER_IP):
        assert _web_sign_in(open_hub, name, "not the password").status_code == 401
    _limited(_web_sign_in(open_hub, name, PASSWORD))
    _limited(_api_token(open_hub, name, PASSWORD))


def test_failures_across_many_names_limit_the_address(tmp_path: Path) -> None:
    hub = HubServer(tmp_path / "data", env={"OMH_REGISTRATION": "open"}).start()
    try:
        name = _signed_up(hub)
        for n in range(MAX_FAILURES_PER_IP):
            # Guessing through many user names (and a mix of both ways in) counts against the address.
            if n % 2:
                assert _api_token(hub, f"guess{n}", "password123").status_code == 401
            else:
                assert _web_sign_in(hub, f"guess{n}", "password123").status_code == 401
        _limited(_api_token(hub, name, PASSWORD))
        _limited(_web_sign_in(hub, name, PASSWORD))
    finally:
        hub.stop()
