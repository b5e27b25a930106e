"""Repo settings, gating and access requests in the web UI, read as HTML over HTTP and checked against what
the stock huggingface_hub client and the API see afterwards: visibility, gating, rename, delete with a typed
confirmation, the gate form on a gated repo's page, and accepting or rejecting requests from the browser."""

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import GatedRepoError

from tests.support.server import HubServer
from tests.web.support import Member, WebClient, gated_card, unique

pytestmark = pytest.mark.filterwarnings("ignore:Warnings while validating metadata")


@pytest.fixture
def owner(web_hub: HubServer) -> Iterator[Member]:
    u = Member(web_hub, "setowner")
    yield u
    u.close()


@pytest.fixture
def stranger(web_hub: HubServer) -> Iterator[Member]:
    u = Member(web_hub, "setstranger")
    yield u
    u.close()


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _settings(web: WebClient, repo_id: str, data: dict[str, str]) -> httpx.Response:
    page = f"/{repo_id}/settings"
    return web.submit(page, page, data)


def _download(hub: HubServer, repo_id: str, token: str | None, cache: Path) -> bytes:
    path = hf_hub_download(repo_id, "weights.bin", endpoint=hub.url, token=token or False, cache_dir=cache)
    return Path(path).read_bytes()


WEIGHTS = b"\x00gated weights\x01" * 64


def test_visibility_switch_hides_the_repo_from_anonymous_callers(
    web_hub: HubServer, owner: Member, stranger: Member
) -> None:
    repo_id = f"{owner.name}/{unique('vis')}"
    owner.hf.create_repo(repo_id)
    page = owner.web.get(f"/{repo_id}/settings")
    assert page.status_code == 200
    assert f'href="/{repo_id}/settings" aria-current="page"' in page.text
    assert re.search(r'name="visibility" value="public" checked', page.text)

    made = _settings(owner.web, repo_id, {"action": "visibility", "visibility": "private"})
    assert made.status_code == 303 and made.headers["location"] == f"/{repo_id}/settings?done=visibility"
    assert "Visibility saved." in owner.web.get(made.headers["location"]).text
    assert owner.hf.model_info(repo_id).private is True
    info = httpx.get(f"{web_hub.url}/api/models/{repo_id}")
    assert info.status_code == 404 and info.headers["X-Error-Code"] == "RepoNotFound"
    assert httpx.get(f"{web_hub.url}/{repo_id}").status_code == 404
    # Outsiders get the same 404 on the settings page; anonymous visitors are sent to sign in first.
    hidden = stranger.web.get(f"/{repo_id}/settings")
    assert hidden.status_code == 404 and hidden.headers["X-Error-Code"] == "RepoNotFound"
    anonymous = httpx.get(f"{web_hub.url}/{repo_id}/settings")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")

    bad = _settings(owner.web, repo_id, {"action": "visibility", "visibility": "secret"})
    assert bad.status_code == 400 and "Choose public or private" in bad.text
    assert owner.hf.model_info(repo_id).private is True

    assert _settings(owner.web, repo_id, {"action": "visibility", "visibility": "public"}).status_code == 303
    assert owner.hf.model_info(repo_id).private is False
    assert httpx.get(f"{web_hub.url}/api/models/{repo_id}").status_code == 200
    assert httpx.get(f"{web_hub.url}/{repo_id}").status_code == 200


def test_gating_on_makes_downloads_a_gated_repo_error(
    web_hub: HubServer, owner: Member, stranger: Member, tmp_path: Path
) -> None:
    repo_id = f"{owner.name}/{unique('gate')}"
    owner.hf.create_repo(repo_id)
    owner.hf.upload_file(path_or_fileobj=WEIGHTS, path_in_repo="weights.bin", repo_id=repo_id)
    assert _download(web_hub, repo_id, stranger.read_token, tmp_path / "before") == WEIGHTS

    done = _settings(owner.web, repo_id, {"action": "gating", "gated": "manual"})
    assert done.status_code == 303, done.text[:1000]
    assert owner.hf.model_info(repo_id).gated == "manual"
    with pytest.raises(GatedRepoError) as refused:
        _download(web_hub, repo_id, stranger.read_token, tmp_path / "stranger")
    assert refused.value.response.status_code == 403
    with pytest.raises(GatedRepoError) as anonymous:
        _download(web_hub, repo_id, None, tmp_path / "anonymous")
    assert anonymous.value.response.status_code == 401
    assert _download(web_hub, repo_id, owner.token, tmp_path / "owner") == WEIGHTS

    unknown = _settings(owner.web, repo_id, {"action": "gating", "gated": "sometimes"})
    assert unknown.status_code == 400 and "Choose off, manual or automatic" in unknown.text
    assert owner.hf.model_info(repo_id).gated == "manual"

    assert _settings(owner.web, repo_id, {"action": "gating", "gated": "off"}).status_code == 303
    assert owner.hf.model_info(repo_id).gated is False
    assert _download(web_hub, repo_id, stranger.read_token, tmp_path / "after") == WEIGHTS


