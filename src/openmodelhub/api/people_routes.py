"""Accounts and access endpoints: whoami, registration and invites, organizations and members, tokens,
and gated-repo access requests (docs/accounts.md).

The access-request routes are the ones `huggingface_hub` calls (`/api/{type}s/{repo}/user-access-request/
...`); requesting access is `POST /api/{type}s/{repo}/ask-access` or the Hub's web path
`POST /{repo}/ask-access`. Handlers only translate HTTP to service calls: every decision is made in
services/auth.py, orgs.py and access.py.
"""

from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from openmodelhub.api.common import (
    JSON,
    decode_offset_cursor,
    encode_offset_cursor,
    next_link,
    principal,
    read_json,
    services,
)
from openmodelhub.api.rawpath import RepoPath, decode_segment
from openmodelhub.protocol.names import RepoType
from openmodelhub.protocol.timefmt import iso_z
from openmodelhub.services.access import RequestView
from openmodelhub.services.auth import Principal, Scope, TokenInfo, parse_scopes
from openmodelhub.services.errors import BadRequest, NotFound, Unauthorized
from openmodelhub.services.orgs import Overview

ACCESS_REQUEST_PAGE = 100
SCOPE_PERMISSIONS = {"read": ["repo.content.read"], "write": ["repo.content.read", "repo.write"]}


