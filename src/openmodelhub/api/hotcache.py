"""Answers that depend only on the database and immutable content, reused while the database is unchanged.

SQLite's `PRAGMA data_version` changes whenever another connection (in any process: other workers, the CLI)
commits. One private, never-writing connection reads it per lookup (a few microseconds, no thread hop); a new
value empties the cache. Versions are read *before* computing an answer, so an answer computed across a
concurrent write is stored under the older version and dropped at the next lookup. Other databases get no
cache (every lookup misses).
"""

import asyncio
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine

CAPACITY = 4096


class HotCache:
    def __init__(self, engine: Engine, capacity: int = CAPACITY) -> None:
        self._conn: sqlite3.Connection | None = None
        database = engine.url.database
        if engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
            self._conn = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._capacity = capacity
        self._lock = threading.Lock()
        self._version: int | None = None
        self._data: dict[Any, Any] = {}
        # Answers being computed now, by key; set when done. Used from the event loop only.
        self.flights: dict[Any, asyncio.Event] = {}

    def version(self) -> int | None:
        """The database's current version (None: no cache); a changed version empties the cache."""
        if self._conn is None:
            return None
        with self._lock:
            version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            if version != self._version:
                self._data.clear()
                self._version = version
            return version

    def get(self, key: Any) -> tuple[int | None, Any]:
        """(version to store a fresh answer under, the cached answer or None)."""
        version = self.version()
        if version is None:
            return None, None
        return version, self._data.get(key)

    def put(self, version: int | None, key: Any, value: Any) -> None:
        if version is None:
            return
        with self._lock:
            if version != self._version:
                return
            if len(self._data) >= self._capacity:
                self._data.clear()
            self._data[key] = value

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
