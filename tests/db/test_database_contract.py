"""The database contract, run against every backend.

Each backend is a factory giving the URL of a fresh, empty database (and dropping it afterwards). SQLite runs
on a temp file; PostgreSQL runs on the server at `OMH_TEST_POSTGRES_URL` (default: the local one that
`scripts/ensure-services.sh` brings up), in a database each test creates and drops.
"""

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text, update

from openmodelhub.db import engine as dbengine
from openmodelhub.db.models import Base, Ref, Repo
from tests.support import stack


@dataclass(frozen=True)
class DatabaseBackend:
    name: str
    fresh_database: Callable[[Path], AbstractContextManager[str]]


@contextmanager
def _sqlite(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'contract.sqlite3'}"


def _postgres(tmp_path: Path) -> AbstractContextManager[str]:
    return stack.postgres_database("omh_test")


BACKENDS = [DatabaseBackend("sqlite", _sqlite), DatabaseBackend("postgresql", _postgres)]


@pytest.fixture(params=BACKENDS, ids=[b.name for b in BACKENDS])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    backend: DatabaseBackend = request.param
    with backend.fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def empty_engine(database_url: str) -> Iterator[Engine]:
    engine = dbengine.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    dbengine.upgrade(empty_engine)
    return empty_engine


# -- schema --------------------------------------------------------------------------------------------------


def test_upgrade_creates_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_check_schema_passes_after_upgrade(engine: Engine) -> None:
    dbengine.check_schema(engine)
    assert dbengine.current_revision(engine) == dbengine.head_revision()
    assert dbengine.head_revision() is not None


def test_upgrade_is_idempotent(engine: Engine) -> None:
    dbengine.upgrade(engine)
    dbengine.check_schema(engine)


def test_check_schema_refuses_an_unmigrated_database(empty_engine: Engine) -> None:
    with pytest.raises(dbengine.SchemaError, match="omh db upgrade"):
        dbengine.check_schema(empty_engine)


def test_check_schema_refuses_a_newer_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    with pytest.raises(dbengine.SchemaError, match="newer"):
        dbengine.check_schema(engine)


def test_migrations_match_the_models(engine: Engine) -> None:
    """What alembic would autogenerate from the models against the migrated database: nothing."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


# -- compare-and-swap on refs --------------------------------------------------------------------------------


def _repo_with_ref(engine: Engine, target: str) -> int:
    _, write = dbengine.session_factories(engine)
    with write() as s, s.begin():
        repo = Repo(type="model", namespace="ns", name=f"r{uuid.uuid4().hex[:8]}")
        s.add(repo)
        s.flush()
        s.add(Ref(repo_id=repo.id, name="refs/heads/main", target=target))
        return repo.id


def test_ref_compare_and_swap_moves_exactly_once(engine: Engine) -> None:
    old = "0" * 40
    repo_id = _repo_with_ref(engine, old)
    _, write = dbengine.session_factories(engine)
    n = 8
    barrier = threading.Barrier(n)
    rowcounts: dict[str, int] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def move(new: str) -> None:
        try:
            barrier.wait(timeout=30)
            with write() as s, s.begin():
                result = s.execute(
                    update(Ref)
                    .where(Ref.repo_id == repo_id, Ref.name == "refs/heads/main", Ref.target == old)
                    .values(target=new)
                    .execution_options(synchronize_session=False)
                )
                count = result.rowcount  # type: ignore[attr-defined]
            with lock:
                rowcounts[new] = count
        except BaseException as exc:
            errors.append(exc)

    news = [f"{i + 1:x}" * 40 for i in range(n)]
    threads = [threading.Thread(target=move, args=(new,)) for new in news]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert sorted(rowcounts.values()) == [0] * (n - 1) + [1]
    [winner] = [new for new, count in rowcounts.items() if count == 1]
    read, _ = dbengine.session_factories(engine)
    with read() as s:
        assert s.scalar(select(Ref.target).where(Ref.repo_id == repo_id)) == winner


def test_compare_and_swap_with_a_stale_old_value_moves_nothing(engine: Engine) -> None:
    repo_id = _repo_with_ref(engine, "a" * 40)
    _, write = dbengine.session_factories(engine)
    with write() as s, s.begin():
        result = s.execute(
            update(Ref)
            .where(Ref.repo_id == repo_id, Ref.name == "refs/heads/main", Ref.target == "b" * 40)
            .values(target="c" * 40)
        )
        assert result.rowcount == 0  # type: ignore[attr-defined]
    read, _ = dbengine.session_factories(engine)
    with read() as s:
        assert s.scalar(select(Ref.target).where(Ref.repo_id == repo_id)) == "a" * 40


def test_a_rolled_back_write_leaves_no_trace(engine: Engine) -> None:
    repo_id = _repo_with_ref(engine, "a" * 40)
    _, write = dbengine.session_factories(engine)
    with pytest.raises(RuntimeError), write() as s, s.begin():
        s.execute(update(Ref).where(Ref.repo_id == repo_id).values(target="d" * 40))
        raise RuntimeError("crash in the middle of a commit")
    read, _ = dbengine.session_factories(engine)
    with read() as s:
        assert s.scalar(select(Ref.target).where(Ref.repo_id == repo_id)) == "a" * 40


def test_deleting_a_repo_deletes_its_refs(engine: Engine) -> None:
    repo_id = _repo_with_ref(engine, "a" * 40)
    _, write = dbengine.session_factories(engine)
    with write() as s, s.begin():
        s.delete(s.get(Repo, repo_id))
    read, _ = dbengine.session_factories(engine)
    with read() as s:
        assert s.scalars(select(Ref).where(Ref.repo_id == repo_id)).all() == []
