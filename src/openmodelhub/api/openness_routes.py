"""Openness and lineage endpoints: `GET /api/models/{ns}/{name}/lineage` and `.../openness[/{revision}]`,
and the `omh` block of repo info."""

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from openmodelhub.api.common import JSON, principal, services
from openmodelhub.api.rawpath import RepoPath
from openmodelhub.db.models import Repo
from openmodelhub.protocol.names import DEFAULT_BRANCH, RepoType
from openmodelhub.services.container import Services
from openmodelhub.services.errors import BadRequest


def omh_info(svc: Services, repo: Repo, commit: str) -> dict[str, Any]:
    """`{"openness": ..., "license": ...}` for repo info (public view of the lineage)."""
    verdict, node = svc.lineage.license_verdict(None, repo)
    out: dict[str, Any] = {"license": {**node.license.to_json(), "effective": verdict.to_json()}}
    if repo.type == RepoType.MODEL.value:
        out["openness"] = svc.openness.assessment(repo, commit)
    return out


async def lineage(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    who = await principal(request)
    if p.repo_type is not RepoType.MODEL:
        raise BadRequest("lineage is computed for models")
    repo = await run_in_threadpool(svc.repos.get_readable, who, p.repo_type, p.repo_id)
    return JSON(await run_in_threadpool(svc.lineage.lineage, who, repo))


async def openness(request: Request, p: RepoPath) -> Response:
    svc = services(request)
    who = await principal(request)
    if p.repo_type is not RepoType.MODEL:
        raise BadRequest("openness is assessed for models")
    repo = await run_in_threadpool(svc.repos.get_readable, who, p.repo_type, p.repo_id)
    revision = "/".join(p.args) or request.query_params.get("revision") or DEFAULT_BRANCH
    commit = await run_in_threadpool(svc.repos.resolve, repo, revision)
    return JSON(await run_in_threadpool(svc.openness.assessment, repo, commit))