def _str(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{key}' must be a string")
    return value


# -- identity ------------------------------------------------------------------------------------------------
async def whoami(request: Request) -> Response:
    svc = services(request)
    who = await principal(request)
    if who is None:
        raise Unauthorized("Invalid user token: no token was sent")
    orgs = await run_in_threadpool(svc.orgs.memberships, who.user_id)
    token: dict[str, Any] = {
        "displayName": who.token_name,
        "role": who.role,
        "createdAt": iso_z(_parse_iso(who.token_created_at)),
    }
    if who.fine_grained:
        kinds = await run_in_threadpool(
            svc.orgs.namespace_kinds, [s.name for s in who.scopes if s.kind == "namespace"]
        )
        token["fineGrained"] = {"global": [], "scoped": [_scope_json(s, kinds) for s in who.scopes]}
    return JSON(
        {
            "type": "user",
            "id": f"{who.user_id:024x}",
            "name": who.name,
            "fullname": who.fullname or who.name,
            "email": who.email,
            "emailVerified": who.email is not None,
            "isPro": False,
            "canPay": False,
            "avatarUrl": "",
            "orgs": [
                {
                    "type": "org",
                    "id": f"{org.id:024x}",
                    "name": org.name,
                    "fullname": org.fullname,
                    "email": None,
                    "canPay": False,
                    "avatarUrl": "",
                    "roleInOrg": role,
                    "isEnterprise": False,
                }
                for org, role in orgs
            ],
            "auth": {"type": "access_token", "accessToken": token},
        }
    )


def _parse_iso(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


def _scope_json(scope: Scope, kinds: dict[str, str]) -> dict[str, Any]:
    """A scope as the Hub reports it in whoami: `{"entity": {"type", "name"}, "permissions": [...]}`."""
    entity_type = scope.repo_type if scope.kind == "repo" else kinds.get(scope.name, "user")
    return {
        "entity": {"type": entity_type, "name": scope.name},
        "permissions": SCOPE_PERMISSIONS[scope.permission],
    }


# -- accounts ------------------------------------------------------------------------------------------------
async def register(request: Request) -> Response:
    """POST /api/users {"username", "password", "email"?, "fullname"?, "invite"?}."""
    svc = services(request)
    who = await principal(request)
    body = await read_json(request)
    name = _str(body, "username") or _str(body, "name", required=True)
    assert name is not None
    user = await run_in_threadpool(
        lambda: svc.auth.register(
            who,
            name,
            password=_str(body, "password"),
            email=_str(body, "email"),
            fullname=_str(body, "fullname") or "",
            invite=_str(body, "invite"),
        )
    )
    return JSON({"type": "user", "name": user.name, "fullname": user.fullname, "email": user.email})


async def create_invite(request: Request) -> Response:
    """POST /api/invites {"days"?: int | null} (hub admins): a one-time registration code."""
    svc = services(request)
    who = await principal(request)
    body = await read_json(request, required=False)
    days = body.get("days", 7)
    if days is not None and (not isinstance(days, int) or isinstance(days, bool)):
        raise BadRequest("'days' must be an integer or null")
    if who is None:
        raise Unauthorized("You must be authenticated to create invite codes")
    code = await run_in_threadpool(lambda: svc.auth.create_invite(who, days=days))
    return JSON({"code": code, "days": days})


async def user_overview(request: Request) -> Response:
    svc = services(request)
    who = await principal(request)
    name = request.path_params["name"]
    ov = await run_in_threadpool(svc.orgs.overview, who, name)
    if ov.kind != "user":
        raise NotFound(f"no user named {name!r}")
    orgs = await run_in_threadpool(svc.orgs.memberships, ov.id)
    out = _overview_json(ov)
    out.update(
        {
            "user": ov.name,
            "orgs": [{"name": o.name, "fullname": o.fullname, "avatarUrl": ""} for o, _ in orgs],
        }
    )
    return JSON(out)


def _overview_json(ov: Overview) -> dict[str, Any]:
    return {
        "_id": f"{ov.id:024x}",
        "type": ov.kind,
        "name": ov.name,
        "fullname": ov.fullname,
        "avatarUrl": "",
        "numModels": ov.num_models,
        "numDatasets": ov.num_datasets,
        "numSpaces": 0,
        "createdAt": iso_z(ov.created_at),
    }


# -- organizations -------------------------------------------------------------------------------------------
async def create_org(request: Request) -> Response:
    """POST /api/organizations/create {"name", "fullname"?, "owner"? (hub admins)}."""
    svc = services(request)
    who = await principal(request)
    if who is None:
        raise Unauthorized("You must be authenticated to create an organization")
    body = await read_json(request)
    name = _str(body, "name", required=True)
    assert name is not None
    org = await run_in_threadpool(
        lambda: svc.orgs.create(who, name, owner=_str(body, "owner"), fullname=_str(body, "fullname") or "")
    )
    return JSON(
        {"type": "org", "name": org.name, "fullname": org.fullname, "createdAt": iso_z(org.created_at)}
    )


async def org_overview(request: Request) -> Response:
    svc = services(request)
    who = await principal(request)
    name = request.path_params["name"]
    ov = await run_in_threadpool(svc.orgs.overview, who, name)
    if ov.kind != "org":
        raise NotFound(f"no organization named {name!r}")
    out = _overview_json(ov)
    out.update({"numUsers": ov.num_members, "numFollowers": 0, "isVerified": False})
    return JSON(out)


async def org_members(request: Request) -> Response:
    svc = services(request)
    members = await run_in_threadpool(svc.orgs.members, request.path_params["name"])
    return JSON(
        [
            {"user": m.name, "fullname": m.fullname, "avatarUrl": "", "type": "user", "role": m.role}
            for m in members
        ]
    )


async def org_member(request: Request) -> Response:
    """PUT .../members/{user} {"role"}: add or change a member; DELETE: remove them (org admins)."""
    svc = services(request)
    who = await principal(request)
    if who is None:
        raise Unauthorized("You must be authenticated to manage members")
    org, user = request.path_params["name"], request.path_params["user"]
    if request.method == "DELETE":
        await run_in_threadpool(svc.orgs.remove_member, who, org, user)
        return JSON({"success": True})
    body = await read_json(request)
    role = _str(body, "role", required=True)
    assert role is not None
    m = await run_in_threadpool(svc.orgs.set_member, who, org, user, role)
    return JSON({"user": m.name, "fullname": m.fullname, "role": m.role})


# -- tokens --------------------------------------------------------------------------------------------------
async def _token_caller(request: Request, body: dict[str, Any]) -> Principal | None:
    """The caller, from the Authorization header or from `username` + `password` in the body. Password
    checks are throttled like web sign-ins (per user name and address, per address; services/sessions.py)."""
    if "password" in body:
        name, password = _str(body, "username", required=True), _str(body, "password", required=True)
        assert name is not None and password is not None
        ip = request.client.host if request.client is not None else "unknown"
        return await run_in_threadpool(services(request).sessions.password_principal, name, password, ip)
    return await principal(request)


def _token_json(t: TokenInfo) -> dict[str, Any]:
    return {
        "id": str(t.id),
        "user": t.user,
        "displayName": t.display_name,
        "role": t.role,
        "scopes": [str(s) for s in t.scopes],
        "createdAt": iso_z(t.created_at),
        "lastUsedAt": iso_z(t.last_used_at) if t.last_used_at else None,
    }


async def list_tokens(request: Request) -> Response:
    """GET /api/tokens[?user=NAME]: the caller's tokens (never their secrets)."""
    svc = services(request)
    who = await principal(request)
    owner = svc.auth.token_owner(who, request.query_params.get("user"), write=False)
    return JSON([_token_json(t) for t in await run_in_threadpool(svc.auth.list_tokens, owner)])


async def create_token(request: Request) -> Response:
    """POST /api/tokens {"displayName"?, "role": "read"|"write"|"fineGrained", "scopes"?, "user"?}.
    The secret is in the answer, once; only its hash is kept."""
    svc = services(request)
    body = await read_json(request)
    who = await _token_caller(request, body)
    owner = svc.auth.token_owner(who, _str(body, "user"), write=True)
    role = _str(body, "role") or "read"
    scopes = parse_scopes(body.get("scopes"))
    name = _str(body, "displayName")
    secret, info = await run_in_threadpool(
        lambda: svc.auth.issue_token(owner, role=role, display_name=name, scopes=scopes)
    )
    return JSON({**_token_json(info), "token": secret})


async def revoke_token(request: Request) -> Response:
    """DELETE /api/tokens/{id}[?user=NAME]."""
    svc = services(request)
    who = await principal(request)
    owner = svc.auth.token_owner(who, request.query_params.get("user"), write=True)
    token_id = request.path_params["token_id"]
    if not token_id.isdigit():
        raise BadRequest("a token is revoked by its numeric id (see GET /api/tokens)")
    info = await run_in_threadpool(svc.auth.revoke_token, owner, int(token_id))
    return JSON({"success": True, "revoked": _token_json(info)})


# -- gated access: the requester ---------------------------------------------------------------------------
async def _answers(request: Request) -> Any:
    """The form answers: a JSON object (`{"fields": {...}}` or the answers themselves), or a web form."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raw = (await request.body()).decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    body = await read_json(request, required=False)
    return body["fields"] if isinstance(body.get("fields"), dict) else body


def _request_json(v: RequestView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "user": {
            "user": v.username,
            "fullname": v.fullname,
            "email": v.email,
            "avatarUrl": "",
            "type": "user",
        },
        "requestId": v.request_id,
        "status": v.status,
        "timestamp": iso_z(v.timestamp),
    }
    if v.fields is not None:
        out["fields"] = v.fields
    if v.rejection_reason:
        out["rejectionReason"] = v.rejection_reason
    return out


async def _ask(request: Request, repo_type: RepoType, repo_id: str) -> Response:
    svc = services(request)
    who = await principal(request)
    answers = await _answers(request)
    view = await run_in_threadpool(svc.access.request_access, who, repo_type, repo_id, answers)
    return JSON({"status": view.status, "requestId": view.request_id})


async def ask_access(request: Request, p: RepoPath) -> Response:
    """POST /api/{type}s/{repo}/ask-access with the answers to the repo's access form."""
    return await _ask(request, p.repo_type, p.repo_id)


async def ask_access_web(request: Request) -> Response:
    """POST /[datasets/]{ns}/{name}/ask-access: the Hub's web path for the same request."""
    raw = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").split("/")[1:]
    repo_type = RepoType.DATASET if raw[0] == "datasets" else RepoType.MODEL
    ns, name = raw[-3], raw[-2]
    return await _ask(request, repo_type, f"{decode_segment(ns)}/{decode_segment(name)}")


async def gate_form(request: Request, p: RepoPath) -> Response:
    """GET /api/{type}s/{repo}/ask-access: the access form, and the caller's request status."""
    svc = services(request)
    who = await principal(request)
    form, status = await run_in_threadpool(svc.access.gate, who, p.repo_type, p.repo_id)
    return JSON(
        {
            "gated": form.mode or False,
            "heading": form.heading,
            "prompt": form.prompt,
            "description": form.description,
            "buttonContent": form.button,
            "fields": form.fields,
            "request": {"status": status} if status else None,
        }
    )


# -- gated access: the owners (huggingface_hub's access-request API) ----------------------------------------
async def list_access_requests(request: Request, p: RepoPath) -> Response:
    """GET .../user-access-request/{pending|accepted|rejected}, paginated."""
    svc = services(request)
    who = await principal(request)
    if len(p.args) != 1:
        raise BadRequest("use .../user-access-request/pending, /accepted or /rejected")
    offset = decode_offset_cursor(request.query_params.get("cursor"))
    views, more = await run_in_threadpool(
        svc.access.list_requests, who, p.repo_type, p.repo_id, p.args[0], offset, ACCESS_REQUEST_PAGE
    )
    headers = {"Link": next_link(request, encode_offset_cursor(offset + ACCESS_REQUEST_PAGE))} if more else {}
    return JSON([_request_json(v) for v in views], headers=headers)


async def manage_access_request(request: Request, p: RepoPath) -> Response:
    """POST .../user-access-request/handle {"user"|"requestId", "status", "rejectionReason"?} and
    POST .../user-access-request/grant {"user"}."""
    svc = services(request)
    who = await principal(request)
    body = await read_json(request)
    if p.args == ["grant"]:
        user = _str(body, "user", required=True)
        assert user is not None
        view = await run_in_threadpool(svc.access.grant, who, p.repo_type, p.repo_id, user)
        return JSON({"success": True, **_request_json(view)})
    if p.args != ["handle"]:
        raise BadRequest("use .../user-access-request/handle or .../user-access-request/grant")
    status = _str(body, "status", required=True)
    assert status is not None
    view = await run_in_threadpool(
        lambda: svc.access.handle(
            who,
            p.repo_type,
            p.repo_id,
            user=_str(body, "user"),
            request=_str(body, "requestId"),
            status=status,
            rejection_reason=_str(body, "rejectionReason"),
        )
    )
    return JSON({"success": True, **_request_json(view)})
