"""All services of one hub, wired together once per process."""

from openmodelhub.jobs.base import JobQueue
from openmodelhub.jobs.factory import open_queue
from openmodelhub.services.access import AccessService
from openmodelhub.services.auth import AuthService
from openmodelhub.services.background import JOBS
from openmodelhub.services.browse import BrowseService
from openmodelhub.services.commits import CommitService
from openmodelhub.services.content import ContentService
from openmodelhub.services.discussions import DiscussionService
from openmodelhub.services.files import FileService
from openmodelhub.services.fingerprints import FingerprintService
from openmodelhub.services.gitstore import GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.services.lineage import LineageService
from openmodelhub.services.merge import MergeService
from openmodelhub.services.openness import OpennessService
from openmodelhub.services.orgs import OrgService
from openmodelhub.services.repos import RepoService
from openmodelhub.services.scans import ScanService
from openmodelhub.services.sessions import SessionService
from openmodelhub.services.social import SocialService
from openmodelhub.services.uploads import UploadService
from openmodelhub.services.xet import XetService
from openmodelhub.settings import Settings


class Services:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        # Background jobs (services/background.py) on the engine the settings choose. Built first, so the
        # services that enqueue jobs get it; jobs run with these services, after they are all built.
        self.jobs: JobQueue = open_queue(hub.settings, JOBS, self)
        self.git = GitStore(hub.read)
        # File bytes by sha256, as a blob or reconstructed from Xet xorbs (ADR 0008).
        self.content = ContentService.of(hub)
        self.auth = AuthService(hub)
        self.scans = ScanService(hub)
        self.repos = RepoService(hub, self.git, self.auth, self.scans)
        self.xet = XetService(hub, self.git, self.repos)
        self.orgs = OrgService(hub, self.auth)
        self.access = AccessService(hub, self.repos)
        self.fingerprints = FingerprintService(hub, self.git)
        # Discussions and pull requests, merges, likes and download counts (docs/collaboration.md).
        self.discussions = DiscussionService(hub, self.git, self.repos, self.auth, self.access)
        self.commits = CommitService(hub, self.git, self.repos, self.scans, self.jobs, self.discussions)
        self.merges = MergeService(hub, self.git, self.repos, self.commits, self.discussions, self.jobs)
        self.social = SocialService(hub, self.auth)
        self.files = FileService(hub, self.git, self.repos)
        self.uploads = UploadService(hub, self.git, self.repos, self.scans)
        self.lineage = LineageService(hub, self.git, self.repos, self.files, self.fingerprints)
        self.openness = OpennessService(hub, self.repos, self.lineage)
        # The web UI's sessions and reads/writes (src/openmodelhub/web).
        self.sessions = SessionService(hub, self.auth)
        self.browse = BrowseService(
            hub, self.git, self.repos, self.files, self.commits, self.scans, self.access
        )

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool | None = None) -> "Services":
        return cls(Hub.open(settings, migrate=migrate))

    def close(self) -> None:
        self.social.close()
        self.jobs.close()
        self.hub.close()
