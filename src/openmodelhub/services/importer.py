"""Import a local folder as the content of a repo's main branch (used by `omh import` and the demo)."""

import os
from pathlib import Path

from openmodelhub.protocol.names import DEFAULT_BRANCH, RepoType
from openmodelhub.services.auth import Principal
from openmodelhub.services.commits import AddFile, CommitRequest, CommitResult, DeletePath
from openmodelhub.services.container import Services
from openmodelhub.services.errors import BadRequest
from openmodelhub.services.repos import parse_repo_id


def import_folder(
    svc: Services, local_dir: Path, repo_id: str, repo_type: RepoType
) -> tuple[CommitResult, bool]:
    """Make `main` hold exactly the files of `local_dir`. Returns (result, changed)."""
    if not local_dir.is_dir():
        raise BadRequest(f"{local_dir} is not a folder")
    rid = parse_repo_id(repo_id)
    user = svc.auth.ensure_user(rid.namespace)
    actor = Principal(
        user_id=user.id,
        name=user.name,
        is_admin=False,
        role="write",
        token_name="omh import",
        token_created_at="",
        email=user.email,
    )
    repo = svc.repos.find(repo_type, repo_id)
    if repo is None:
        repo = svc.repos.create(actor, repo_type, rid.name, rid.namespace)
    ops: list[AddFile | DeletePath] = [DeletePath(path="", folder=True)]
    for root, dirs, files in os.walk(local_dir):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            full = Path(root) / name
            if full.is_symlink() or not full.is_file():
                continue
            rel = full.relative_to(local_dir).as_posix()
            with open(full, "rb") as f:
                blob = svc.hub.blobs.put_stream(f, full.stat().st_size)
            ops.append(AddFile(path=rel, blob=blob, sent_as_lfs=False))
    before = svc.repos.resolve(repo, DEFAULT_BRANCH)
    request = CommitRequest(summary=f"Import {local_dir.name}", operations=ops)
    result = svc.commits.create_commit(actor, repo, DEFAULT_BRANCH, request, skip_if_unchanged=True)
    return result, result.oid != before
