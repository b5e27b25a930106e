"""Routing on the raw, still percent-encoded request path.

Revisions arrive percent-encoded in one segment (`refs%2Fpr%2F1`), so the decoded path that Starlette
routes on cannot tell a revision containing '/' from a revision followed by a file path. We split the raw
path on '/' first and decode each segment on its own (percent-decoding only; '+' stays '+').
"""

from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from openmodelhub.protocol.names import REPO_TYPES_BY_PLURAL, RepoType
from openmodelhub.services.errors import BadRequest


def decode_segment(segment: str) -> str:
    try:
        return unquote_to_bytes(segment).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the request path is not valid UTF-8") from None


@dataclass
class RepoPath:
    kind: str  # "api" | "resolve" | "lfs"
    repo_type: RepoType
    repo_id: str
    action: str = ""  # api: sub-route name ("" for info); lfs: "batch" | "verify"
    args: list[str] = field(default_factory=list)  # decoded segments after the action


def parse_repo_path(raw_path: bytes) -> RepoPath | None:
    """Recognise repo-scoped routes; None for anything else."""
    segs = raw_path.decode("latin-1").split("/")[1:]
    if len(segs) >= 4 and segs[0] == "api" and segs[1] in REPO_TYPES_BY_PLURAL:
        repo_type = REPO_TYPES_BY_PLURAL[segs[1]]
        repo_id = f"{decode_segment(segs[2])}/{decode_segment(segs[3])}"
        rest = [decode_segment(s) for s in segs[4:]]
        if rest and rest[-1] == "" and len(rest) == 1:
            rest = []
        action = rest[0] if rest else ""
        return RepoPath("api", repo_type, repo_id, action, rest[1:])
    repo_type = RepoType.MODEL
    if segs and segs[0] in ("datasets", "spaces"):
        repo_type = REPO_TYPES_BY_PLURAL[segs[0]]
        segs = segs[1:]
    if len(segs) >= 2 and segs[1].endswith(".git"):
        # /{ns}/{name}.git/info/lfs/objects/batch  and  .../info/lfs/verify
        tail = segs[2:]
        name = decode_segment(segs[1])[: -len(".git")]
        repo_id = f"{decode_segment(segs[0])}/{name}"
        if tail == ["info", "lfs", "objects", "batch"]:
            return RepoPath("lfs", repo_type, repo_id, "batch")
        if tail == ["info", "lfs", "verify"]:
            return RepoPath("lfs", repo_type, repo_id, "verify")
        return None
    if len(segs) >= 5 and segs[2] == "resolve":
        repo_id = f"{decode_segment(segs[0])}/{decode_segment(segs[1])}"
        revision = decode_segment(segs[3])
        path = "/".join(decode_segment(s) for s in segs[4:])
        return RepoPath("resolve", repo_type, repo_id, "resolve", [revision, path])
    return None
