"""Gated repos: file content only for readers the owners approved, and the access requests behind that.

A repo is gated by its settings (`update_repo_settings(gated="auto"|"manual"|False)`); its card may add a
request form (`extra_gated_prompt`, `extra_gated_fields`, like the Hub). Metadata, the tree and paths-info
stay visible to anyone who can read the repo; file content (resolve, LFS downloads) needs one of:
- the caller's own rights on the repo (owner, org member, hub admin: `granted_access` >= READ), or
- an accepted access request of the caller's user, through a token that reaches the repo.
Otherwise `GatedRepo` (401 anonymous, 403 otherwise), with the Hub's messages. "auto" accepts on request.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from openmodelhub.db.models import AccessRequest, GitBlob, Ref, Repo, RepoCommit, User
from openmodelhub.protocol.names import RepoType
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services.auth import Access, Principal, granted_access, token_access
from openmodelhub.services.errors import BadRequest, Forbidden, GatedRepo, NotFound, Unauthorized
from openmodelhub.services.gitstore import MODE_DIR
from openmodelhub.services.hub import Hub
from openmodelhub.services.repos import RepoService

REQUEST_STATUSES = ("pending", "accepted", "rejected")
MAX_FIELD_CHARS = 2000
MAX_REJECTION_REASON = 200
# Field types a requester fills in; the Hub fills `ip_location` itself, so it is not asked for here.
AUTO_FIELD_TYPES = ("ip_location",)


@dataclass(frozen=True)
class GateForm:
    """What a requester is asked: the card's `extra_gated_*` metadata."""

    mode: str | None  # None (not gated) | "auto" | "manual"
    heading: str | None
    prompt: str | None
    description: str | None
    button: str | None
    fields: dict[
        str, Any
    ]  # label -> "text" | "checkbox" | "date_picker" | "country" | {"type": "select", ...}


@dataclass(frozen=True)
class RequestView:
    request_id: str
    username: str
    fullname: str
    email: str | None
    status: str
    timestamp: datetime
    fields: dict[str, Any] | None
    rejection_reason: str | None


def request_id(row_id: int) -> str:
    return f"{row_id:024x}"


