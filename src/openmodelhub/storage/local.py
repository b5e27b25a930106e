"""Blob store on a local directory: `<root>/sha256/ab/cd/<sha256>`, staged in `<root>/staging/`."""

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from openmodelhub.protocol.digests import HEX64
from openmodelhub.storage.base import BlobInfo, BlobStore, BlobWriter


class _LocalWriter(BlobWriter):
    def __init__(self, store: "LocalBlobStore", expected_size: int) -> None:
        super().__init__(expected_size)
        self._store = store
        self._tmp = store.staging / f"{uuid.uuid4().hex}.part"
        self._f: BinaryIO | None = open(self._tmp, "wb")  # noqa: SIM115 - closed in commit/abort

    def _write(self, chunk: bytes) -> None:
        assert self._f is not None
        self._f.write(chunk)

    def commit(self, expected_sha256: str | None = None) -> BlobInfo:
        assert self._f is not None, "writer already finished"
        info = self._check(expected_sha256)
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        self._f = None
        final = self._store._path(info.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        # Replaced even when the same content is stored already: the new file's fresh modification time keeps
        # content about to be committed safe from a concurrent `omh fsck --repair` (see `prune`).
        os.replace(self._tmp, final)
        return info

    def abort(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        self._tmp.unlink(missing_ok=True)


class LocalBlobStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "sha256"
        self.staging = self.root / "staging"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        if not HEX64.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.objects / sha256[:2] / sha256[2:4] / sha256

    def writer(self, expected_size: int) -> BlobWriter:
        return _LocalWriter(self, expected_size)

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, sha256: str) -> BinaryIO:
        return open(self._path(sha256), "rb")

    def local_path(self, sha256: str) -> Path | None:
        return self._path(sha256)

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def iter_keys(self) -> Iterator[str]:
        for p in self.objects.glob("*/*/*"):
            if HEX64.match(p.name):
                yield p.name

    def iter_objects(self) -> Iterator[tuple[str, int, datetime]]:
        for p in self.objects.glob("*/*/*"):
            if HEX64.match(p.name):
                try:
                    st = p.stat()
                except FileNotFoundError:  # deleted while we list
                    continue
                yield p.name, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)

    def touch(self, sha256: str) -> bool:
        try:
            os.utime(self._path(sha256))
        except FileNotFoundError:
            return False
        return True

    def prune(self, sha256: str, older_than: datetime) -> bool:
        """Moved aside first (an atomic rename), then judged by the moved file's modification time: a `touch`
        or a writer's publish before the rename shows there and the object is put back; one after the rename
        finds no object (touch says False, a writer publishes a new file), so nothing live is lost."""
        path = self._path(sha256)
        cutoff = older_than.timestamp()
        try:
            if path.stat().st_mtime >= cutoff:
                return False
        except FileNotFoundError:
            return False
        aside = self.staging / f"{sha256}.{uuid.uuid4().hex}.prune"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        try:
            fresh = aside.stat().st_mtime >= cutoff
        except FileNotFoundError:  # removed by a concurrent clean_staging: it was old
            return True
        if fresh:
            with contextlib.suppress(FileExistsError):  # a writer published the same bytes meanwhile
                os.link(aside, path)
            aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        return True

    def clean_staging(self, older_than_seconds: float = 24 * 3600) -> int:
        """Remove staging files left by crashed writers. Returns how many were removed."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for p in self.staging.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if p.stat().st_mtime < cutoff:
                    p.unlink()
                    removed += 1
        return removed
