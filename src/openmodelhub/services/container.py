"""All services of one hub, wired together once per process."""

from openmodelhub.services.auth import AuthService
from openmodelhub.services.commits import CommitService
from openmodelhub.services.files import FileService
from openmodelhub.services.fingerprints import FingerprintService
from openmodelhub.services.gitstore import GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.services.lineage import LineageService
from openmodelhub.services.openness import OpennessService
from openmodelhub.services.repos import RepoService
from openmodelhub.services.scans import ScanService
from openmodelhub.services.uploads import UploadService
from openmodelhub.settings import Settings


class Services:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.git = GitStore(hub.read)
        self.auth = AuthService(hub)
        self.scans = ScanService(hub)
        self.repos = RepoService(hub, self.git, self.auth, self.scans)
        self.fingerprints = FingerprintService(hub, self.git)
        self.commits = CommitService(hub, self.git, self.repos, self.scans, self.fingerprints)
        self.files = FileService(hub, self.git, self.repos)
        self.uploads = UploadService(hub, self.git, self.repos, self.scans)
        self.lineage = LineageService(hub, self.git, self.repos, self.files, self.fingerprints)
        self.openness = OpennessService(hub, self.repos, self.lineage)

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool | None = None) -> "Services":
        return cls(Hub.open(settings, migrate=migrate))

    def close(self) -> None:
        self.hub.close()
