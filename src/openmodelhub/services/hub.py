"""The hub's wiring: settings, database, blob store and caches, built once per process."""

import contextlib
import fcntl
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from openmodelhub.db import engine as dbengine
from openmodelhub.settings import Settings
from openmodelhub.storage import BlobStore, make_blob_store


def _load_secret(path: Path) -> bytes:
    """A per-data-dir secret used to sign self-authorising upload URLs."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):  # another process won the race: read theirs
            path.hardlink_to(tmp)
        tmp.unlink(missing_ok=True)
        return bytes.fromhex(path.read_text().strip())


@contextlib.contextmanager
def _migration_lock(data_dir: Path) -> Iterator[None]:
    """One migration at a time per data dir: processes starting together (`omh serve` and `omh worker`)
    would otherwise both run the same upgrade, and on SQLite the second fails with "database is locked"
    instead of waiting. The process that waits finds the schema current and has nothing to do."""
    with open(data_dir / "migrate.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass
class Hub:
    settings: Settings
    engine: Engine
    read: sessionmaker[Session]
    write: sessionmaker[Session]
    blobs: BlobStore
    secret: bytes
    _services: dict[str, object] = field(default_factory=dict)

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool | None = None) -> "Hub":
        """Open the hub `settings` describe. `migrate`: create or migrate the schema first (default: the
        `auto_migrate` setting, on for the embedded SQLite database only). Raises SchemaError when the schema
        is not this version's."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        url = settings.resolved_database_url
        engine = dbengine.make_engine(url)
        if migrate is None:
            migrate = settings.auto_migrate if settings.auto_migrate is not None else url.startswith("sqlite")
        if migrate:
            with _migration_lock(settings.data_dir):
                dbengine.upgrade(engine)
        try:
            dbengine.check_schema(engine)
        except Exception:
            engine.dispose()
            raise
        read, write = dbengine.session_factories(engine)
        blobs = make_blob_store(settings)
        return cls(
            settings=settings,
            engine=engine,
            read=read,
            write=write,
            blobs=blobs,
            secret=(
                settings.secret_key.encode()
                if settings.secret_key
                else _load_secret(settings.data_dir / "secret.key")
            ),
        )

    def close(self) -> None:
        self.engine.dispose()
