"""Processes refuse to run on a PostgreSQL schema that is not exactly theirs, and say what to do."""

import subprocess
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from openmodelhub.db import engine as dbengine
from tests.support import stack
from tests.support.server import OMH, HubServer, omh_cli


@pytest.fixture
def pg_url() -> str:
    return stack.create_database("omh_guard")


def _psycopg(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_serve_refuses_an_unmigrated_database_until_db_upgrade(tmp_path: Path, pg_url: str) -> None:
    env = {"OMH_DATABASE_URL": pg_url}
    server = HubServer(tmp_path / "data", env=env, stack="embedded")
    serve = subprocess.run(
        [*OMH, "serve", "--port", str(server.port), "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        env=server.env,
        timeout=60,
    )
    assert serve.returncode == 1
    assert "the database schema is at nothing, expected" in serve.stderr
    assert "omh db upgrade" in serve.stderr
    # Nothing was created behind the operator's back.
    with psycopg.connect(_psycopg(pg_url)) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables is not None and tables[0] == 0

    omh_cli(server.data_dir, "db", "upgrade", env=server.env)
    server._migrated = True
    server.start()
    try:
        server.create_user("alice")
    finally:
        server.stop()


def test_every_command_refuses_a_newer_schema(tmp_path: Path, pg_url: str) -> None:
    env = {"OMH_DATABASE_URL": pg_url}
    server = HubServer(tmp_path / "data", env=env, stack="embedded")
    omh_cli(server.data_dir, "db", "upgrade", env=server.env)
    with psycopg.connect(_psycopg(pg_url), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    for args in (["user", "create", "bob"], ["serve", "--port", str(server.port)]):
        result = subprocess.run(
            [*OMH, *args, "--data-dir", str(server.data_dir)],
            capture_output=True,
            text=True,
            env=server.env,
            timeout=60,
        )
        assert result.returncode == 1, result
        assert "newer than this version of OpenModelHub knows" in result.stderr
        assert "Traceback" not in result.stderr


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    env = {"OMH_DATABASE_URL": "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/nothing"}
    server = HubServer(tmp_path / "data", env=env, stack="embedded")
    result = subprocess.run(
        [*OMH, "user", "create", "bob", "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        env=server.env,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot open the database postgresql+psycopg://postgres:***@127.0.0.1:1/nothing" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_sqlite_is_migrated_on_first_start(tmp_path: Path) -> None:
    server = HubServer(tmp_path / "data", stack="embedded")
    server.create_user("carol")  # no `omh db upgrade`: the embedded hub creates its schema itself
    engine = dbengine.make_engine(f"sqlite:///{tmp_path / 'data' / 'omh.sqlite3'}")
    try:
        assert dbengine.current_revision(engine) == dbengine.head_revision()
    finally:
        engine.dispose()
