"""Repos and their refs: create, find, list, delete, move; branches and tags; revision resolution."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmodelhub.db.models import Blob, GitBlob, Ref, Repo, RepoCommit, RepoTag
from openmodelhub.db.upsert import insert_missing
from openmodelhub.protocol.digests import HEX40
from openmodelhub.protocol.names import (
    DEFAULT_BRANCH,
    NameError_,
    RepoId,
    RepoType,
    validate_name_part,
    validate_ref_name,
)
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services.auth import Access, AuthService, Principal
from openmodelhub.services.errors import (
    BadRequest,
    Forbidden,
    InvalidRepoId,
    InvalidRevision,
    NotABranch,
    RefExists,
    RepoExists,
    RepoNotFound,
    RevisionNotFound,
)
from openmodelhub.services.gitstore import GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.services.scans import ScanService
from openmodelhub.services.trees import TreeBuilder, make_commit

HEADS = "refs/heads/"
TAGS = "refs/tags/"
SYSTEM_AUTHOR = ("system", "system@openmodelhub.local")


def default_gitattributes() -> bytes:
    return resources.files("openmodelhub").joinpath("data/default.gitattributes").read_bytes()


def parse_repo_id(repo_id: str) -> RepoId:
    try:
        return RepoId.parse(repo_id)
    except NameError_ as exc:
        raise InvalidRepoId(str(exc)) from exc


@dataclass(frozen=True)
class RefInfo:
    name: str  # full ref name
    target: str
    message: str | None = None

    @property
    def short(self) -> str:
        for prefix in (HEADS, TAGS):
            if self.name.startswith(prefix):
                return self.name[len(prefix) :]
        return self.name


@dataclass(frozen=True)
class ListQuery:
    repo_type: RepoType
    search: list[str]
    author: str | None
    filters: list[str]
    sort: str | None
    offset: int
    limit: int


class RepoService:
    def __init__(self, hub: Hub, git: GitStore, auth: AuthService, scans: ScanService) -> None:
        self.hub = hub
        self.git = git
        self.auth = auth
        self.scans = scans

    # -- lookup --------------------------------------------------------------------------------------------
    def find(self, repo_type: RepoType, repo_id: str, session: Session | None = None) -> Repo | None:
        try:
            rid = RepoId.parse(repo_id)
        except NameError_:
            return None
        stmt = select(Repo).where(
            Repo.type == repo_type.value, Repo.namespace == rid.namespace, Repo.name == rid.name
        )
        if session is not None:
            return session.scalar(stmt)
        with self.hub.read() as s:
            return s.scalar(stmt)

    def get_readable(self, principal: Principal | None, repo_type: RepoType, repo_id: str) -> Repo:
        repo = self.find(repo_type, repo_id)
        if repo is None:
            raise RepoNotFound()
        self.auth.require_read(principal, repo)
        return repo

    def get_writable(self, principal: Principal | None, repo_type: RepoType, repo_id: str) -> Repo:
        repo = self.get_readable(principal, repo_type, repo_id)
        self.auth.require_write(principal, repo)
        return repo

    def get_admin(self, principal: Principal | None, repo_type: RepoType, repo_id: str) -> Repo:
        """A repo the caller may reconfigure, move or delete (ADMIN: owner, org admin, hub admin)."""
        repo = self.get_readable(principal, repo_type, repo_id)
        self.auth.require_repo(principal, repo, Access.ADMIN)
        return repo

    # -- create / delete / move / settings ----------------------------------------------------------------
    def create(
        self,
        principal: Principal | None,
        repo_type: RepoType,
        name: str,
        namespace: str | None = None,
        private: bool = False,
        *,
        owner_name: str | None = None,
    ) -> Repo:
        """Create a repo with an initial commit holding a default `.gitattributes`."""
        if principal is None and owner_name is None:
            self.auth.require_write(principal, namespace or "")
        namespace = namespace or (principal.name if principal else owner_name)
        assert namespace is not None
        try:
            validate_name_part(namespace, "namespace")
            validate_name_part(name, "repo name")
        except NameError_ as exc:
            raise InvalidRepoId(str(exc)) from exc
        if principal is not None:
            self.auth.require_write(principal, namespace)
        repo_id = f"{namespace}/{name}"
        if self.find(repo_type, repo_id) is not None:
            raise RepoExists(
                f"You already created this {repo_type.value} repo: {repo_id}",
                repo_type=repo_type.value,
                repo_id=repo_id,
            )
        now = utcnow()
        content = default_gitattributes()
        info = self.hub.blobs.put_bytes(content)
        self.scans.ensure_scanned(info.sha256, ".gitattributes")
        builder = TreeBuilder(self.git, None)
        builder.set_file(".gitattributes", info.git_sha1)
        tree_oid, trees = builder.build()
        commit = make_commit(
            tree=tree_oid,
            parents=[],
            author=SYSTEM_AUTHOR[0],
            email=SYSTEM_AUTHOR[1],
            message="initial commit\n",
            when=now,
        )
        try:
            with self.hub.write.begin() as s:
                ensure_blob_rows(s, info.sha256, info.size, info.git_sha1, [(info.git_sha1, False)])
                self.git.add_objects(s, [*trees, commit])
                repo = Repo(
                    type=repo_type.value,
                    namespace=namespace,
                    name=name,
                    owner_id=principal.user_id if principal else None,
                    private=private,
                    created_at=now.replace(tzinfo=None),
                    last_modified=now.replace(tzinfo=None),
                    tags=[],
                )
                s.add(repo)
                s.flush()
                s.add(RepoCommit(repo_id=repo.id, commit_oid=commit.id.decode()))
                s.add(Ref(repo_id=repo.id, name=HEADS + DEFAULT_BRANCH, target=commit.id.decode()))
        except IntegrityError as exc:  # lost a race with another create of the same name
            raise RepoExists(
                f"You already created this {repo_type.value} repo: {repo_id}",
                repo_type=repo_type.value,
                repo_id=repo_id,
            ) from exc
        return repo

    def delete(self, principal: Principal | None, repo_type: RepoType, repo_id: str) -> None:
        repo = self.get_admin(principal, repo_type, repo_id)
        with self.hub.write.begin() as s:
            s.execute(delete(Ref).where(Ref.repo_id == repo.id))
            s.execute(delete(RepoCommit).where(RepoCommit.repo_id == repo.id))
            s.execute(delete(RepoTag).where(RepoTag.repo_id == repo.id))
            s.execute(delete(Repo).where(Repo.id == repo.id))

    def move(self, principal: Principal | None, repo_type: RepoType, from_id: str, to_id: str) -> Repo:
        repo = self.get_admin(principal, repo_type, from_id)
        target = parse_repo_id(to_id)
        self.auth.require_write(principal, target.namespace)
        if self.find(repo_type, to_id) is not None:
            raise RepoExists(
                f"A {repo_type.value} repo {to_id} already exists", repo_type=repo_type.value, repo_id=to_id
            )
        with self.hub.write.begin() as s:
            s.execute(
                update(Repo).where(Repo.id == repo.id).values(namespace=target.namespace, name=target.name)
            )
        repo.namespace, repo.name = target.namespace, target.name
        return repo

    def update_settings(
        self,
        principal: Principal | None,
        repo_type: RepoType,
        repo_id: str,
        *,
        private: bool | None,
        gated: str | bool | None,
    ) -> None:
        repo = self.get_admin(principal, repo_type, repo_id)
        values: dict[str, Any] = {}
        if private is not None:
            values["private"] = private
        if gated is not None:
            if gated is False or gated == "false":
                values["gated"] = None
            elif gated in ("auto", "manual"):
                values["gated"] = gated
            else:
                raise BadRequest('\'gated\' must be false, "auto" or "manual"')
        if not values:
            raise BadRequest("nothing to update: send 'visibility', 'private' or 'gated'")
        with self.hub.write.begin() as s:
            s.execute(update(Repo).where(Repo.id == repo.id).values(**values))

    # -- refs ----------------------------------------------------------------------------------------------
    def refs(self, repo: Repo) -> list[RefInfo]:
        with self.hub.read() as s:
            rows = s.scalars(select(Ref).where(Ref.repo_id == repo.id).order_by(Ref.name)).all()
        return [RefInfo(r.name, r.target, r.message) for r in rows]

    def _ref(self, s: Session, repo: Repo, name: str) -> Ref | None:
        return s.get(Ref, (repo.id, name))

    def resolve(self, repo: Repo, revision: str) -> str:
        """The commit id a branch, tag, full ref name or 40-hex commit id points to."""
        if not revision:
            raise InvalidRevision("empty revision")
        with self.hub.read() as s:
            candidates = [revision] if revision.startswith("refs/") else [HEADS + revision, TAGS + revision]
            for name in candidates:
                ref = self._ref(s, repo, name)
                if ref is not None:
                    return ref.target
            if HEX40.match(revision) and s.get(RepoCommit, (repo.id, revision)) is not None:
                return revision
        raise RevisionNotFound(f"Invalid rev id: {revision}")

    def branch_head(self, repo: Repo, branch: str) -> str:
        """The head of a branch; a tag or commit id here is a NotABranch error."""
        name = branch if branch.startswith("refs/") else HEADS + branch
        with self.hub.read() as s:
            ref = self._ref(s, repo, name)
        if ref is not None and (name.startswith(HEADS) or name.startswith("refs/pr/")):
            return ref.target
        try:
            self.resolve(repo, branch)
        except RevisionNotFound:
            raise RevisionNotFound(f"Branch {branch!r} does not exist") from None
        raise NotABranch(f"{branch!r} is not a branch; commits can only be made on a branch")

    def create_branch(
        self, principal: Principal | None, repo: Repo, branch: str, starting_point: str | None
    ) -> None:
        self.auth.require_write(principal, repo)
        try:
            validate_ref_name(branch, "branch")
        except NameError_ as exc:
            raise InvalidRevision(str(exc)) from exc
        target = self.resolve(repo, starting_point or DEFAULT_BRANCH)
        self._insert_ref(repo, HEADS + branch, target, None, f"Branch {branch!r} already exists")

    def delete_branch(self, principal: Principal | None, repo: Repo, branch: str) -> None:
        self.auth.require_write(principal, repo)
        if branch == DEFAULT_BRANCH:
            raise Forbidden("The default branch 'main' cannot be deleted")
        self._delete_ref(repo, HEADS + branch, f"Branch {branch!r} does not exist")

    def create_tag(
        self, principal: Principal | None, repo: Repo, tag: str, revision: str, message: str | None
    ) -> None:
        self.auth.require_write(principal, repo)
        try:
            validate_ref_name(tag, "tag")
        except NameError_ as exc:
            raise InvalidRevision(str(exc)) from exc
        target = self.resolve(repo, revision)
        self._insert_ref(repo, TAGS + tag, target, message, f"Tag {tag!r} already exists")

    def delete_tag(self, principal: Principal | None, repo: Repo, tag: str) -> None:
        self.auth.require_write(principal, repo)
        self._delete_ref(repo, TAGS + tag, f"Tag {tag!r} does not exist")

    def _insert_ref(self, repo: Repo, name: str, target: str, message: str | None, exists_msg: str) -> None:
        try:
            with self.hub.write.begin() as s:
                if self._ref(s, repo, name) is not None:
                    raise RefExists(exists_msg)
                s.add(Ref(repo_id=repo.id, name=name, target=target, message=message))
        except IntegrityError as exc:
            raise RefExists(exists_msg) from exc

    def _delete_ref(self, repo: Repo, name: str, missing_msg: str) -> None:
        with self.hub.write.begin() as s:
            if s.execute(delete(Ref).where(Ref.repo_id == repo.id, Ref.name == name)).rowcount == 0:  # type: ignore[attr-defined]
                raise RevisionNotFound(missing_msg)

    # -- listing -------------------------------------------------------------------------------------------
    def list(
        self, principal: Principal | None, q: ListQuery, keep: Callable[[Repo], bool] | None = None
    ) -> list[Repo]:
        """A page of the repos `principal` may read; `keep` is an extra test (openness, licences) applied
        after the SQL and tag filters, outside the read session (it may compute and store assessments)."""
        stmt = select(Repo).where(Repo.type == q.repo_type.value, self.auth.readable_clause(principal))
        if q.author:
            stmt = stmt.where(Repo.namespace == q.author)
        for term in q.search:
            if term:
                like = f"%{term.lower()}%"
                stmt = stmt.where(func.lower(Repo.namespace + "/" + Repo.name).like(like))
        order = {
            "lastModified": Repo.last_modified,
            "createdAt": Repo.created_at,
            "downloads": Repo.downloads,
            "likes": Repo.likes,
            "trendingScore": Repo.likes,
            "id": None,
        }
        if q.sort is not None and q.sort not in order:
            raise BadRequest(f"unknown sort {q.sort!r}; use one of {', '.join(order)}")
        col = order.get(q.sort or "id")
        if col is not None:
            stmt = stmt.order_by(col.desc(), Repo.id.desc())
        else:
            stmt = stmt.order_by(Repo.namespace, Repo.name)
        # Tag filters (card tags, pipeline tag, library) run in SQL on the repo_tags index.
        for tag in dict.fromkeys(q.filters):
            stmt = stmt.where(Repo.id.in_(select(RepoTag.repo_id).where(RepoTag.tag == tag)))
        with self.hub.read() as s:
            if keep is None:
                return list(s.scalars(stmt.offset(q.offset).limit(q.limit)).all())
            matching = list(s.scalars(stmt).yield_per(500))
        out: list[Repo] = []
        skipped = 0
        for repo in matching:
            if keep is not None and not keep(repo):
                continue
            if skipped < q.offset:
                skipped += 1
                continue
            out.append(repo)
            if len(out) >= q.limit:
                break
        return out


def sync_repo_tags(
    s: Session, repo_id: int, tags: list[str], pipeline_tag: str | None, library_name: str | None
) -> None:
    """Make `repo_tags` hold exactly what listing filters match for a repo (in the caller's transaction)."""
    wanted = {t[:300] for t in (*tags, pipeline_tag, library_name) if t}
    s.execute(delete(RepoTag).where(RepoTag.repo_id == repo_id))
    if wanted:
        s.execute(insert(RepoTag), [{"repo_id": repo_id, "tag": t} for t in sorted(wanted)])


def ensure_blob_rows(
    s: Session, sha256: str, size: int, git_sha1: str, git_blobs: list[tuple[str, bool]]
) -> None:
    """Record verified content and the git blob ids that stand for it (idempotent, also against concurrent
    transactions recording the same content)."""
    if s.get(Blob, sha256) is None:
        insert_missing(s, Blob, [{"sha256": sha256, "size": size, "git_sha1": git_sha1}])
    insert_missing(
        s,
        GitBlob,
        [
            {"oid": oid, "sha256": sha256, "size": size, "is_lfs": is_lfs}
            for oid, is_lfs in git_blobs
            if s.get(GitBlob, oid) is None
        ],
    )


def to_naive(dt: datetime) -> datetime:
    return dt.replace(tzinfo=None)
