"""Likes and download counts.

Likes: a `likes` row per (repo, user); `Repo.likes` is updated in the same transaction, so listings can sort
on it. Liking needs the same rights as taking part in discussions (services/discussions.py).

Downloads (docs/collaboration.md, "Download counts"): like the Hub, a repo counts one download per fetch of
the file that stands for "this repo was downloaded", not per file: for models the root `config.json` (or the
root `config.yaml`, `hyperparams.yaml` or `meta.yaml` of other libraries) and any `.gguf` file (GGUF repos
have no config; each file is a complete model); for datasets the root `README.md`, which every loader reads.
Only a GET that sends the file from its first byte counts: not a HEAD (the client checks its cache with one),
not a 304, not a Range request that continues a download.

Counting must not slow the resolve path, and a database write per download would also empty the hot caches
(api/hotcache.py) on every download. So downloads are added up in memory, per process, and written every
FLUSH_SECONDS by a background thread as one `downloads = downloads + n` per repo (exact across processes),
and once more when the process stops (`close`). A process killed with SIGKILL loses at most its last few
seconds of counts.
"""

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from openmodelhub.db.models import Like, Repo, User
from openmodelhub.protocol.names import RepoType
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services.auth import AuthService, Principal
from openmodelhub.services.discussions import require_contributor
from openmodelhub.services.hub import Hub

log = logging.getLogger("openmodelhub.social")

FLUSH_SECONDS = 5.0
MODEL_COUNTED_FILES = frozenset({"config.json", "config.yaml", "hyperparams.yaml", "meta.yaml"})
DATASET_COUNTED_FILES = frozenset({"README.md"})


def counts_as_download(repo_type: str, path: str) -> bool:
    """True for the file whose fetch counts as one download of the repo."""
    if repo_type == RepoType.MODEL.value:
        return path in MODEL_COUNTED_FILES or path.lower().endswith(".gguf")
    if repo_type == RepoType.DATASET.value:
        return path in DATASET_COUNTED_FILES
    return False


def is_counted_request(method: str, range_header: str | None) -> bool:
    """A GET of the whole file or of a range from its first byte (a download starting); HEAD never counts."""
    if method != "GET":
        return False
    if not range_header:
        return True
    spec = range_header.strip().lower()
    if not spec.startswith("bytes="):
        return True  # an unusable Range header: the whole file is sent
    first = spec[6:].split(",")[0].strip()
    return first.startswith("0-") or first == "0"


@dataclass(frozen=True)
class Liker:
    user: str
    fullname: str


@dataclass(frozen=True)
class LikedRepo:
    repo_type: str
    repo_id: str
    liked_at: datetime


class SocialService:
    def __init__(self, hub: Hub, auth: AuthService) -> None:
        self.hub = hub
        self.auth = auth
        self._pending: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    # -- downloads -----------------------------------------------------------------------------------------
    def count_download(self, repo_id: int) -> None:
        """Add one download of a repo (in memory; written within FLUSH_SECONDS). Never blocks on I/O."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's counts and thread are not ours
                self._pending, self._thread, self._pid = {}, None, os.getpid()
            self._pending[repo_id] = self._pending.get(repo_id, 0) + 1
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="omh-download-counts", daemon=True)
                self._thread.start()

    def pending(self) -> dict[int, int]:
        with self._lock:
            return dict(self._pending)

    def flush(self) -> int:
        """Write the downloads counted so far; returns how many. Kept for the next flush if the database
        cannot be reached."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return 0
        try:
            with self.hub.write.begin() as s:
                for repo_id, n in sorted(batch.items()):
                    s.execute(update(Repo).where(Repo.id == repo_id).values(downloads=Repo.downloads + n))
        except SQLAlchemyError:
            log.warning("download counts not written; retrying later", exc_info=True)
            with self._lock:
                for repo_id, n in batch.items():
                    self._pending[repo_id] = self._pending.get(repo_id, 0) + n
            return 0
        return sum(batch.values())

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def close(self) -> None:
        """Stop the flushing thread and write what is left (at shutdown)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=FLUSH_SECONDS + 5)
        self.flush()

    # -- likes ---------------------------------------------------------------------------------------------
    def like(self, principal: Principal | None, repo: Repo) -> bool:
        """Like a repo; False when the caller already did (nothing changes)."""
        who = require_contributor(self.auth, principal, repo, "like a repo")
        try:
            with self.hub.write.begin() as s:
                if s.get(Like, (repo.id, who.user_id)) is not None:
                    return False
                s.add(Like(repo_id=repo.id, user_id=who.user_id, created_at=utcnow().replace(tzinfo=None)))
                s.flush()
                s.execute(update(Repo).where(Repo.id == repo.id).values(likes=Repo.likes + 1))
        except IntegrityError:
            return False  # a concurrent like of the same user landed first
        return True

    def unlike(self, principal: Principal | None, repo: Repo) -> bool:
        """Take a like back; False when there was none."""
        who = require_contributor(self.auth, principal, repo, "unlike a repo")
        with self.hub.write.begin() as s:
            gone = s.execute(
                delete(Like).where(Like.repo_id == repo.id, Like.user_id == who.user_id)
            ).rowcount  # type: ignore[attr-defined]
            if gone:
                s.execute(update(Repo).where(Repo.id == repo.id).values(likes=Repo.likes - gone))
        return bool(gone)

    def likers(self, principal: Principal | None, repo: Repo, offset: int, limit: int) -> list[Liker]:
        """Who liked a repo, newest first (anyone who can read the repo may see them)."""
        self.auth.require_read(principal, repo)
        with self.hub.read() as s:
            rows = s.execute(
                select(User.name, User.fullname)
                .join(Like, Like.user_id == User.id)
                .where(Like.repo_id == repo.id)
                .order_by(Like.created_at.desc(), User.name)
                .offset(offset)
                .limit(limit)
            ).all()
        return [Liker(name, fullname or name) for name, fullname in rows]

    def liked_by(
        self, principal: Principal | None, username: str, offset: int, limit: int
    ) -> list[LikedRepo]:
        """The repos a user liked, newest first, among those the caller can read (NotFound: no such user)."""
        user = self.auth.get_user(username)
        with self.hub.read() as s:
            rows = s.execute(
                select(Repo.type, Repo.namespace, Repo.name, Like.created_at)
                .join(Like, Like.repo_id == Repo.id)
                .where(Like.user_id == user.id, self.auth.readable_clause(principal))
                .order_by(Like.created_at.desc(), Repo.id.desc())
                .offset(offset)
                .limit(limit)
            ).all()
        return [LikedRepo(t, f"{ns}/{name}", at) for t, ns, name, at in rows]
