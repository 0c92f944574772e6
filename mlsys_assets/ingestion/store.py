"""Writing the raw layer: tables, the stream buffer and cursor, quarantine and the log.

Everything one materialization writes goes through ``transaction`` so that a partition is
replaced whole (delete + insert) together with its quarantine rows, its log rows and, for the
stream, the consumer cursor: a crash leaves the previous state, never half of a new one.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.raw_tables import create_raw_tables

INGEST_SCHEMA = "ingest"
INGEST_DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {INGEST_SCHEMA}",
    # Every event consumed from a stream, as received: partitions are rebuilt from here, so a
    # rerun of a weather partition never needs to re-read the stream.
    """CREATE TABLE IF NOT EXISTS ingest.weather_events (
        event_offset BIGINT PRIMARY KEY,
        partition_key VARCHAR NOT NULL,
        position VARCHAR NOT NULL,
        record VARCHAR NOT NULL,
        received_at TIMESTAMP NOT NULL
    )""",
    # Departure events as received, with the producer's publication time (their available_at).
    """CREATE TABLE IF NOT EXISTS ingest.departure_events (
        event_offset BIGINT PRIMARY KEY,
        partition_key VARCHAR NOT NULL,
        position VARCHAR NOT NULL,
        published_at VARCHAR,
        record VARCHAR NOT NULL,
        received_at TIMESTAMP NOT NULL
    )""",
    # A consumer's durable cursor: the last offset whose events are in its buffer table.
    """CREATE TABLE IF NOT EXISTS ingest.stream_cursors (
        topic VARCHAR NOT NULL,
        consumer VARCHAR NOT NULL,
        last_offset BIGINT NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        PRIMARY KEY (topic, consumer)
    )""",
]
QUARANTINE_COLUMNS = list(
    "source partition_key source_file contract_version reason record quarantined_at".split()
)
LOG_COLUMNS = list(
    "source partition_key run_id received accepted quarantined duplicates ingested_at".split()
)


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    create_raw_tables(conn)
    for ddl in INGEST_DDL:
        conn.execute(ddl)


def insert_frame(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Insert a DataFrame by column name (no-op when empty)."""
    if frame.empty:
        return
    name = f"_insert_{table.replace('.', '_')}"
    conn.register(name, frame)
    try:
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
    finally:
        conn.unregister(name)


def cursor(conn: duckdb.DuckDBPyConnection, topic: str, consumer: str) -> int:
    row = conn.execute(
        "SELECT last_offset FROM ingest.stream_cursors WHERE topic = ? AND consumer = ?",
        [topic, consumer],
    ).fetchone()
    return int(row[0]) if row else 0


def set_cursor(conn: duckdb.DuckDBPyConnection, topic: str, consumer: str, offset: int) -> None:
    conn.execute(
        """INSERT INTO ingest.stream_cursors VALUES (?, ?, ?, ?)
           ON CONFLICT (topic, consumer) DO UPDATE
           SET last_offset = excluded.last_offset, updated_at = excluded.updated_at""",
        [topic, consumer, offset, utc_now()],
    )
