"""Values of the `X-Error-Code` header.

The first four are read by `huggingface_hub` to type its exceptions; the others are ours, chosen so that a
person (or a script) can tell failures apart without parsing messages.
"""

REPO_NOT_FOUND = "RepoNotFound"
REVISION_NOT_FOUND = "RevisionNotFound"
ENTRY_NOT_FOUND = "EntryNotFound"
GATED_REPO = "GatedRepo"

BAD_REQUEST = "BadRequest"
INVALID_PATH = "InvalidPath"
INVALID_CARD_METADATA = "InvalidCardMetadata"
INVALID_REPO_ID = "InvalidRepoId"
INVALID_REVISION = "InvalidRevision"
DUPLICATE_PATH = "DuplicatePath"
PATH_CONFLICT = "PathConflict"
CHECKSUM_MISMATCH = "ChecksumMismatch"
SIZE_MISMATCH = "SizeMismatch"
LFS_OBJECT_NOT_FOUND = "LfsObjectNotFound"
NOT_A_BRANCH = "NotABranch"
PARENT_COMMIT_MISMATCH = "ParentCommitMismatch"
CONFLICT = "Conflict"
REPO_EXISTS = "RepoExists"
REF_EXISTS = "RefExists"
UNAUTHORIZED = "Unauthorized"
INVALID_CREDENTIALS = "InvalidCredentials"
FORBIDDEN = "Forbidden"
FILE_QUARANTINED = "FileQuarantined"
RANGE_NOT_SATISFIABLE = "RangeNotSatisfiable"
PAYLOAD_TOO_LARGE = "PayloadTooLarge"
NOT_IMPLEMENTED = "NotImplemented"
INTERNAL_ERROR = "InternalError"
