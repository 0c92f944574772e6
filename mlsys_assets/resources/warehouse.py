"""The offline warehouse: DuckDB, one file under ``MLSYS_HOME``.

DuckDB locks the file per process: one writing process, or any number of read-only ones, never
both. So readers must never fail writers: a reader (a sensor, a CLI command, the demo's summary)
opens a read-only connection, fetches what it needs into memory and closes it at once
(``read_df``/``connect(read_only=True)`` around queries only, never around slow Python), and a
writer that finds the file locked retries with a backoff for ``lock_timeout_seconds``
(``MLSYS_BACKENDS__WAREHOUSE_LOCK_TIMEOUT_SECONDS``), then fails with ``WarehouseLocked``: one line naming
the process that holds the lock, not DuckDB's traceback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from pydantic import Field


class WarehouseLocked(RuntimeError):
    """Another process kept the warehouse locked for longer than this connection may wait."""


_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>\S+) \(PID (?P<pid>\d+)\)")


def _holder(message: str) -> str:
    """Who holds the lock, from DuckDB's message: 'PID 123 (python3.11)' if it says."""
    match = _HOLDER.search(message)
    if match is None:
        return "another process"
    return f"PID {match['pid']} ({Path(match['exe']).name})"


def is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


class Warehouse(dg.ConfigurableResource):
    """DuckDB warehouse holding the raw, staging, feature, training, scoring and monitoring tables."""

    path: str = Field(description="Path of the DuckDB file.")
    lock_timeout_seconds: float = Field(
        default=120.0, description="How long to wait for another process's lock, then fail."
    )

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the warehouse, waiting (backoff up to 1 s) for another process's lock.

        Raises ``WarehouseLocked`` once ``lock_timeout_seconds`` have passed. A read-only
        connection must be short: while it is open no process can write.
        """
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        delay = 0.05
        while True:
            try:
                conn = duckdb.connect(self.path, read_only=read_only and Path(self.path).exists())
                break
            except duckdb.IOException as exc:
                if not is_lock_error(exc):
                    raise
                waited = time.monotonic() - started
                if waited >= self.lock_timeout_seconds:
                    raise WarehouseLocked(
                        f"the warehouse {self.path} stayed locked by {_holder(str(exc))} for "
                        f"{waited:.0f} s, longer than this {'reader' if read_only else 'writer'} "
                        "waits (MLSYS_BACKENDS__WAREHOUSE_LOCK_TIMEOUT_SECONDS); a process keeps a "
                        "connection open: close it and retry"
                    ) from None
                time.sleep(min(delay, max(0.0, self.lock_timeout_seconds - waited)))
                delay = min(delay * 2, 1.0)
        try:
            yield conn
        finally:
            conn.close()

    def read_df(self, sql: str, params: list[object] | None = None) -> pd.DataFrame:
        """One query's result in memory, the read-only connection closed before returning."""
        with self.connect(read_only=True) as conn:
            return conn.execute(sql, params or []).df()


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One DuckDB transaction: committed when the block ends, rolled back if it raises."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
