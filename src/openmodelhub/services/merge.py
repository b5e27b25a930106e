"""Tree algorithms behind pull requests: merge base, three-way merge by path, and the changes between trees.

The merge works on whole files, as the Hub's model and dataset repos need: a path changed on one side only
takes that side's version; changed the same way on both sides is fine; changed differently on both sides
(including deleted on one side and modified on the other, or a file on one side where the other has a
folder) is a conflict. Contents are never merged line by line. Identical subtrees are never descended into,
so merging a small pull request into a large repo reads only the folders it touched.
"""

import heapq
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dulwich.objects import ObjectID, Tree
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from openmodelhub.db.models import Ref, Repo, RepoCommit
from openmodelhub.jobs.base import JobQueue
from openmodelhub.protocol.names import DEFAULT_BRANCH
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services import background
from openmodelhub.services.auth import Principal
from openmodelhub.services.errors import BadRequest, Conflict, MergeConflict, RevisionNotFound
from openmodelhub.services.gitstore import MODE_DIR, GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.services.repo_content import record_in
from openmodelhub.services.repos import HEADS, RepoService, sync_repo_tags
from openmodelhub.services.trees import make_commit

if TYPE_CHECKING:
    from openmodelhub.services.commits import CommitService
    from openmodelhub.services.discussions import DiscussionService, EventView

MERGE_ATTEMPTS = 8

# (mode, oid) of one tree entry
Item = tuple[int, str]


@dataclass
class MergeResult:
    """The merged root tree (None when there are conflicts), the new tree objects to store, the conflicts."""

    tree: str | None
    new_trees: list[Tree] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """One file that differs between two trees: `old` None for an added file, `new` None for a deleted one."""

    path: str
    old: Item | None
    new: Item | None


def _entries(git: GitStore, tree_oid: str | None) -> dict[str, Item]:
    if tree_oid is None:
        return {}
    return {i.path.decode(): (i.mode, i.sha.decode()) for i in git.get_tree(tree_oid).iteritems()}


def _dir_oid(item: Item | None) -> str | None:
    return item[1] if item is not None and item[0] == MODE_DIR else None


def merge_trees(git: GitStore, base: str | None, ours: str, theirs: str) -> MergeResult:
    """Three-way merge of root trees `ours` and `theirs` from their common `base` (None: unrelated)."""
    result = MergeResult(tree=None)
    root = _merge_dir(git, "", base, ours, theirs, result)
    if not result.conflicts:
        if root is None:  # everything deleted: the root is an empty tree, not nothing
            empty = Tree()
            result.new_trees.append(empty)
            root = empty.id.decode()
        result.tree = root
    result.conflicts.sort()
    return result


def _merge_dir(
    git: GitStore, prefix: str, base: str | None, ours: str | None, theirs: str | None, out: MergeResult
) -> str | None:
    """The merged tree of one folder (None when it ends up empty); conflicts are appended to `out`."""
    if ours == theirs:
        return ours
    if base == ours:
        return theirs
    if base == theirs:
        return ours
    b, o, t = _entries(git, base), _entries(git, ours), _entries(git, theirs)
    merged: list[tuple[str, Item]] = []
    for name in sorted(set(b) | set(o) | set(t)):
        x, y, z = b.get(name), o.get(name), t.get(name)
        path = f"{prefix}{name}"
        res: Item | None
        if y == z:
            res = y
        elif x == y:
            res = z
        elif x == z:
            res = y
        elif all(e is None or e[0] == MODE_DIR for e in (x, y, z)):
            # Folders on every side that has the name: merge inside (a missing side is an empty folder).
            sub = _merge_dir(git, f"{path}/", _dir_oid(x), _dir_oid(y), _dir_oid(z), out)
            res = (MODE_DIR, sub) if sub is not None else None
        else:
            out.conflicts.append(path)
            continue
        if res is not None:
            merged.append((name, res))
    if out.conflicts:
        return None
    if not merged:
        return None
    tree = Tree()
    for name, (mode, oid) in merged:
        tree.add(name.encode(), mode, ObjectID(oid.encode()))
    out.new_trees.append(tree)
    return tree.id.decode()


def merge_base(git: GitStore, a: str, b: str) -> str | None:
    """The newest common ancestor of commits `a` and `b` (a commit is its own ancestor); None if unrelated.

    Both histories are walked together, newest commit first (ties in creation order), marking each commit
    with the side(s) it is reachable from; the first commit reached from both is the answer."""
    if a == b:
        return a
    order = itertools.count()
    flags: dict[str, int] = {a: 1, b: 2}
    heap = [(-git.get_commit(oid).commit_time, next(order), oid) for oid in (a, b)]
    heapq.heapify(heap)
    while heap:
        _, _, oid = heapq.heappop(heap)
        mark = flags[oid]
        if mark == 3:
            return oid
        for parent in git.get_commit(oid).parents:
            p = parent.decode()
            before = flags.get(p, 0)
            if before | mark != before:
                flags[p] = before | mark
                heapq.heappush(heap, (-git.get_commit(p).commit_time, next(order), p))
    return None


def tree_changes(git: GitStore, old: str | None, new: str | None, prefix: str = "") -> list[Change]:
    """Every file that differs between two trees, in path order; identical subtrees are skipped."""
    if old == new:
        return []
    a, b = _entries(git, old), _entries(git, new)
    out: list[Change] = []
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        if x == y:
            continue
        path = f"{prefix}{name}"
        x_dir, y_dir = _dir_oid(x), _dir_oid(y)
        if x_dir is not None or y_dir is not None:
            out.extend(tree_changes(git, x_dir, y_dir, f"{path}/"))
        x_file = x if x is not None and x[0] != MODE_DIR else None
        y_file = y if y is not None and y[0] != MODE_DIR else None
        if x_file != y_file:
            out.append(Change(path, x_file, y_file))
    out.sort(key=lambda c: c.path)
    return out


