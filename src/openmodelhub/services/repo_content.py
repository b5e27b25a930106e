"""Which content a repo may name (issue #5, docs/security.md "Content isolation").

Bytes are stored once per sha256 for the whole hub, but a sha256 is not a secret: a gated repo's tree shows
it, and anyone may guess one. So a repo may only reference content that reached it: uploaded to it (an LFS
PUT or multipart upload signed for it, a Xet shard sent with its write token) or already in its history.
`repo_content` records the first kind, and every LFS file a commit or merge lands, so a check is one lookup;
repos made before the table are answered from their history (`AccessService.in_repo`), and what that finds
is recorded for the next time.
"""

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from openmodelhub.db.models import Repo, RepoContent
from openmodelhub.db.upsert import insert_missing
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services.hub import Hub

if TYPE_CHECKING:
    from openmodelhub.services.repos import RepoService

BATCH = 500


def _batches(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), BATCH):
        yield items[i : i + BATCH]


def record_in(s: Session, repo_id: int, sha256s: Iterable[str]) -> None:
    """Record in the caller's transaction that these contents reached `repo_id` (idempotent, and safe
    against concurrent transactions recording the same rows)."""
    now = utcnow().replace(tzinfo=None)
    for batch in _batches(sorted({sha.lower() for sha in sha256s})):
        insert_missing(
            s, RepoContent, [{"repo_id": repo_id, "sha256": sha, "created_at": now} for sha in batch]
        )


class RepoContents:
    def __init__(self, hub: Hub, repos: "RepoService") -> None:
        from openmodelhub.services.access import AccessService  # access -> repos -> ... -> xet -> here

        self.hub = hub
        self._history = AccessService(hub, repos)

    def record(self, repo_id: int, sha256s: Iterable[str]) -> None:
        wanted = list(sha256s)
        if not wanted:
            return
        with self.hub.write.begin() as s:
            record_in(s, repo_id, wanted)

    def recorded(self, repo_id: int, sha256s: Iterable[str]) -> set[str]:
        """Which of these contents `repo_content` lists for the repo (no history walk)."""
        wanted = sorted({sha.lower() for sha in sha256s})
        found: set[str] = set()
        if not wanted:
            return found
        with self.hub.read() as s:
            for batch in _batches(wanted):
                found.update(
                    s.scalars(
                        select(RepoContent.sha256).where(
                            RepoContent.repo_id == repo_id, RepoContent.sha256.in_(batch)
                        )
                    ).all()
                )
        return found

    def holds(self, repo: Repo, sha256s: Iterable[str]) -> set[str]:
        """Which of these contents `repo` may name: recorded for it, or found in its history (and then
        recorded)."""
        wanted = {sha.lower() for sha in sha256s}
        found = self.recorded(repo.id, wanted)
        rest = wanted - found
        if rest:
            walked = self._history.in_repo(repo, sorted(rest))
            if walked:
                self.record(repo.id, walked)
                found |= walked
        return found
