"""Scan before serve: verdicts per stored content, the download policy, releases and re-scans.

Verdicts are kept per (sha256, name hint, scanner version): the same bytes re-uploaded under another name are
judged at once, and a new scanner version makes every stored verdict stale until re-scanned.
"""

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from openmodelhub.db.models import AuditEvent, Blob, QuarantineRelease, Repo, ScanRecord
from openmodelhub.scanners import ScanResult, Verdict, scan_file, scan_fileobj
from openmodelhub.scanners.types import SCANNER_VERSION
from openmodelhub.services.auth import Access, Principal, repo_access
from openmodelhub.services.content import ContentService
from openmodelhub.services.errors import FileQuarantined, Forbidden, RepoNotFound
from openmodelhub.services.hub import Hub


def scan_hint(path: str) -> str:
    """The part of a file's name that changes how its content is judged."""
    name = PurePosixPath(path).name.lower()
    if name.endswith(".py"):
        return "python"
    if name.endswith("config.json"):
        return "config"
    return ""


@dataclass(frozen=True)
class FileSecurity:
    sha256: str
    verdict: Verdict | None  # None: not scanned by the current scanner version yet
    format: str = ""
    findings: tuple[dict[str, Any], ...] = ()
    pickle_imports: tuple[dict[str, Any], ...] = ()
    released: bool = False

    @property
    def summary(self) -> str:
        """The finding that decided the verdict, in words."""
        if self.verdict is None:
            return "not scanned yet"
        for f in self.findings:
            if f.get("verdict") == self.verdict.value:
                where = f" ({f['location']})" if f.get("location") else ""
                return f"{f.get('message', '')}{where}"
        return self.verdict.value


def _record(sha256: str, hint: str, result: ScanResult) -> ScanRecord:
    return ScanRecord(
        sha256=sha256,
        hint=hint,
        scanner_version=result.scanner_version,
        verdict=result.verdict.value,
        format=result.format,
        findings=[{**asdict(f), "verdict": f.verdict.value} for f in result.findings],
        pickle_imports=[asdict(p) for p in result.pickle_imports],
    )


