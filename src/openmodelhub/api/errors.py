"""The one place that turns domain errors into HTTP responses (status, `X-Error-Code`, JSON body)."""

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from openmodelhub.protocol import codes
from openmodelhub.services import errors as e
from openmodelhub.storage import BlobStoreUnavailable

log = logging.getLogger("openmodelhub.api")

# Most specific first: the first matching class wins.
_MAP: list[tuple[type[e.HubError], int, str]] = [
    (e.InvalidPath, 400, codes.INVALID_PATH),
    (e.InvalidCardMetadata, 400, codes.INVALID_CARD_METADATA),
    (e.InvalidRepoId, 400, codes.INVALID_REPO_ID),
    (e.InvalidRevision, 400, codes.INVALID_REVISION),
    (e.DuplicatePath, 400, codes.DUPLICATE_PATH),
    (e.ChecksumMismatch, 400, codes.CHECKSUM_MISMATCH),
    (e.SizeMismatch, 400, codes.SIZE_MISMATCH),
    (e.LfsObjectNotFound, 400, codes.LFS_OBJECT_NOT_FOUND),
    (e.NotABranch, 400, codes.NOT_A_BRANCH),
    (e.XetDataInvalid, 400, codes.XET_DATA_INVALID),
    (e.PayloadTooLarge, 413, codes.PAYLOAD_TOO_LARGE),
    (e.BadRequest, 400, codes.BAD_REQUEST),
    (e.RepoNotFound, 404, codes.REPO_NOT_FOUND),
    (e.RevisionNotFound, 404, codes.REVISION_NOT_FOUND),
    (e.EntryNotFound, 404, codes.ENTRY_NOT_FOUND),
    (e.NotFound, 404, "NotFound"),
    (e.RepoExists, 409, codes.REPO_EXISTS),
    (e.RefExists, 409, codes.REF_EXISTS),
    (e.MergeConflict, 409, codes.MERGE_CONFLICT),
    (e.PathConflict, 409, codes.PATH_CONFLICT),
    (e.Conflict, 409, codes.CONFLICT),
    (e.ParentCommitMismatch, 412, codes.PARENT_COMMIT_MISMATCH),
    (e.Unauthorized, 401, codes.UNAUTHORIZED),
    (e.InvalidCredentials, 401, codes.INVALID_CREDENTIALS),
    (e.XetTokenInvalid, 401, codes.XET_TOKEN_INVALID),
    (e.GatedRepo, 403, codes.GATED_REPO),
    (e.FileQuarantined, 403, codes.FILE_QUARANTINED),
    (e.Forbidden, 403, codes.FORBIDDEN),
    (e.RangeNotSatisfiable, 416, codes.RANGE_NOT_SATISFIABLE),
    (e.TooManyRequests, 429, codes.TOO_MANY_REQUESTS),
    (e.NotSupported, 501, codes.NOT_IMPLEMENTED),
    (e.StorageUnavailable, 503, codes.STORAGE_UNAVAILABLE),
]


def header_safe(message: str) -> str:
    text = " ".join(message.split())
    return text.encode("latin-1", "replace").decode("latin-1")[:500]


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {"error": message}
    if extra:
        body.update(extra)
    hdrs = {"X-Error-Code": code, "X-Error-Message": header_safe(message)}
    if headers:
        hdrs.update(headers)
    return Response(orjson.dumps(body), status_code=status, headers=hdrs, media_type="application/json")


def hub_error_response(request: Request, exc: e.HubError) -> Response:
    status, code = next(((s, c) for cls, s, c in _MAP if isinstance(exc, cls)), (400, codes.BAD_REQUEST))
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, e.EntryNotFound | e.RangeNotSatisfiable) and exc.commit:
        headers["X-Repo-Commit"] = exc.commit
    if isinstance(exc, e.RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{exc.size}"
    if isinstance(exc, e.TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, e.MergeConflict):
        extra["filesWithConflicts"] = exc.paths
    if isinstance(exc, e.InvalidCardMetadata):
        extra["errors"] = [{"message": m} for m in exc.problems]
        extra["warnings"] = []
    if isinstance(exc, e.RepoExists):
        from openmodelhub.api.common import repo_url

        extra["url"] = repo_url(request, exc.repo_type, exc.repo_id)
    message = exc.message
    if isinstance(exc, e.GatedRepo):
        from openmodelhub.api.common import repo_url

        status = 403 if exc.authenticated else 401
        if exc.ask:
            message = f"{message} Visit {repo_url(request, exc.repo_type, exc.repo_id)} to ask for access."
    return error_response(status, code, message, headers, extra)


def internal_error_response(request: Request, exc: Exception) -> Response:
    if isinstance(exc, BlobStoreUnavailable):
        # The blob store raises its own error (storage knows nothing of services); any request path that
        # touched it answers 503 StorageUnavailable, nothing was changed.
        log.warning("object storage unavailable on %s %s: %s", request.method, request.url.path, exc)
        return hub_error_response(request, e.StorageUnavailable(str(exc)))
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500, codes.INTERNAL_ERROR, "Internal server error; the request did not change anything"
    )
