"""Discussions, pull requests and likes over HTTP, as `huggingface_hub` calls them (docs/collaboration.md).

Repo-scoped (routed by api/repo_routes.py's table, under /api/{type}s/{ns}/{name}/...):
  GET  discussions?type=&status=&author=&search=&p=     one page of 50, {"discussions", "count", "start"}
  POST discussions {"title", "description", "pullRequest"} -> {"num", ...}
  GET  discussions/{n}[?diff=1]                         details with events, changes, filesWithConflicts
  POST discussions/{n}/comment {"comment"}              -> {"newMessage": event}
  POST discussions/{n}/comment/{id}/edit {"content"}    -> {"updatedComment": event}
  POST discussions/{n}/comment/{id}/hide                -> {"updatedComment": event}
  POST discussions/{n}/title {"title"}                  -> {"newTitle": event}
  POST discussions/{n}/status {"status", "comment"?}    -> {"newStatus": event}
  POST discussions/{n}/merge {"comment"?}               -> {"newStatus": event, "mergeCommitId"}
  POST / DELETE like;  GET likers (paginated)
Top-level: GET /api/users/{name}/likes (paginated).
"""

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from openmodelhub.api.common import (
    JSON,
    decode_offset_cursor,
    encode_offset_cursor,
    next_link,
    principal,
    query_bool,
    read_json,
    repo_url,
    services,
)
from openmodelhub.api.rawpath import RepoPath
from openmodelhub.protocol.timefmt import iso_z
from openmodelhub.services.discussions import (
    PAGE_SIZE,
    DiscussionView,
    EventView,
    comment_view,
)
from openmodelhub.services.errors import BadRequest, NotFound

LIKES_PAGE = 100


def _author(name: str | None) -> dict[str, Any]:
    # A deleted user has no author object; the client then shows "deleted".
    if name is None:
        return {}
    return {"author": {"name": name, "fullname": name, "avatarUrl": None, "type": "user", "isPro": False}}


def event_json(e: EventView) -> dict[str, Any]:
    """An event as `huggingface_hub.community.deserialize_event` reads it."""
    data: dict[str, Any]
    if e.type == "comment":
        c = comment_view(e)
        data = {
            "edited": c.edited,
            "hidden": c.hidden,
            "latest": {
                "raw": c.raw,
                "html": c.html,
                "updatedAt": iso_z(c.updated_at),
                **_author(c.editor),
            },
            "numEdits": len(c.history) - 1,
            "editors": list(dict.fromkeys(h["author"] for h in c.history if h["author"])),
            "history": [
                {"raw": h["raw"], "updatedAt": iso_z(h["updatedAt"]), **_author(h["author"])}
                for h in c.history
            ],
            "reactions": [],
            "isReport": False,
        }
        if c.hidden_by:
            data["hiddenBy"] = c.hidden_by
    else:
        data = dict(e.data)
    return {"id": e.id, "type": e.type, "createdAt": iso_z(e.created_at), **_author(e.author), "data": data}


def discussion_json(request: Request, d: DiscussionView) -> dict[str, Any]:
    """A discussion as listed (`huggingface_hub.Discussion`)."""
    url = repo_url(request, d.repo_type, d.repo_id)
    out: dict[str, Any] = {
        "num": d.num,
        "title": d.title,
        "status": d.status,
        "isPullRequest": d.is_pull_request,
        "createdAt": iso_z(d.created_at),
        **_author(d.author),
        "repo": {"name": d.repo_id, "type": d.repo_type},
        "numComments": d.num_comments,
        "pinned": False,
        "topReactions": [],
        "url": f"{url}/discussions/{d.num}",
    }
    if d.is_pull_request:
        out["ref"] = f"refs/pr/{d.num}"
    return out


def details_json(request: Request, d: DiscussionView) -> dict[str, Any]:
    """A discussion with its events (`huggingface_hub.DiscussionWithDetails`)."""
    out = discussion_json(request, d)
    out["events"] = [event_json(e) for e in d.events]
    if d.is_pull_request:
        changes: dict[str, Any] = {"base": d.target_branch}
        if d.head is not None:
            changes["headCommitId"] = d.head
        if d.merge_commit is not None:
            changes["mergeCommitId"] = d.merge_commit
        out["changes"] = changes
        out["filesWithConflicts"] = d.conflicts or []
        if d.diff is not None:
            out["diff"] = d.diff
    return out


async def _repo(request: Request, p: RepoPath) -> Any:
    who = await principal(request)
    return who, await run_in_threadpool(services(request).repos.get_readable, who, p.repo_type, p.repo_id)


def _num(text: str) -> int:
    if not text.isdigit() or not (0 < int(text) < 1 << 31):
        raise NotFound(f"no discussion {text!r}: discussion numbers are positive integers")
    return int(text)


