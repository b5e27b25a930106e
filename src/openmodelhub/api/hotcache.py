"""Answers that depend only on the database and immutable content, reused while the database is unchanged.

The cache is emptied whenever the database's version changes; each lookup reads the version first, on a
private, never-writing connection, without a thread hop:
- SQLite: `PRAGMA data_version` changes whenever another connection (in any process: other workers, the
  CLI) commits (a few microseconds).
- PostgreSQL: the text of `pg_current_snapshot()` (xmin:xmax:in-progress ids). Two equal snapshots see the
  same set of committed transactions, so any commit anywhere in the cluster changes it; read-only
  transactions get no id and change nothing. One loopback round trip (~0.1 ms), much less than the lookups it
  saves, and exact across processes and hosts, unlike a LISTEN/NOTIFY invalidation, which arrives late.
Versions are read *before* computing an answer, so an answer computed across a concurrent write is stored
under the older version and dropped at the next lookup. Other databases get no cache (every lookup misses).
"""

import asyncio
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine

CAPACITY = 4096


class _SqliteVersion:
    def __init__(self, database: str) -> None:
        self._conn = sqlite3.connect(database, check_same_thread=False, isolation_level=None)

    def read(self) -> Any:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


class _PostgresVersion:
    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: Any = None

    def read(self) -> Any:
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            return self._conn.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
        except psycopg.Error:
            # The database went away: no cache now, a new connection at the next lookup.
            self.close()
            return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class HotCache:
    def __init__(self, engine: Engine, capacity: int = CAPACITY) -> None:
        self._source: _SqliteVersion | _PostgresVersion | None = None
        url = engine.url
        database = url.database
        if url.get_backend_name() == "sqlite" and database and database != ":memory:":
            self._source = _SqliteVersion(database)
        elif url.get_backend_name() == "postgresql":
            self._source = _PostgresVersion(
                url.set(drivername="postgresql").render_as_string(hide_password=False)
            )
        self._capacity = capacity
        self._lock = threading.Lock()
        self._version: Any = None
        self._data: dict[Any, Any] = {}
        # Answers being computed now, by key; set when done. Used from the event loop only.
        self.flights: dict[Any, asyncio.Event] = {}

    def version(self) -> Any:
        """The database's current version (None: no cache); a changed version empties the cache."""
        if self._source is None:
            return None
        with self._lock:
            version = self._source.read()
            if version is None:
                self._data.clear()
                self._version = None
                return None
            if version != self._version:
                self._data.clear()
                self._version = version
            return version

    def get(self, key: Any) -> tuple[Any, Any]:
        """(version to store a fresh answer under, the cached answer or None)."""
        version = self.version()
        if version is None:
            return None, None
        return version, self._data.get(key)

    def put(self, version: Any, key: Any, value: Any) -> None:
        if version is None:
            return
        with self._lock:
            if version != self._version:
                return
            if len(self._data) >= self._capacity:
                self._data.clear()
            self._data[key] = value

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
