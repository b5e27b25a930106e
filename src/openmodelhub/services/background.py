"""The hub's background work: every job a job engine runs (docs/decisions/0005-job-engine.md), in one place.

Jobs take the hub's `Services` and plain JSON arguments. Each is idempotent: it stores something keyed by its
arguments only when it is missing (or from an older version), so running it again, or twice at once, changes
nothing. That is what lets the engines retry failed jobs and redeliver the jobs of a worker that died.
Readers never wait for a job: what a job has not stored yet is computed (idempotently) on first read.

- `fingerprint(repo_id, commit)`: weight fingerprint of a commit (services/fingerprints.py).
- `openness(repo_id, commit)`: MOF openness assessment of a model commit (services/openness.py).
- `xet_index(repo_id, commit)`: chunk the commit's LFS files stored as blobs into Xet xorbs (services/xet.py),
  so Xet clients download them through Xet and deduplicate against them.
- `rescan(repo_id=None)`: scan files without a verdict from the current scanner version, for one repo's
  branches and tags, or for all stored content.
- `reconcile()`: enqueue the two jobs above for every branch head that lacks their result; run when a server
  or a worker starts, so jobs lost with a crashed process (embedded jobs live in memory) are done after all.
- `gc(grace_hours=24)`: `omh fsck --repair` as a job (services/fsck.py): delete garbage older than the grace
  period. Started by hand or by a scheduler (`omh enqueue gc`); on PostgreSQL one runs at a time.
"""

import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from openmodelhub.db.models import OpennessAssessment, Ref, Repo, RepoCommit, WeightFingerprint
from openmodelhub.jobs.base import JobError, JobQueue, Registry
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services.fingerprints import FINGERPRINT_VERSION
from openmodelhub.services.fsck import DEFAULT_GRACE, FsckService
from openmodelhub.services.repos import HEADS
from openmodelhub.storage import BlobStoreUnavailable

if TYPE_CHECKING:
    from openmodelhub.services.container import Services

log = logging.getLogger("openmodelhub.jobs")

JOBS = Registry()
GC_LOCK = 0x6F6D68_6763  # PostgreSQL advisory lock key of the `gc` job ("omh" "gc")
_GC_RUNNING = threading.Lock()  # the same, within one process


def _repo(svc: "Services", repo_id: int, commit: str | None = None) -> Repo | None:
    """The repo; None if it was deleted since the job was enqueued or `commit` is not one of its commits."""
    with svc.hub.read() as s:
        repo = s.get(Repo, repo_id)
        if repo is None or (commit is not None and s.get(RepoCommit, (repo_id, commit)) is None):
            return None
        return repo


def follow_ups(repo: Repo, commit: str) -> list[tuple[str, dict[str, Any]]]:
    """The jobs a new commit needs: (name, arguments)."""
    jobs: list[tuple[str, dict[str, Any]]] = [("fingerprint", {"repo_id": repo.id, "commit": commit})]
    if repo.type == "model":
        jobs.append(("openness", {"repo_id": repo.id, "commit": commit}))
    # LFS content stored as blobs is chunked into Xet xorbs too (a no-op when Xet or indexing is off).
    jobs.append(("xet_index", {"repo_id": repo.id, "commit": commit}))
    return jobs


def enqueue_quietly(jobs: JobQueue | None, name: str, **kwargs: Any) -> bool:
    """Enqueue, logging instead of raising: for callers whose own work is done (a commit that landed), where
    a job that cannot be enqueued now is redone by `reconcile` or computed on first read."""
    if jobs is None:
        return False
    try:
        jobs.enqueue(name, **kwargs)
    except JobError:
        log.warning("job %s not enqueued; reconcile or the first read will do it", name, exc_info=True)
        return False
    return True


def after_commit(jobs: JobQueue | None, repo: Repo, commit: str) -> None:
    """Commit hook, after the ref moved: enqueue the commit's follow-up jobs; never raises."""
    for name, kwargs in follow_ups(repo, commit):
        enqueue_quietly(jobs, name, **kwargs)


# -- the jobs ------------------------------------------------------------------------------------------------
@JOBS.job("fingerprint")
def fingerprint(svc: "Services", repo_id: int, commit: str) -> None:
    repo = _repo(svc, repo_id, commit)
    if repo is not None:
        svc.fingerprints.fingerprint(repo, commit)


@JOBS.job("openness")
def openness(svc: "Services", repo_id: int, commit: str) -> None:
    repo = _repo(svc, repo_id, commit)
    if repo is not None and repo.type == "model":
        svc.openness.assessment(repo, commit)


