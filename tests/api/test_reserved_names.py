"""Accounts cannot take the names of the hub's own paths (protocol/names.py RESERVED_NAMES), whichever way
they are made: registration (API and web sign-up), organization creation, and `omh user create`."""

import uuid

import httpx

from tests.conftest import Accounts
from tests.support.server import HubServer

RESERVED = ("models", "Datasets", "API", "settings", "organizations", "login", "xet")


def _refused(r: httpx.Response, name: str) -> None:
    assert r.status_code == 409, (name, r.status_code, r.text)
    assert r.headers["X-Error-Code"] == "Conflict"
    assert "reserved" in r.json()["error"] and name in r.json()["error"]


def test_registration_and_org_creation_refuse_reserved_names(hub: HubServer, accounts: Accounts) -> None:
    admin = httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {accounts.admin}"}, timeout=60)
    with admin:
        for name in RESERVED:
            _refused(admin.post("/api/users", json={"username": name, "password": "long enough"}), name)
            _refused(admin.post("/api/organizations/create", json={"name": name}), name)
            # Nothing was half-made: the name is no user, no organization.
            assert admin.get(f"/api/users/{name}/overview").status_code == 404
            assert admin.get(f"/api/organizations/{name}/overview").status_code == 404
        # A name that only contains a reserved word is fine.
        free = f"models-{uuid.uuid4().hex[:6]}"
        assert admin.post("/api/users", json={"username": free, "password": "long enough"}).status_code == 200
        assert admin.post("/api/organizations/create", json={"name": f"{free}-org"}).status_code == 200


def test_web_sign_up_refuses_reserved_names(fresh_hub: HubServer) -> None:
    from tests.web.support import WebClient

    fresh_hub.env["OMH_REGISTRATION"] = "open"
    fresh_hub.start()
    web = WebClient(fresh_hub)
    try:
        form = {"username": "Settings", "password": "long enough", "password2": "long enough"}
        answer = web.submit("/join", "/join", form)
        assert answer.status_code == 409 and answer.headers["X-Error-Code"] == "Conflict"
        assert "reserved" in answer.text
        assert web.session is None or web.whoami() is None
    finally:
        web.close()


def test_cli_user_create_refuses_reserved_names(hub: HubServer) -> None:
    for name in ("admin", "Models", "new"):
        result = hub.cli("user", "create", name, check=False)
        assert result.returncode == 1, (name, result.stdout, result.stderr)
        assert "reserved" in result.stderr and name in result.stderr
    assert httpx.get(f"{hub.url}/api/users/admin/overview").status_code == 404
