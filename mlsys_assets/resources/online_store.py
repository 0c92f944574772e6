"""The online feature store: the newest value of each feature view per entity, with its event time.

A deliberately small interface (``write_batch``, ``read``, ``read_state``/``watermark``) that the
embedded SQLite store and the Redis store (``redis_online_store.py``) implement. Values are opaque
payloads (the feature layer encodes them); the store only guarantees per-key monotonicity (an
older event never overwrites a newer one) and that rows and materialization state written in
one batch become visible together.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import dagster as dg
from pydantic import Field, PrivateAttr


class OnlineRow(NamedTuple):
    """One entity's newest values of one view: ``key`` is ``"<view>:<entity key>"``."""

    key: str
    event_us: int  # event time, microseconds since the epoch (naive UTC)
    valid_to_us: int | None  # end of validity (SCD2), None when open-ended
    payload: str  # the view's values, encoded by the feature layer


OnlineRecord = tuple[int, int | None, str]
"""What ``read`` returns per key: (event_us, valid_to_us, payload)."""


class OnlineStore(dg.ConfigurableResource, ABC):
    """Key-value store of feature values for serving."""

    @abstractmethod
    def write_batch(
        self, rows: Sequence[OnlineRow], state: Mapping[str, str | None] | None = None
    ) -> int:
        """Upsert ``rows`` (skipping any older than the stored event) and set ``state`` entries
        (None deletes one), atomically. Returns the number of rows offered."""

    @abstractmethod
    def read(self, keys: Sequence[str]) -> list[OnlineRecord | None]:
        """The records of ``keys``, aligned with them (None where absent)."""

    @abstractmethod
    def read_state(self) -> dict[str, str]:
        """Materialization state (watermarks, progress), as written by ``write_batch``."""

    def watermark(self, name: str) -> str | None:
        """One state entry, e.g. the last materialization watermark of a view."""
        return self.read_state().get(name)


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS online_features (
        key TEXT PRIMARY KEY, event_us INTEGER NOT NULL, valid_to_us INTEGER, payload TEXT NOT NULL
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS online_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_UPSERT = """
    INSERT INTO online_features (key, event_us, valid_to_us, payload) VALUES (?, ?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET
        event_us = excluded.event_us, valid_to_us = excluded.valid_to_us, payload = excluded.payload
    WHERE excluded.event_us >= online_features.event_us
"""


class SQLiteOnlineStore(OnlineStore):
    """SQLite in WAL mode: readers never block the writer, nor the writer the readers.

    Each thread keeps its own open connection (serving reads on its hot path without reconnecting).
    """

    path: str = Field(description="Path of the SQLite file (settings.online_store_path).")
    busy_timeout_ms: int = 30_000

    _local: threading.local = PrivateAttr(default_factory=threading.local)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _opened: list[sqlite3.Connection] = PrivateAttr(default_factory=list)
    _read_sql: dict[int, str] = PrivateAttr(default_factory=dict)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, cached_statements=256
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            for ddl in _SCHEMA:
                conn.execute(ddl)
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def write_batch(
        self, rows: Sequence[OnlineRow], state: Mapping[str, str | None] | None = None
    ) -> int:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_UPSERT, rows)
            for name, value in (state or {}).items():
                if value is None:
                    conn.execute("DELETE FROM online_state WHERE name = ?", (name,))
                else:
                    conn.execute(
                        "INSERT INTO online_state (name, value) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                        (name, value),
                    )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(rows)

    def read(self, keys: Sequence[str]) -> list[OnlineRecord | None]:
        n = len(keys)
        if n == 0:
            return []
        sql = self._read_sql.get(n)
        if sql is None:
            sql = (
                "SELECT key, event_us, valid_to_us, payload FROM online_features "
                f"WHERE key IN ({', '.join('?' * n)})"
            )
            self._read_sql[n] = sql
        found = {row[0]: row[1:] for row in self._conn().execute(sql, keys)}
        return [found.get(key) for key in keys]

    def read_state(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT name, value FROM online_state").fetchall())

    def count(self) -> int:
        """Number of stored keys (for metadata and readiness)."""
        row = self._conn().execute("SELECT count(*) FROM online_features").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close every connection this store opened (any thread)."""
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
        self._local = threading.local()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()