async def get(request: Request, p: RepoPath) -> Response:
    """GET .../discussions (a page) and GET .../discussions/{n} (details)."""
    svc = services(request)
    who, repo = await _repo(request, p)
    if len(p.args) == 1:
        num = _num(p.args[0])
        view = await run_in_threadpool(
            lambda: svc.discussions.get(who, repo, num, diff=query_bool(request, "diff"))
        )
        return JSON(details_json(request, view))
    if p.args:
        raise NotFound(f"No route for GET .../discussions/{'/'.join(p.args)}")
    qp = request.query_params
    try:
        page = int(qp.get("p", "0"))
    except ValueError:
        raise BadRequest("'p' must be a page number") from None
    views, total = await run_in_threadpool(
        lambda: svc.discussions.list_discussions(
            who,
            repo,
            kind=qp.get("type", "all"),
            status=qp.get("status", "all"),
            author=qp.get("author") or None,
            search=qp.get("search") or None,
            page=page,
        )
    )
    return JSON(
        {
            "discussions": [discussion_json(request, v) for v in views],
            "count": total,
            "start": page * PAGE_SIZE,
            "numClosedDiscussions": None,
        }
    )


async def post(request: Request, p: RepoPath) -> Response:
    """POST .../discussions (open one), and the actions on one: comment, title, status, merge, edits."""
    svc = services(request)
    who, repo = await _repo(request, p)
    d = svc.discussions
    if not p.args:
        body = await read_json(request)
        pull_request = body.get("pullRequest", False)
        if not isinstance(pull_request, bool):
            raise BadRequest("'pullRequest' must be true or false")
        view = await run_in_threadpool(
            d.create, who, repo, body.get("title"), body.get("description"), pull_request
        )
        return JSON(discussion_json(request, view))
    num = _num(p.args[0])
    action = p.args[1:]
    if action == ["comment"]:
        body = await read_json(request)
        event = await run_in_threadpool(d.comment, who, repo, num, body.get("comment"))
        return JSON({"newMessage": event_json(event)})
    if len(action) == 3 and action[0] == "comment" and action[2] in ("edit", "hide"):
        if action[2] == "edit":
            body = await read_json(request)
            event = await run_in_threadpool(d.edit_comment, who, repo, num, action[1], body.get("content"))
        else:
            event = await run_in_threadpool(d.hide_comment, who, repo, num, action[1])
        return JSON({"updatedComment": event_json(event)})
    if action == ["title"]:
        body = await read_json(request)
        event = await run_in_threadpool(d.rename, who, repo, num, body.get("title"))
        return JSON({"newTitle": event_json(event)})
    if action == ["status"]:
        body = await read_json(request)
        status, comment = body.get("status"), body.get("comment")
        event = await run_in_threadpool(d.change_status, who, repo, num, status, comment)
        return JSON({"newStatus": event_json(event)})
    if action == ["merge"]:
        body = await read_json(request, required=False)
        outcome = await run_in_threadpool(svc.merges.merge, who, repo, num, body.get("comment"))
        return JSON({"newStatus": event_json(outcome.event), "mergeCommitId": outcome.commit})
    raise NotFound(f"No route for POST .../discussions/{'/'.join(p.args)}")


# -- likes ---------------------------------------------------------------------------------------------------
async def like(request: Request, p: RepoPath) -> Response:
    """POST / DELETE .../like: like a repo, or take the like back (both idempotent)."""
    svc = services(request)
    who, repo = await _repo(request, p)
    if p.args:
        raise NotFound(f"No route for {request.method} .../like/{'/'.join(p.args)}")
    if request.method == "DELETE":
        changed = await run_in_threadpool(svc.social.unlike, who, repo)
    else:
        changed = await run_in_threadpool(svc.social.like, who, repo)
    return JSON({"success": True, "changed": changed})


async def likers(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    who, repo = await _repo(request, p)
    offset = decode_offset_cursor(request.query_params.get("cursor"))
    rows = await run_in_threadpool(svc.social.likers, who, repo, offset, LIKES_PAGE + 1)
    headers = {}
    if len(rows) > LIKES_PAGE:
        headers["Link"] = next_link(request, encode_offset_cursor(offset + LIKES_PAGE))
    out = [
        {"user": r.user, "fullname": r.fullname, "avatarUrl": None, "type": "user"} for r in rows[:LIKES_PAGE]
    ]
    return JSON(out, headers=headers)


async def user_likes(request: Request) -> Response:
    """GET /api/users/{name}/likes: the repos a user liked that the caller can see."""
    svc = services(request)
    who = await principal(request)
    offset = decode_offset_cursor(request.query_params.get("cursor"))
    name = request.path_params["name"]
    rows = await run_in_threadpool(svc.social.liked_by, who, name, offset, LIKES_PAGE + 1)
    headers = {}
    if len(rows) > LIKES_PAGE:
        headers["Link"] = next_link(request, encode_offset_cursor(offset + LIKES_PAGE))
    out = [
        {"createdAt": iso_z(r.liked_at), "repo": {"name": r.repo_id, "type": r.repo_type}}
        for r in rows[:LIKES_PAGE]
    ]
    return JSON(out, headers=headers)
