"""The one domain error hierarchy. `api/errors.py` maps each class to an HTTP status and `X-Error-Code`."""


class HubError(Exception):
    """Base of every error a user can cause; the message is shown to them as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HubError):
    pass


class InvalidCardMetadata(BadRequest):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("Invalid metadata in README.md: " + "; ".join(problems))
        self.problems = problems


class InvalidPath(BadRequest):
    pass


class InvalidRepoId(BadRequest):
    pass


class InvalidRevision(BadRequest):
    pass


class DuplicatePath(BadRequest):
    pass


class ChecksumMismatch(BadRequest):
    pass


class SizeMismatch(BadRequest):
    pass


class LfsObjectNotFound(BadRequest):
    pass


class NotABranch(BadRequest):
    pass


class XetDataInvalid(BadRequest):
    """A xorb, shard or Xet file that fails verification (hash, size, format, sha256); nothing was stored."""


class PayloadTooLarge(BadRequest):
    pass


class NotFound(HubError):
    pass


class RepoNotFound(NotFound):
    def __init__(self, message: str = "Repository not found") -> None:
        super().__init__(message)


class RevisionNotFound(NotFound):
    pass


class EntryNotFound(NotFound):
    def __init__(self, message: str, *, commit: str | None = None) -> None:
        super().__init__(message)
        self.commit = commit


class Conflict(HubError):
    pass


class PathConflict(Conflict):
    pass


class RefExists(Conflict):
    pass


class MergeConflict(Conflict):
    """A pull request whose changes collide with its target branch's: paths changed differently on both."""

    def __init__(self, message: str, *, paths: list[str]) -> None:
        super().__init__(message)
        self.paths = paths


class RepoExists(Conflict):
    def __init__(self, message: str, *, repo_type: str, repo_id: str) -> None:
        super().__init__(message)
        self.repo_type = repo_type
        self.repo_id = repo_id


class ParentCommitMismatch(HubError):
    pass


class Unauthorized(HubError):
    """No credentials, where they are needed."""


class InvalidCredentials(HubError):
    pass


class XetTokenInvalid(HubError):
    """A Xet access token that is missing, forged, malformed or expired (401: the client refreshes it)."""


class Forbidden(HubError):
    pass


class GatedRepo(HubError):
    """The files of a gated repo, asked for by someone without an accepted access request.

    Answered 401 to anonymous callers and 403 otherwise; `ask` adds where to request access."""

    def __init__(self, message: str, *, authenticated: bool, repo_type: str, repo_id: str, ask: bool) -> None:
        super().__init__(message)
        self.authenticated = authenticated
        self.repo_type = repo_type
        self.repo_id = repo_id
        self.ask = ask


class FileQuarantined(Forbidden):
    """The scanners found this content unsafe; it is not served until an admin releases it."""


class TooManyRequests(HubError):
    """Too many attempts (failed sign-ins); `retry_after` seconds until the next one is accepted."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RangeNotSatisfiable(HubError):
    def __init__(self, message: str, *, size: int, commit: str | None = None) -> None:
        super().__init__(message)
        self.size = size
        self.commit = commit


class NotSupported(HubError):
    pass


class StorageUnavailable(HubError):
    """The object store that holds file bytes could not be reached (or refused the hub's request)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"The hub's object storage is not reachable: {detail}")