class ScanService:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    # -- scanning ------------------------------------------------------------------------------------------
    def ensure_scanned(self, sha256: str, path: str) -> FileSecurity:
        """The current verdict for content committed under `path`, scanning it now if there is none."""
        hint = scan_hint(path)
        with self.hub.read() as s:
            row = s.get(ScanRecord, (sha256, hint, SCANNER_VERSION))
        if row is None:
            row = self._scan(sha256, hint, path)
        return self._security(row, released=False)

    def _scan(self, sha256: str, hint: str, path: str) -> ScanRecord:
        content = ContentService.of(self.hub)
        local = content.local_path(sha256)
        if local is not None:
            result = scan_file(local, name=path)
        else:  # a remote store (S3), or Xet xorbs: the scanners read what they need through ranged reads
            with content.open(sha256) as f:
                result = scan_fileobj(f, name=path)
        row = _record(sha256, hint, result)
        try:
            with self.hub.write.begin() as s:
                if s.get(ScanRecord, (sha256, hint, row.scanner_version)) is None:
                    s.add(row)
        except IntegrityError:
            pass  # scanned concurrently by another request: same bytes, same verdict
        return row

    def rescan_all(self) -> dict[str, int]:
        """Scan every stored (content, hint) pair that has no verdict from the current scanner version."""
        with self.hub.read() as s:
            pairs = set(s.execute(select(ScanRecord.sha256, ScanRecord.hint)).tuples().all())
            current = set(
                s.execute(
                    select(ScanRecord.sha256, ScanRecord.hint).where(
                        ScanRecord.scanner_version == SCANNER_VERSION
                    )
                )
                .tuples()
                .all()
            )
            never = {(sha, "") for sha in s.scalars(select(Blob.sha256)).all()} - {(a, "") for a, _ in pairs}
        todo = sorted((pairs - current) | (never - current))
        counts: dict[str, int] = {"scanned": 0}
        for sha256, hint in todo:
            name = {"python": "file.py", "config": "config.json"}.get(hint, "")
            row = self._scan(sha256, hint, name)
            counts["scanned"] += 1
            counts[row.verdict] = counts.get(row.verdict, 0) + 1
        return counts

    # -- reading verdicts ----------------------------------------------------------------------------------
    def lookup(self, repo: Repo, files: Iterable[tuple[str, str]]) -> dict[tuple[str, str], FileSecurity]:
        """Current verdicts for (sha256, path) pairs, in one query; missing ones have verdict None."""
        wanted = list(files)
        if not wanted:
            return {}
        shas = sorted({sha for sha, _ in wanted})
        with self.hub.read() as s:
            rows = s.scalars(
                select(ScanRecord).where(
                    ScanRecord.sha256.in_(shas), ScanRecord.scanner_version == SCANNER_VERSION
                )
            ).all()
            released = set(
                s.scalars(
                    select(QuarantineRelease.sha256).where(
                        QuarantineRelease.repo_id == repo.id, QuarantineRelease.sha256.in_(shas)
                    )
                ).all()
            )
        by_key = {(r.sha256, r.hint): r for r in rows}
        out: dict[tuple[str, str], FileSecurity] = {}
        for sha, path in wanted:
            row = by_key.get((sha, scan_hint(path)))
            out[(sha, path)] = (
                self._security(row, released=sha in released)
                if row
                else FileSecurity(sha256=sha, verdict=None)
            )
        return out

    @staticmethod
    def _security(row: ScanRecord, *, released: bool) -> FileSecurity:
        return FileSecurity(
            sha256=row.sha256,
            verdict=Verdict(row.verdict),
            format=row.format,
            findings=tuple(row.findings or ()),
            pickle_imports=tuple(row.pickle_imports or ()),
            released=released,
        )

    # -- the download policy -------------------------------------------------------------------------------
    def check_download(self, repo: Repo, sha256: str, path: str) -> str | None:
        """Raise FileQuarantined if this content must not be served here; else a warning to show, or None."""
        sec = self.lookup(repo, [(sha256, path)])[(sha256, path)]
        if sec.verdict is None:
            sec = self.ensure_scanned(sha256, path)  # never serve before the scan finished
            sec = replace(sec, released=self._released(repo, sha256))
        verdict = sec.verdict
        assert verdict is not None
        if verdict is Verdict.SAFE:
            return None
        policy = self.hub.settings.scan_policy
        blocked = verdict is Verdict.UNSAFE and policy != "warn"
        blocked = blocked or (policy == "strict" and verdict in (Verdict.SUSPICIOUS, Verdict.UNSCANNABLE))
        if blocked and not sec.released:
            raise FileQuarantined(
                f"{path} is quarantined: the security scan found it {verdict.value}: {sec.summary}. "
                "A repo or hub admin can release it."
            )
        return f"{path} was found {verdict.value} by the security scan: {sec.summary}"

    def _released(self, repo: Repo, sha256: str) -> bool:
        with self.hub.read() as s:
            return s.get(QuarantineRelease, (repo.id, sha256)) is not None

    def release(self, principal: Principal | None, repo: Repo, sha256: str, path: str, reason: str) -> None:
        """Serve quarantined content in this repo from now on: repo admins only (`repo_access` ADMIN: the
        owner, admins of the repo's organization, hub admins; with a write token)."""
        access = repo_access(principal, repo)
        if access == Access.NONE:
            raise RepoNotFound()  # a private repo the caller cannot read does not exist for them
        if principal is None or access < Access.ADMIN:
            raise Forbidden("Only a repo admin or a hub admin can release a quarantined file")
        with self.hub.write.begin() as s:
            if s.get(QuarantineRelease, (repo.id, sha256)) is None:
                s.add(
                    QuarantineRelease(
                        repo_id=repo.id, sha256=sha256, released_by=principal.name, reason=reason
                    )
                )
            s.add(
                AuditEvent(
                    actor=principal.name,
                    action="quarantine.release",
                    repo_id=repo.id,
                    detail={"sha256": sha256, "path": path, "reason": reason},
                )
            )
