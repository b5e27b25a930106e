"""Engine set-up and schema migrations.

SQLite runs in WAL mode with a busy timeout, so the CLI can write while a server runs on the same data dir.
pysqlite's own transaction handling is switched off and we emit BEGIN ourselves (SQLAlchemy's documented
recipe), which makes SQLite transactions behave like PostgreSQL's for our compare-and-swap updates.
"""

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_POOL_SIZE = 48  # anyio's default thread pool has 40 threads


class SchemaError(RuntimeError):
    """The database schema is not the one this version of the code expects."""


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # A pool as large as the thread pool using it: connections are reused, not re-opened per request.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA mmap_size=268435456")  # reads from the page cache without copies
            cur.execute("PRAGMA cache_size=-16384")  # 16 MiB per connection
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def session_factories(engine: Engine) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """(read sessions, write sessions). Write sessions take SQLite's write lock at BEGIN."""
    read = sessionmaker(engine, expire_on_commit=False)
    write = sessionmaker(engine.execution_options(sqlite_immediate=True), expire_on_commit=False)
    return read, write


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(_alembic_config_for_script())
    return script.get_current_head()


def _alembic_config_for_script() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest version (creates it on an empty database)."""
    command.upgrade(_alembic_config(engine), "head")


def check_schema(engine: Engine) -> None:
    """Refuse to run on a database that is not migrated to exactly this code's schema."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    script = ScriptDirectory.from_config(_alembic_config_for_script())
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise SchemaError(
            f"the database schema ({current}) is newer than this version of OpenModelHub knows; "
            "upgrade the software"
        )
    raise SchemaError(
        f"the database schema is at {current or 'nothing'}, expected {head}: run `omh db upgrade`"
    )
