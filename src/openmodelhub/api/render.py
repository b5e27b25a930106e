"""JSON shapes of the Hub API, built from service results."""

from typing import Any

from openmodelhub.api.openness_routes import omh_info
from openmodelhub.db.models import Repo
from openmodelhub.protocol.names import RepoType
from openmodelhub.protocol.timefmt import iso_z
from openmodelhub.scanners.types import SCANNER_VERSION
from openmodelhub.services.container import Services
from openmodelhub.services.files import CommitInfo, TreeItem
from openmodelhub.services.scans import FileSecurity

ALL_INFO_FIELDS = {
    "author",
    "sha",
    "lastModified",
    "createdAt",
    "private",
    "gated",
    "disabled",
    "downloads",
    "likes",
    "tags",
    "pipeline_tag",
    "library_name",
    "cardData",
    "config",
    "siblings",
    "usedStorage",
    "omh",
}
LIST_DEFAULT_FIELDS = {
    "author",
    "lastModified",
    "createdAt",
    "private",
    "gated",
    "disabled",
    "downloads",
    "likes",
    "tags",
    "pipeline_tag",
    "library_name",
}


def security_status(sec: FileSecurity) -> dict[str, Any]:
    """`securityFileStatus` as the Hub shapes it (huggingface_hub needs `avScan` and `pickleImportScan`)."""
    status = {None: "queued", "safe": "safe", "suspicious": "suspicious", "unsafe": "unsafe"}.get(
        sec.verdict.value if sec.verdict else None, "error"
    )
    is_pickle = bool(sec.pickle_imports) or "pickle" in sec.format or sec.format in ("pytorch-zip", "joblib")
    return {
        "status": status,
        "avScan": None,
        "pickleImportScan": {
            "status": status if is_pickle else "unscanned",
            "message": sec.summary,
            "version": SCANNER_VERSION,
            "pickleImports": [
                {"module": p["module"], "name": p["name"], "safety": p["safety"]} for p in sec.pickle_imports
            ],
        },
        "omh": {
            "verdict": sec.verdict.value if sec.verdict else None,
            "format": sec.format,
            "released": sec.released,
            "findings": list(sec.findings),
        },
    }


def tree_entry(
    item: TreeItem, last_commit: CommitInfo | None = None, security: FileSecurity | None = None
) -> dict[str, Any]:
    e = item.entry
    if item.meta is None:
        out: dict[str, Any] = {"type": "directory", "oid": e.oid, "size": 0, "path": e.path}
    else:
        out = {"type": "file", "oid": e.oid, "size": item.meta.size, "path": e.path}
        if item.meta.is_lfs:
            out["lfs"] = {
                "oid": item.meta.sha256,
                "size": item.meta.size,
                "pointerSize": item.meta.pointer_size,
            }
    if security is not None:
        out["securityFileStatus"] = security_status(security)
    if last_commit is not None:
        out["lastCommit"] = {
            "id": last_commit.oid,
            "title": last_commit.title,
            "date": iso_z(last_commit.date),
        }
    return out


def commit_json(c: CommitInfo) -> dict[str, Any]:
    return {
        "id": c.oid,
        "title": c.title,
        "message": c.message,
        "authors": [{"user": c.author, "avatar": None}],
        "date": iso_z(c.date),
    }


def repo_json(
    svc: Services, repo: Repo, commit: str | None, fields: set[str], *, blobs: bool = False
) -> dict[str, Any]:
    """Repo info with only `fields` (plus the id fields), computing each only when asked for."""
    repo_id = f"{repo.namespace}/{repo.name}"
    out: dict[str, Any] = {"_id": f"{repo.id:024x}", "id": repo_id}
    if repo.type == RepoType.MODEL.value:
        out["modelId"] = repo_id
    info = svc.files.commit_info(commit) if commit and "lastModified" in fields else None
    simple: dict[str, Any] = {
        "author": repo.namespace,
        "sha": commit,
        "createdAt": iso_z(repo.created_at),
        "private": repo.private,
        "gated": repo.gated or False,
        "disabled": False,
        "downloads": repo.downloads,
        "likes": repo.likes,
        "tags": list(repo.tags or []),
    }
    for key, value in simple.items():
        if key in fields and (key != "sha" or value is not None):
            out[key] = value
    if "lastModified" in fields:
        out["lastModified"] = iso_z(info.date if info else repo.last_modified)
    if repo.type == RepoType.MODEL.value:
        if "pipeline_tag" in fields and repo.pipeline_tag:
            out["pipeline_tag"] = repo.pipeline_tag
        if "library_name" in fields and repo.library_name:
            out["library_name"] = repo.library_name
        if "config" in fields and commit:
            config = svc.files.read_json(commit, "config.json")
            if config is not None:
                out["config"] = config
    if "cardData" in fields and repo.card_data:
        out["cardData"] = repo.card_data
    if "omh" in fields and commit:
        out["omh"] = omh_info(svc, repo, commit)
    if ("siblings" in fields or "usedStorage" in fields) and commit:
        _, items = svc.files.list_tree(repo, commit, "", recursive=True)
        files = [i for i in items if i.meta is not None]
        if "siblings" in fields:
            siblings = []
            for item in files:
                assert item.meta is not None
                s: dict[str, Any] = {"rfilename": item.entry.path}
                if blobs:
                    s["size"] = item.meta.size
                    s["blobId"] = item.entry.oid
                    if item.meta.is_lfs:
                        s["lfs"] = {
                            "sha256": item.meta.sha256,
                            "size": item.meta.size,
                            "pointerSize": item.meta.pointer_size,
                        }
                siblings.append(s)
            out["siblings"] = siblings
        if "usedStorage" in fields:
            out["usedStorage"] = sum(i.meta.size for i in files if i.meta is not None)
    return out
