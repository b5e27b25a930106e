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


class Forbidden(HubError):
    pass


class FileQuarantined(Forbidden):
    """The scanners found this content unsafe; it is not served until an admin releases it."""


class RangeNotSatisfiable(HubError):
    def __init__(self, message: str, *, size: int, commit: str | None = None) -> None:
        super().__init__(message)
        self.size = size
        self.commit = commit


class NotSupported(HubError):
    pass
