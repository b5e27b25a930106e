"""The backends a test hub runs on, chosen for the whole test run by `OMH_TEST_STACK`.

- `embedded` (default): SQLite file + local blob directory in the hub's data dir, jobs in-process.
- `scaleout`: a PostgreSQL database of its own per hub (127.0.0.1:5432, created here, dropped at exit), an
  S3 bucket of its own on a moto server in server mode (started here, one per test process), and dramatiq
  job workers on RabbitMQ (`omh worker`, started by HubServer) with a queue prefix of its own.

`make test` runs the end-to-end and contract suites once per stack. Nothing here is mocked: moto's server
speaks the S3 HTTP API to boto3 as any S3-compatible store would.
"""

import atexit
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.ports import free_port

STACK = os.environ.get("OMH_TEST_STACK", "embedded")
if STACK not in ("embedded", "scaleout"):
    raise RuntimeError(f"OMH_TEST_STACK must be 'embedded' or 'scaleout', not {STACK!r}")

# The PostgreSQL server's admin database, where test databases are created and dropped (either variable).
PG_ADMIN_URL = os.environ.get(
    "OMH_TEST_POSTGRES_URL",
    os.environ.get("OMH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
)
AMQP_URL = os.environ.get("OMH_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
S3_KEY = "testing"  # moto accepts any credentials

_created_databases: list[str] = []
_created_prefixes: list[str] = []
_moto: "MotoServer | None" = None


class MotoServer:
    """moto's S3-compatible server as a child process on a free port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"moto-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> "MotoServer":
        moto = Path(sys.executable).with_name("moto_server")
        cmd = [str(moto)] if moto.exists() else [sys.executable, "-m", "moto.server"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*cmd, "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}: {self.log_path}")
            try:
                httpx.get(self.endpoint, timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"moto_server did not answer within {timeout}s: {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def create_bucket(self, name: str) -> None:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_KEY,
        )
        s3.create_bucket(Bucket=name)


def moto_server(log_dir: Path) -> MotoServer:
    """This test process's moto server, started on first use."""
    global _moto
    if _moto is None or _moto.proc is None or _moto.proc.poll() is not None:
        _moto = MotoServer(log_dir).start()
        atexit.register(_moto.stop)
    return _moto


def _admin_execute(sql: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(PG_ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql)


def create_database(prefix: str = "omh_t") -> str:
    """A new, empty PostgreSQL database (dropped when this process exits, if `drop_database` did not drop it
    sooner); returns its SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    if not _created_databases:
        atexit.register(_drop_databases)
    _created_databases.append(name)
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a database `create_database` made, now (its connections are closed by force)."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    if name not in _created_databases:
        raise ValueError(f"{name!r} is not a database this test process created")
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _created_databases.remove(name)


@contextmanager
def postgres_database(prefix: str = "omh_t") -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty PostgreSQL database that is dropped when the block ends."""
    url = create_database(prefix)
    try:
        yield url
    finally:
        drop_database(url)


def _drop_databases() -> None:
    import psycopg

    try:
        for name in list(_created_databases):
            _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error as e:  # the run is over; say so rather than hide it
        print(f"could not drop test databases {_created_databases}: {e}", file=sys.stderr)


# Debugging one backend at a time: OMH_TEST_SCALEOUT_PARTS=db (or s3, jobs, comma-separated). Default: all.
PARTS = set(os.environ.get("OMH_TEST_SCALEOUT_PARTS", "db,s3,jobs").split(","))


def scaleout_env(log_dir: Path) -> dict[str, str]:
    """Settings for one new scale-out hub: its own database, bucket and queue prefix."""
    env: dict[str, str] = {}
    if "db" in PARTS:
        env["OMH_DATABASE_URL"] = create_database()
    if "s3" in PARTS:
        moto = moto_server(log_dir)
        bucket = f"omh-{uuid.uuid4().hex[:12]}"
        moto.create_bucket(bucket)
        env.update(
            {
                "OMH_BLOB_STORE": "s3",
                "OMH_S3_ENDPOINT_URL": moto.endpoint,
                "OMH_S3_BUCKET": bucket,
                "OMH_S3_REGION": "us-east-1",
                "OMH_S3_ACCESS_KEY_ID": S3_KEY,
                "OMH_S3_SECRET_ACCESS_KEY": S3_KEY,
            }
        )
    if "jobs" in PARTS:
        prefix = f"omh-test-{uuid.uuid4().hex[:12]}"
        if not _created_prefixes:
            atexit.register(_delete_queues)
        _created_prefixes.append(prefix)
        env.update(
            {
                "OMH_JOB_ENGINE": "dramatiq",
                "OMH_JOB_BROKER_URL": AMQP_URL,
                "OMH_JOB_QUEUE_PREFIX": prefix,
            }
        )
    return env


def _delete_queues() -> None:
    """Drop the RabbitMQ queues of this process's hubs (their workers are stopped by then)."""
    import pika

    from openmodelhub.jobs.dramatiq_engine import queue_names

    try:
        conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except pika.exceptions.AMQPError as e:
        print(f"could not delete test queues: {e}", file=sys.stderr)
        return
    try:
        ch = conn.channel()
        for prefix in _created_prefixes:
            for name in queue_names(prefix):
                ch.queue_delete(name)
    finally:
        conn.close()