@JOBS.job("xet_index", time_limit=6 * 3600)
def xet_index(svc: "Services", repo_id: int, commit: str) -> None:
    """Chunk a commit's blob-stored LFS files into xorbs (services/xet.py `XetService.index_commit`)."""
    repo = _repo(svc, repo_id, commit)
    if repo is not None:
        try:
            count = svc.xet.index_commit(repo, commit)
        except BlobStoreUnavailable as exc:
            # Chunking is an optimisation: the files are stored and served as blobs meanwhile, and the repo's
            # next commit indexes whatever of its tree is not indexed yet.
            log.warning("xet_index of %s/%s@%s skipped: %s", repo.namespace, repo.name, commit[:12], exc)
            return
        if count:
            log.info("xet_index of %s/%s@%s: %d files chunked", repo.namespace, repo.name, commit[:12], count)


@JOBS.job("rescan", time_limit=6 * 3600)
def rescan(svc: "Services", repo_id: int | None = None) -> None:
    if repo_id is None:
        counts = svc.scans.rescan_all()
        log.info(
            "rescan of all stored content: %s", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        )
        return
    repo = _repo(svc, repo_id)
    if repo is None:
        return
    seen: set[tuple[str, str]] = set()
    for ref in svc.repos.refs(repo):
        tree = svc.git.commit_tree(ref.target)
        entries = [e for e in svc.git.iter_tree(tree, recursive=True) if not e.is_dir]
        metas = svc.git.blob_metas([e.oid for e in entries])
        for e in entries:
            meta = metas.get(e.oid)
            if meta is not None and (meta.sha256, e.path) not in seen:
                seen.add((meta.sha256, e.path))
                svc.scans.ensure_scanned(meta.sha256, e.path)  # scans only what has no current verdict
    log.info("rescan of %s/%s: %d files checked", repo.namespace, repo.name, len(seen))


@JOBS.job("reconcile")
def reconcile(svc: "Services", days: int | None = None) -> None:
    """Enqueue `fingerprint` and `openness` for branch heads (moved in the last `days` days; None: all) that
    lack a current result."""
    heads = (
        select(Ref.repo_id, Ref.target)
        .join(Repo, Repo.id == Ref.repo_id)
        .where(Ref.name.startswith(HEADS, autoescape=True))
    )
    if days is not None:
        heads = heads.where(Ref.updated_at >= utcnow().replace(tzinfo=None) - timedelta(days=days))
    fp, oa = WeightFingerprint, OpennessAssessment
    with svc.hub.read() as s:
        no_fingerprint = s.execute(
            heads.outerjoin(
                fp,
                and_(
                    fp.repo_id == Ref.repo_id, fp.commit_oid == Ref.target, fp.version == FINGERPRINT_VERSION
                ),
            ).where(fp.repo_id.is_(None))
        ).all()
        no_assessment = s.execute(
            heads.where(Repo.type == "model")
            .outerjoin(
                oa,
                and_(
                    oa.repo_id == Ref.repo_id, oa.commit_oid == Ref.target, oa.version == svc.openness.version
                ),
            )
            .where(oa.repo_id.is_(None))
        ).all()
    todo = [("fingerprint", r, c) for r, c in dict.fromkeys(no_fingerprint)]
    todo += [("openness", r, c) for r, c in dict.fromkeys(no_assessment)]
    sent = sum(enqueue_quietly(svc.jobs, name, repo_id=r, commit=c) for name, r, c in todo)
    log.info("reconcile: %d of %d missing results enqueued", sent, len(todo))


@JOBS.job("gc", time_limit=24 * 3600)
def gc(svc: "Services", grace_hours: float = DEFAULT_GRACE.total_seconds() / 3600) -> None:
    """Delete garbage older than `grace_hours` (services/fsck.py says why that is safe next to a running hub;
    it asks for one repair at a time, which an advisory lock ensures on PostgreSQL)."""
    grace = timedelta(hours=grace_hours)
    engine = svc.hub.engine
    if engine.dialect.name != "postgresql":  # an embedded hub: its jobs run in one process
        if not _GC_RUNNING.acquire(blocking=False):
            log.info("gc: another gc is running; this one is skipped")
            return
        try:
            _gc(svc, grace)
        finally:
            _GC_RUNNING.release()
        return
    with engine.connect() as conn:
        if not conn.scalar(select(func.pg_try_advisory_lock(GC_LOCK))):
            log.info("gc: another gc is running; this one is skipped")
            return
        try:
            _gc(svc, grace)
        finally:
            conn.scalar(select(func.pg_advisory_unlock(GC_LOCK)))


def _gc(svc: "Services", grace: timedelta) -> None:
    report = FsckService(svc.hub).run(repair=True, grace=grace)
    st = report.stats
    log.info(
        "gc: deleted %d objects (%d bytes), %d rows, %d temp files; %d errors found (see `omh fsck`)",
        st.deleted_objects,
        st.deleted_bytes,
        st.deleted_rows,
        st.deleted_temp,
        len(report.errors),
    )