def test_delete_needs_the_repo_id_typed_exactly(web_hub: HubServer, owner: Member) -> None:
    repo_id = f"{owner.name}/{unique('del')}"
    owner.hf.create_repo(repo_id)
    for typed in ("", repo_id.upper(), repo_id.split("/")[1], f"{repo_id}x"):
        kept = _settings(owner.web, repo_id, {"action": "delete", "confirm": typed})
        assert kept.status_code == 400 and kept.headers["X-Error-Code"] == "BadRequest", typed
        assert "nothing was deleted" in _text(kept.text)
        assert f'value="{typed}"' in kept.text  # the form is shown again with what was typed
        assert 'name="visibility" value="public" checked' in kept.text  # the other forms are intact
        assert f'name="new_id" type="text" required value="{repo_id}"' in kept.text
        assert owner.hf.repo_exists(repo_id)
    gone = _settings(owner.web, repo_id, {"action": "delete", "confirm": f" {repo_id} "})
    assert gone.status_code == 303 and gone.headers["location"] == f"/{owner.name}"
    assert not owner.hf.repo_exists(repo_id)
    assert owner.web.get(f"/{repo_id}/settings").status_code == 404


def test_rename_and_move(web_hub: HubServer, owner: Member, stranger: Member) -> None:
    repo_id = f"{owner.name}/{unique('old')}"
    owner.hf.create_repo(repo_id)
    new_name = unique("renamed")
    moved = _settings(owner.web, repo_id, {"action": "move", "new_id": new_name})  # a bare name
    new_id = f"{owner.name}/{new_name}"
    assert moved.status_code == 303 and moved.headers["location"] == f"/{new_id}/settings?done=move"
    assert owner.hf.repo_exists(new_id) and not owner.hf.repo_exists(repo_id)
    same = _settings(owner.web, new_id, {"action": "move", "new_id": new_id})
    assert same.status_code == 400 and "already this repo's id" in unescape(same.text)
    other = f"{owner.name}/{unique('taken')}"
    owner.hf.create_repo(other)
    taken = _settings(owner.web, new_id, {"action": "move", "new_id": other})
    assert taken.status_code == 409 and taken.headers["X-Error-Code"] == "RepoExists"
    foreign = _settings(owner.web, new_id, {"action": "move", "new_id": f"{stranger.name}/stolen"})
    assert foreign.status_code == 403 and 'role="alert"' in foreign.text
    invalid = _settings(owner.web, new_id, {"action": "move", "new_id": "a/b/c"})
    assert invalid.status_code == 400
    assert owner.hf.repo_exists(new_id) and not stranger.hf.repo_exists(f"{stranger.name}/stolen")


def test_a_writer_of_the_org_cannot_reach_the_settings(
    web_hub: HubServer, owner: Member, stranger: Member
) -> None:
    org = unique("setorg")
    auth = {"Authorization": f"Bearer {owner.token}"}
    made = httpx.post(f"{web_hub.url}/api/organizations/create", json={"name": org}, headers=auth)
    assert made.status_code == 200, made.text
    writer = Member(web_hub, "setwriter")
    added = httpx.put(
        f"{web_hub.url}/api/organizations/{org}/members/{writer.name}", json={"role": "write"}, headers=auth
    )
    assert added.status_code == 200, added.text
    repo_id = f"{org}/{unique('orgrepo')}"
    owner.hf.create_repo(repo_id, private=True)
    owner.hf.update_repo_settings(repo_id, gated="manual")
    try:
        assert 'aria-current="page">Settings<' in owner.web.get(f"/{repo_id}/settings").text
        page = writer.web.get(f"/{repo_id}")
        assert page.status_code == 200
        assert f'href="/{repo_id}/settings"' not in page.text
        assert f'href="/{repo_id}/access-requests"' in page.text  # writers handle access requests
        refused = writer.web.get(f"/{repo_id}/settings")
        assert refused.status_code == 403 and refused.headers["X-Error-Code"] == "Forbidden"
        # The API says the same to the same user's write token.
        api_answer = httpx.put(
            f"{web_hub.url}/api/models/{repo_id}/settings",
            json={"private": False},
            headers={"Authorization": f"Bearer {writer.token}"},
        )
        assert api_answer.status_code == 403
        token = writer.web.csrf(f"/{repo_id}")
        for data in (
            {"action": "delete", "confirm": repo_id},
            {"action": "visibility", "visibility": "public"},
            {"action": "gating", "gated": "off"},
        ):
            sent = writer.web.http.post(f"/{repo_id}/settings", data={"csrf_token": token, **data})
            assert sent.status_code == 403, data
        info = owner.hf.model_info(repo_id)
        assert info.private is True and info.gated == "manual"
        assert writer.web.get(f"/{repo_id}/access-requests").status_code == 200
        # A signed-in outsider: the private repo does not exist, on every page.
        for path in ("settings", "access-requests"):
            hidden = stranger.web.get(f"/{repo_id}/{path}")
            assert hidden.status_code == 404 and hidden.headers["X-Error-Code"] == "RepoNotFound", path
    finally:
        writer.close()