@dataclass(frozen=True)
class MergeOutcome:
    commit: str  # the merge commit, now the head of the target branch
    event: "EventView"  # the "merged" status change


class MergeService:
    """Merging a pull request: a real merge commit on the target branch, exactly once, or nothing at all."""

    def __init__(
        self,
        hub: Hub,
        git: GitStore,
        repos: RepoService,
        commits: "CommitService",
        discussions: "DiscussionService",
        jobs: JobQueue | None = None,
    ) -> None:
        self.hub = hub
        self.git = git
        self.repos = repos
        self.commits = commits
        self.discussions = discussions
        self.jobs = jobs

    def merge(self, principal: Principal | None, repo: Repo, num: int, comment: Any = None) -> MergeOutcome:
        """Merge pull request `num` into its target branch (repo writers only).

        The merge commit has two parents (target head, pull request head) and the three-way merge of their
        trees from their merge base. The target branch, `refs/pr/N` and the pull request's status are
        compare-and-swapped in one transaction: a push that lands in between makes this attempt start over
        on the new heads; conflicting changes raise MergeConflict and change nothing."""
        who = self.repos.auth.require_write(principal, repo)
        if comment is not None and not isinstance(comment, str):
            raise BadRequest("'comment' must be a string")
        text = (comment or "").strip()
        for _attempt in range(MERGE_ATTEMPTS):
            d = self.discussions.pr(repo, num)
            if d.status == "merged":
                raise Conflict(f"Pull request #{num} is already merged")
            if d.status == "closed":
                raise Conflict(f"Pull request #{num} is closed; reopen it before merging")
            target_ref = d.target_branch or HEADS + DEFAULT_BRANCH
            branch = target_ref.removeprefix(HEADS)
            pr_ref = f"refs/pr/{num}"
            try:
                target = self.repos.resolve(repo, target_ref)
            except RevisionNotFound:
                raise RevisionNotFound(
                    f"The target branch {branch!r} of pull request #{num} no longer exists"
                ) from None
            head = self.repos.resolve(repo, pr_ref)
            base = merge_base(self.git, target, head)
            if base == head:
                raise BadRequest(f"Pull request #{num} has no changes that are not already on {branch!r}")
            base_tree = self.git.commit_tree(base) if base else None
            result = merge_trees(
                self.git, base_tree, self.git.commit_tree(target), self.git.commit_tree(head)
            )
            if result.tree is None:
                shown = ", ".join(result.conflicts[:20]) + (" ..." if len(result.conflicts) > 20 else "")
                raise MergeConflict(
                    f"Pull request #{num} cannot be merged into {branch!r}: these files were changed on both "
                    f"sides: {shown}. Update the pull request so it no longer conflicts, then merge again.",
                    paths=result.conflicts,
                )
            self.git.remember(result.new_trees)  # read back by the card facts below
            now = utcnow()
            message = f"Merge pull request #{num}: {d.title}\n"
            if text:
                message += f"\n{text}\n"
            commit = make_commit(
                tree=result.tree,
                parents=[target, head],
                author=who.name,
                email=who.email or f"{who.name}@users.openmodelhub.local",
                message=message,
                when=now,
            )
            new_oid = commit.id.decode()
            facts = (
                self.commits.card_facts(repo, result.tree) if target_ref == HEADS + DEFAULT_BRANCH else None
            )
            landed = self._landed_lfs(self.git.commit_tree(target), result.tree)
            try:
                with self.hub.write.begin() as s:
                    self.git.add_objects(s, [*result.new_trees, commit])
                    stamp = now.replace(tzinfo=None)
                    moved = s.execute(
                        update(Ref)
                        .where(Ref.repo_id == repo.id, Ref.name == target_ref, Ref.target == target)
                        .values(target=new_oid, updated_at=stamp)
                    ).rowcount  # type: ignore[attr-defined]
                    # A no-op update of refs/pr/N: checks it did not move, and holds it until this commits.
                    held = s.execute(
                        update(Ref)
                        .where(Ref.repo_id == repo.id, Ref.name == pr_ref, Ref.target == head)
                        .values(target=head)
                    ).rowcount  # type: ignore[attr-defined]
                    if moved != 1 or held != 1:
                        s.rollback()
                        continue
                    s.add(RepoCommit(repo_id=repo.id, commit_oid=new_oid))
                    record_in(s, repo.id, landed)  # services/repo_content.py
                    event = self.discussions.mark_merged_in(s, d, who, new_oid, text)
                    values: dict[str, Any] = {"last_modified": stamp}
                    if facts is not None:
                        values.update(
                            card_data=facts.card_data,
                            tags=facts.tags,
                            pipeline_tag=facts.pipeline_tag,
                            library_name=facts.library_name,
                        )
                        sync_repo_tags(s, repo.id, facts.tags, facts.pipeline_tag, facts.library_name)
                    s.execute(update(Repo).where(Repo.id == repo.id).values(**values))
                    view = self.discussions.event_view(event, who.name)
            except IntegrityError:
                continue  # a concurrent writer stored the same rows first: start over
            background.after_commit(self.jobs, repo, new_oid)
            return MergeOutcome(commit=new_oid, event=view)
        raise Conflict(f"The branch of pull request #{num} is too busy to merge now; retry")

    def _landed_lfs(self, before: str, after: str) -> set[str]:
        """sha256 of the LFS files the merge brings onto the target branch (recorded as repo content)."""
        oids = [c.new[1] for c in tree_changes(self.git, before, after) if c.new is not None]
        return {m.sha256 for m in self.git.blob_metas(oids).values() if m.is_lfs}
