"""Planes, airlines, airports: snapshots of the source database kept as valid-from/to history.

Each run reads the whole table (a few thousand rows), validates it, and compares it with the
current versions in the warehouse: a new key opens a version valid from the row's
``created_at``; a changed row closes the current version at its ``updated_at`` and opens a new
one; a key gone from the source is closed at the snapshot time. Unchanged rows change nothing,
so reruns are no-ops. Changes between two snapshots are seen as one (snapshot CDC).
"""

from __future__ import annotations

import datetime as dt
import time

import duckdb
import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.ingestion.contracts import Contract, reference_contracts
from mlsys_assets.ingestion.report import IngestReport
from mlsys_assets.ingestion.store import (
    LOG_COLUMNS,
    QUARANTINE_COLUMNS,
    ensure_tables,
    insert_frame,
)
from mlsys_assets.ingestion.validate import validate
from mlsys_assets.resources.source_database import KEYS, SourceDatabase
from mlsys_assets.resources.warehouse import transaction

REFERENCE_TABLES = ("planes", "airlines", "airports")


def ingest_reference(
    conn: duckdb.DuckDBPyConnection,
    db: SourceDatabase,
    table: str,
    run_id: str,
    snapshot_at: dt.datetime,
    contract: Contract | None = None,
) -> IngestReport:
    """Fold the current source snapshot of ``table`` into ``raw.<table>``'s history."""
    began = time.perf_counter()
    contract = contract or reference_contracts()[table]
    key = KEYS[table]
    columns = list(contract.columns)
    snapshot = db.read(table)
    raw = snapshot[columns].astype(object).where(snapshot[columns].notna(), None)
    raw["_created_at"] = snapshot["created_at"]
    raw["_updated_at"] = snapshot["updated_at"]
    checked = validate(contract, raw)
    now = utc_now()
    quarantine = pd.DataFrame(
        {
            "source": table,
            "partition_key": None,
            "source_file": f"source_db:{table}",
            "contract_version": contract.version,
            "reason": checked.bad["reason"],
            "record": checked.bad["record"],
            "quarantined_at": now,
        }
    )
    counts = pd.DataFrame(
        [
            {
                "partition_key": None,
                "received": len(raw),
                "accepted": len(checked.good),
                "quarantined": len(checked.bad),
                "duplicates": len(checked.duplicates),
            }
        ]
    )
    log = counts.assign(source=table, run_id=run_id, ingested_at=now)[LOG_COLUMNS]
    good = checked.good[columns + ["_created_at", "_updated_at"]]
    ensure_tables(conn)
    with transaction(conn):
        opened, closed = _fold(conn, table, key, columns, good, snapshot[key], snapshot_at, now)
        conn.execute("DELETE FROM raw.quarantine WHERE source = ?", [table])
        insert_frame(conn, "raw.quarantine", quarantine[QUARANTINE_COLUMNS])
        insert_frame(conn, "raw.ingestion_log", log)
    return IngestReport(
        source=table,
        contract_version=contract.version,
        partitions=counts,
        seconds=time.perf_counter() - began,
        extra={"versions_opened": opened, "versions_closed": closed},
    )


def _fold(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    key: str,
    columns: list[str],
    good: pd.DataFrame,
    all_keys: pd.Series,
    snapshot_at: dt.datetime,
    now: dt.datetime,
) -> tuple[int, int]:
    """SCD2 merge of the valid snapshot rows into raw.<table>; returns (opened, closed)."""
    changed = " OR ".join(f's."{c}" IS DISTINCT FROM c."{c}"' for c in columns if c != key)
    cols = ", ".join(f'"{c}"' for c in columns)
    conn.register("_snapshot", good)
    conn.register("_source_keys", all_keys.to_frame(name="k"))
    try:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE _changes AS
                SELECT s.*, c."{key}" IS NULL AS is_new
                FROM _snapshot s LEFT JOIN raw.{table} c
                  ON c."{key}" = s."{key}" AND c.valid_to IS NULL
                WHERE c."{key}" IS NULL OR {changed}"""
        )
        closed = conn.execute(
            f"""UPDATE raw.{table} AS t SET valid_to = ch._updated_at FROM _changes ch
                WHERE t."{key}" = ch."{key}" AND t.valid_to IS NULL AND NOT ch.is_new"""
        ).fetchone()[0]
        conn.execute(
            f"""INSERT INTO raw.{table} ({cols}, valid_from, valid_to, ingested_at)
                SELECT {cols}, CASE WHEN is_new THEN _created_at ELSE _updated_at END, NULL, ?
                FROM _changes""",
            [now],
        )
        opened = conn.execute("SELECT count(*) FROM _changes").fetchone()[0]
        gone = conn.execute(
            f"""UPDATE raw.{table} SET valid_to = ?
                WHERE valid_to IS NULL AND "{key}" NOT IN (SELECT k FROM _source_keys)""",
            [snapshot_at],
        ).fetchone()[0]
        conn.execute("DROP TABLE _changes")
    finally:
        conn.unregister("_snapshot")
        conn.unregister("_source_keys")
    return int(opened), int(closed) + int(gone)