def _parse_request_id(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise BadRequest(f"invalid requestId {text!r}") from None
    if value <= 0 or len(text) > 24:
        raise BadRequest(f"invalid requestId {text!r}")
    return value


def _label(repo: Repo) -> str:
    return f"{repo.type} {repo.namespace}/{repo.name}"


class AccessService:
    def __init__(self, hub: Hub, repos: RepoService) -> None:
        self.hub = hub
        self.repos = repos

    # -- the content check ---------------------------------------------------------------------------------
    def check_content(self, principal: Principal | None, repo: Repo) -> None:
        """Raise GatedRepo unless the caller may read the files of `repo` (call after the read check)."""
        if not repo.gated or granted_access(principal, repo) >= Access.READ:
            return
        rid, what = f"{repo.namespace}/{repo.name}", _label(repo)
        if principal is None:
            raise GatedRepo(
                f"Access to {what} is restricted. You must have access to it and be authenticated to access "
                "it. Please log in.",
                authenticated=False,
                repo_type=repo.type,
                repo_id=rid,
                ask=False,
            )
        with self.hub.read() as s:
            status = s.scalar(
                select(AccessRequest.status).where(
                    AccessRequest.repo_id == repo.id, AccessRequest.user_id == principal.user_id
                )
            )
        if status == "accepted":
            if token_access(principal, repo.type, repo.namespace, repo.name) >= Access.READ:
                return
            message = f"Access to {what} is restricted: this fine-grained token does not cover it."
        elif status == "pending":
            message = f"Your request to access {what} is awaiting a review from the repo authors."
        elif status == "rejected":
            message = f"Your request to access {what} has been rejected by the repo's authors."
        else:
            message = f"Access to {what} is restricted and you are not in the authorized list."
        raise GatedRepo(message, authenticated=True, repo_type=repo.type, repo_id=rid, ask=status is None)

    def in_repo(self, repo: Repo, sha256s: list[str]) -> set[str]:
        """Which of these contents `repo`'s history holds. Stored content is shared by every repo, so an
        LFS download must name content of the repo it goes through: otherwise any repo would hand out a
        private or gated repo's files to whoever knows (from a gated repo's tree) their sha256. Walks the
        trees of the ref heads first, then of every other commit of the repo, each tree once."""
        wanted = set(sha256s)
        if not wanted:
            return set()
        with self.hub.read() as s:
            oids = dict(
                s.execute(select(GitBlob.oid, GitBlob.sha256).where(GitBlob.sha256.in_(wanted))).all()
            )
            heads = list(s.scalars(select(Ref.target).where(Ref.repo_id == repo.id)).all())
        found: set[str] = set()
        if not oids:
            return found
        seen: set[str] = set()
        git = self.repos.git

        def walk(tree_oid: str) -> None:
            pending = [tree_oid]
            while pending and found != wanted:
                oid = pending.pop()
                if oid in seen:
                    continue
                seen.add(oid)
                for item in git.get_tree(oid).iteritems():
                    sha = item.sha.decode()
                    if item.mode == MODE_DIR:
                        pending.append(sha)
                    elif sha in oids:
                        found.add(oids[sha])

        for commit in heads:
            walk(git.commit_tree(commit))
        if found != wanted:
            with self.hub.read() as s:
                history = s.scalars(select(RepoCommit.commit_oid).where(RepoCommit.repo_id == repo.id)).all()
            for commit in history:
                if found == wanted:
                    break
                walk(git.commit_tree(commit))
        return found

    def restrict_lfs_download(self, repo: Repo, answer: dict[str, Any]) -> dict[str, Any]:
        """An LFS batch download answer without links to content `repo` does not hold: those objects get
        the same error as content that was never uploaded."""
        objects = answer.get("objects") or []

        def stored(o: Any) -> bool:  # offered, or refused as quarantined: either way, the hub has it
            return isinstance(o, dict) and ("actions" in o or (o.get("error") or {}).get("code") == 403)

        held = self.in_repo(repo, [o["oid"] for o in objects if stored(o)])
        for o in objects:
            if stored(o) and o["oid"] not in held:
                o.pop("actions", None)
                o["error"] = {"code": 404, "message": "Object does not exist"}
        return answer

    # -- the requester's side ------------------------------------------------------------------------------
    @staticmethod
    def form(repo: Repo) -> GateForm:
        meta = repo.card_data or {}

        def text(key: str) -> str | None:
            value = meta.get(key)
            return value if isinstance(value, str) else None

        fields = meta.get("extra_gated_fields")
        if not isinstance(fields, dict):
            fields = {}
        fields = {
            str(k): v
            for k, v in fields.items()
            if (v if isinstance(v, str) else (v or {}).get("type") if isinstance(v, dict) else None)
            not in AUTO_FIELD_TYPES
        }
        return GateForm(
            mode=repo.gated,
            heading=text("extra_gated_heading"),
            prompt=text("extra_gated_prompt"),
            description=text("extra_gated_description"),
            button=text("extra_gated_button_content"),
            fields=fields,
        )

    def gate(
        self, principal: Principal | None, repo_type: RepoType, repo_id: str
    ) -> tuple[GateForm, str | None]:
        """The request form of a repo the caller can see, and the caller's request status (None: none)."""
        repo = self.repos.get_readable(principal, repo_type, repo_id)
        status = None
        if principal is not None:
            with self.hub.read() as s:
                status = s.scalar(
                    select(AccessRequest.status).where(
                        AccessRequest.repo_id == repo.id, AccessRequest.user_id == principal.user_id
                    )
                )
        return self.form(repo), status

    def request_access(
        self, principal: Principal | None, repo_type: RepoType, repo_id: str, fields: Any
    ) -> RequestView:
        """Ask for the files of a gated repo with the answers to its form; accepted at once in "auto" mode."""
        if principal is None:
            raise Unauthorized("You must be authenticated to request access: pass a token")
        repo = self.repos.get_readable(principal, repo_type, repo_id)
        self._require_gated(repo)
        values = _validate_fields(self.form(repo).fields, fields)
        status = "accepted" if repo.gated == "auto" else "pending"
        for _attempt in range(2):
            try:
                return self._upsert_request(repo, principal, status, values)
            except IntegrityError:  # a concurrent first request of the same user: now it exists
                continue
        raise Forbidden("could not record the access request; retry")

    def _upsert_request(
        self, repo: Repo, principal: Principal, status: str, values: dict[str, Any]
    ) -> RequestView:
        now = utcnow().replace(tzinfo=None)
        with self.hub.write.begin() as s:
            row = s.scalar(
                select(AccessRequest).where(
                    AccessRequest.repo_id == repo.id, AccessRequest.user_id == principal.user_id
                )
            )
            if row is None:
                row = AccessRequest(
                    repo_id=repo.id,
                    user_id=principal.user_id,
                    status=status,
                    fields=values,
                    created_at=now,
                    updated_at=now,
                    decided_by="auto" if status == "accepted" else None,
                )
                s.add(row)
            elif row.status == "rejected":
                raise Forbidden(
                    f"Your request to access {_label(repo)} has been rejected by the repo's authors."
                )
            elif row.status == "pending":
                row.fields, row.updated_at = values, now
                if status == "accepted":
                    row.status, row.decided_by = "accepted", "auto"
            s.flush()
            user = s.get(User, principal.user_id)
            assert user is not None
            return _view(row, user)

    # -- the owners' side (WRITE on the repo) --------------------------------------------------------------
    def list_requests(
        self,
        principal: Principal | None,
        repo_type: RepoType,
        repo_id: str,
        status: str,
        offset: int,
        limit: int,
    ) -> tuple[list[RequestView], bool]:
        if status not in REQUEST_STATUSES:
            raise BadRequest(f"unknown status {status!r}: use pending, accepted or rejected")
        repo = self.repos.get_writable(principal, repo_type, repo_id)
        self._require_gated(repo)
        with self.hub.read() as s:
            rows = s.execute(
                select(AccessRequest, User)
                .join(User, User.id == AccessRequest.user_id)
                .where(AccessRequest.repo_id == repo.id, AccessRequest.status == status)
                .order_by(AccessRequest.updated_at, AccessRequest.id)
                .offset(offset)
                .limit(limit + 1)
            ).all()
        views = [_view(r, u) for r, u in rows]
        return views[:limit], len(views) > limit

    def handle(
        self,
        principal: Principal | None,
        repo_type: RepoType,
        repo_id: str,
        *,
        user: str | None,
        request: str | None,
        status: str,
        rejection_reason: str | None = None,
    ) -> RequestView:
        """Move a request to `status` ("pending" is the client's cancel)."""
        if status not in REQUEST_STATUSES:
            raise BadRequest(f"unknown status {status!r}: use pending, accepted or rejected")
        if (user is None) == (request is None):
            raise BadRequest("send exactly one of 'user' or 'requestId'")
        if rejection_reason is not None:
            if status != "rejected":
                raise BadRequest("'rejectionReason' goes only with status 'rejected'")
            if len(rejection_reason) > MAX_REJECTION_REASON:
                raise BadRequest(f"'rejectionReason' must be at most {MAX_REJECTION_REASON} characters")
        repo = self.repos.get_writable(principal, repo_type, repo_id)
        self._require_gated(repo)
        assert principal is not None
        with self.hub.write.begin() as s:
            stmt = select(AccessRequest, User).join(User, User.id == AccessRequest.user_id)
            stmt = stmt.where(AccessRequest.repo_id == repo.id)
            if user is not None:
                stmt = stmt.where(User.name == user)
            else:
                assert request is not None
                stmt = stmt.where(AccessRequest.id == _parse_request_id(request))
            found = s.execute(stmt).first()
            who = user if user is not None else f"request {request}"
            if found is None:
                raise NotFound(f"No access request from {who} for {_label(repo)}")
            row, u = found
            if row.status == status:
                raise NotFound(f"The access request from {who} is already {status}")
            row.status = status
            row.updated_at = utcnow().replace(tzinfo=None)
            row.decided_by = principal.name if status != "pending" else None
            row.rejection_reason = rejection_reason if status == "rejected" else None
            s.flush()
            return _view(row, u)

    def grant(self, principal: Principal | None, repo_type: RepoType, repo_id: str, user: str) -> RequestView:
        """Give `user` access without a request of theirs (an accepted request with no form answers)."""
        repo = self.repos.get_writable(principal, repo_type, repo_id)
        self._require_gated(repo)
        assert principal is not None
        now = utcnow().replace(tzinfo=None)
        with self.hub.write.begin() as s:
            u = s.scalar(select(User).where(User.name == user))
            if u is None:
                raise NotFound(f"no user named {user!r}")
            row = s.scalar(
                select(AccessRequest).where(AccessRequest.repo_id == repo.id, AccessRequest.user_id == u.id)
            )
            if row is not None and row.status == "accepted":
                raise BadRequest(f"{user} already has access to {_label(repo)}")
            if row is None:
                row = AccessRequest(repo_id=repo.id, user_id=u.id, fields=None, created_at=now)
                s.add(row)
            row.status, row.updated_at, row.decided_by, row.rejection_reason = (
                "accepted",
                now,
                principal.name,
                None,
            )
            s.flush()
            return _view(row, u)

    @staticmethod
    def _require_gated(repo: Repo) -> None:
        if not repo.gated:
            raise BadRequest(f"{_label(repo)} is not gated: enable gating in its settings first")


def _view(row: AccessRequest, user: User) -> RequestView:
    return RequestView(
        request_id=request_id(row.id),
        username=user.name,
        fullname=user.fullname,
        email=user.email,
        status=row.status,
        timestamp=row.updated_at,
        fields=row.fields,
        rejection_reason=row.rejection_reason,
    )


def _validate_fields(form: dict[str, Any], given: Any) -> dict[str, Any]:
    """The requester's answers, checked against the card's form: every field answered, checkboxes
    checked, select values among the options, nothing else."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise BadRequest("'fields' must be an object of answers to the repo's access form")
    unknown = [k for k in given if k not in form]
    if unknown:
        asked = ", ".join(repr(k) for k in form) or "nothing"
        raise BadRequest(f"unknown field {unknown[0]!r}: this repo's access form asks for {asked}")
    out: dict[str, Any] = {}
    for label, spec in form.items():
        kind = spec if isinstance(spec, str) else spec.get("type") if isinstance(spec, dict) else "text"
        value = given.get(label)
        if kind == "checkbox":
            if value not in (True, "true", "on", "yes", "1"):
                raise BadRequest(f"the box {label!r} must be checked to request access")
            out[label] = True
            continue
        if isinstance(value, int | float):  # bool is an int: True -> 'True'
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"the field {label!r} must be filled in to request access")
        if len(value) > MAX_FIELD_CHARS:
            raise BadRequest(f"the field {label!r} must be at most {MAX_FIELD_CHARS} characters")
        if kind == "select" and isinstance(spec, dict):
            options = [
                o if isinstance(o, str) else o.get("value", o.get("label")) if isinstance(o, dict) else str(o)
                for o in spec.get("options") or []
            ]
            if options and value not in options:
                raise BadRequest(f"the field {label!r} must be one of {', '.join(map(str, options))}")
        out[label] = value
    return out