GATED_CARD = gated_card("You agree to **not** use this model to cause harm.", "Gated tiny model")


def _gated_repo(owner: Member, mode: str) -> str:
    repo_id = f"{owner.name}/{unique('gated')}"
    owner.hf.create_repo(repo_id)
    owner.hf.upload_file(path_or_fileobj=GATED_CARD.encode(), path_in_repo="README.md", repo_id=repo_id)
    owner.hf.upload_file(path_or_fileobj=WEIGHTS, path_in_repo="weights.bin", repo_id=repo_id)
    assert _settings(owner.web, repo_id, {"action": "gating", "gated": mode}).status_code == 303
    return repo_id


ANSWERS = {
    "field-0": "Acme Labs",
    "field-1": "Norway",
    "field-2": "2025-03-01",
    "field-3": "commercial",
    "field-4": "on",
}


def _pending(owner: Member, repo_id: str) -> dict[str, dict[str, object]]:
    return {r.username or "": r.fields or {} for r in owner.hf.list_pending_access_requests(repo_id)}


def _request_id(html: str, user: str) -> str:
    item = re.search(rf'id="request-([0-9a-f]+)">\s*<p class="request-who"><a href="/{user}"', html)
    assert item, f"no request of {user} on the page"
    return item.group(1)


def test_gate_form_and_access_requests_decide_what_the_client_downloads(
    web_hub: HubServer, owner: Member, stranger: Member, tmp_path: Path
) -> None:
    repo_id = _gated_repo(owner, "manual")
    # Anonymous visitors see the terms and a way to sign in, not the form.
    anonymous = httpx.get(f"{web_hub.url}/{repo_id}").text
    assert "You need to agree to share your contact information to access this model" in anonymous
    assert "<strong>not</strong>" in anonymous  # the prompt is Markdown
    assert f'<a href="/{repo_id}/blob/main/LICENSE.md">tiny-community-license</a>' in anonymous
    assert f'href="/login?next=%2F{repo_id.replace("/", "%2F")}"' in anonymous
    assert 'name="field-0"' not in anonymous
    # Signed in: the form with a labelled input per field.
    page = stranger.web.get(f"/{repo_id}").text
    for label, kind in (("Company", "text"), ("Country", "text"), ("Start date", "date")):
        assert re.search(
            rf'<label for="(gate-field-\d)">{label}</label>\s*<input type="{kind}" id="\1"', page
        )
    assert '<option value="commercial">Commercial product</option>' in page
    assert re.search(
        r'<input type="checkbox" id="gate-field-4" name="field-4" value="on" required> I accept', page
    )

    # An unchecked box: refused on the form, nothing recorded.
    missing = {k: v for k, v in ANSWERS.items() if k != "field-4"}
    refused = stranger.web.submit(f"/{repo_id}", f"/{repo_id}/gate", missing)
    assert refused.status_code == 400 and refused.headers["X-Error-Code"] == "BadRequest"
    assert "the box 'I accept the license' must be checked" in unescape(refused.text)
    assert 'value="Acme Labs"' in refused.text and '<option value="commercial" selected>' in refused.text
    off_list = {**ANSWERS, "field-3": "military"}
    assert stranger.web.submit(f"/{repo_id}", f"/{repo_id}/gate", off_list).status_code == 400
    assert _pending(owner, repo_id) == {}

    sent = stranger.web.submit(f"/{repo_id}", f"/{repo_id}/gate", ANSWERS)
    assert sent.status_code == 303 and sent.headers["location"] == f"/{repo_id}"
    assert "Your request is pending" in stranger.web.get(f"/{repo_id}").text
    assert _pending(owner, repo_id) == {
        stranger.name: {
            "Company": "Acme Labs",
            "Country": "Norway",
            "Start date": "2025-03-01",
            "Intended use": "commercial",
            "I accept the license": True,
        }
    }
    with pytest.raises(GatedRepoError):
        _download(web_hub, repo_id, stranger.read_token, tmp_path / "pending")

    # The owner's requests page: who, when, the answers; accept.
    requests_page = f"/{repo_id}/access-requests"
    listing = owner.web.get(requests_page).text
    shown = _text(listing)
    assert f"{stranger.name}" in shown and "Acme Labs" in shown and "Intended use commercial" in shown
    assert "No accepted requests." in shown and "No rejected requests." in shown
    rid = _request_id(listing, stranger.name)
    accepted = owner.web.submit(requests_page, requests_page, {"action": "accepted", "request_id": rid})
    assert accepted.status_code == 303
    assert "Request accepted" in owner.web.get(accepted.headers["location"]).text
    assert [r.username for r in owner.hf.list_accepted_access_requests(repo_id)] == [stranger.name]
    assert _download(web_hub, repo_id, stranger.read_token, tmp_path / "accepted") == WEIGHTS
    assert "You have been granted access" in stranger.web.get(f"/{repo_id}").text

    # Reject (with a reason): the client is refused again.
    rejected = owner.web.submit(
        requests_page, requests_page, {"action": "rejected", "request_id": rid, "reason": "Not now"}
    )
    assert rejected.status_code == 303
    [row] = owner.hf.list_rejected_access_requests(repo_id)
    assert row.username == stranger.name
    with pytest.raises(GatedRepoError) as again:
        _download(web_hub, repo_id, stranger.read_token, tmp_path / "rejected")
    assert "rejected" in str(again.value)
    assert "has been rejected" in stranger.web.get(f"/{repo_id}").text
    # Handling a request twice is the API's 404, shown on the page.
    twice = owner.web.submit(requests_page, requests_page, {"action": "rejected", "request_id": rid})
    assert twice.status_code == 404 and "already rejected" in twice.text

    # Grant by name: a user who never asked.
    third = Member(web_hub, "setthird")
    try:
        granted = owner.web.submit(requests_page, requests_page, {"action": "grant", "user": third.name})
        assert granted.status_code == 303
        assert third.name in [r.username for r in owner.hf.list_accepted_access_requests(repo_id)]
        assert _download(web_hub, repo_id, third.read_token, tmp_path / "third") == WEIGHTS
        nobody = owner.web.submit(requests_page, requests_page, {"action": "grant", "user": unique("ghost")})
        assert nobody.status_code == 404 and "no user named" in nobody.text
        # Readers without write access cannot see or handle the requests.
        assert third.web.get(requests_page).status_code == 403
        token = third.web.csrf(f"/{repo_id}")
        forged = third.web.http.post(
            requests_page, data={"csrf_token": token, "action": "accepted", "request_id": rid}
        )
        assert forged.status_code == 403
        assert [r.username for r in owner.hf.list_rejected_access_requests(repo_id)] == [stranger.name]
    finally:
        third.close()
    # The owner sees a link to the requests instead of the form.
    owner_page = owner.web.get(f"/{repo_id}").text
    assert "Review access requests" in owner_page and 'name="field-0"' not in owner_page


def test_automatic_gating_grants_on_request(
    web_hub: HubServer, owner: Member, stranger: Member, tmp_path: Path
) -> None:
    repo_id = _gated_repo(owner, "auto")
    sent = stranger.web.submit(f"/{repo_id}", f"/{repo_id}/gate", ANSWERS)
    assert sent.status_code == 303
    assert "You have been granted access" in stranger.web.get(f"/{repo_id}").text
    assert _download(web_hub, repo_id, stranger.read_token, tmp_path / "auto") == WEIGHTS
    assert [r.username for r in owner.hf.list_accepted_access_requests(repo_id)] == [stranger.name]
    # Gating can be switched off from the requests page's repo too; a non-gated repo has no requests list.
    assert _settings(owner.web, repo_id, {"action": "gating", "gated": "off"}).status_code == 303
    assert "is not gated" in owner.web.get(f"/{repo_id}/access-requests").text
