"""Replaying quarantined rows once the contract or the data is fixed.

Each pending row (``replayed_at IS NULL``) of a daily source is judged again by the current
contract, exactly as ingestion would judge it; the rows that now pass and whose natural key is
not in the raw table yet are inserted and marked ``replayed_at``, in one transaction. Rows that
still fail stay where they are with their original reason. Reference tables need no replay: each
snapshot run judges every source row again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.ingestion.contracts import Contract, current_contract
from mlsys_assets.ingestion.flights import SOURCE_FILE
from mlsys_assets.ingestion.store import ensure_tables, insert_frame
from mlsys_assets.ingestion.validate import PARTITION, RECORD, validate
from mlsys_assets.raw_tables import canonical_flights, canonical_weather
from mlsys_assets.resources.warehouse import transaction

REPLAYABLE = ("flights", "weather")
_KEYS = {
    "flights": ("raw.flights", ["flight_date", "carrier", "flight", "origin"]),
    "weather": ("raw.weather", ["origin", "time_hour"]),
}


@dataclass
class ReplayOutcome:
    source: str
    pending: int
    replayed: int
    still_failing: int
    already_present: int


def replay_quarantine(
    conn: duckdb.DuckDBPyConnection, source: str, contract: Contract | None = None
) -> ReplayOutcome:
    """Move the quarantined rows of ``source`` that now pass into the raw table."""
    if source not in REPLAYABLE:
        raise ValueError(f"cannot replay {source!r}: one of {REPLAYABLE}")
    contract = contract or current_contract(source)
    ensure_tables(conn)
    pending = conn.execute(
        """SELECT rowid AS _rowid, partition_key, source_file, record FROM raw.quarantine
           WHERE source = ? AND replayed_at IS NULL ORDER BY rowid""",
        [source],
    ).df()
    if pending.empty:
        return ReplayOutcome(source, 0, 0, 0, 0)
    with transaction(conn):
        return _replay(conn, source, contract, pending)


def _replay(
    conn: duckdb.DuckDBPyConnection, source: str, contract: Contract, pending: pd.DataFrame
) -> ReplayOutcome:
    records = [json.loads(r) for r in pending["record"]]
    raw = contract.apply_aliases(pd.DataFrame.from_records(records))
    if source == "flights":
        # records were read as text: give the contract text, as ingestion does
        raw = raw.astype(object).where(raw.notna(), None)
    shapes_ok = [contract.column_problems(list(r)) is None for r in records]
    raw = raw.reindex(columns=list(contract.columns))
    raw[PARTITION] = pending["partition_key"].to_numpy()
    raw["_rowid"] = pending["_rowid"].to_numpy()
    raw[SOURCE_FILE] = pending["source_file"].to_numpy()
    if source == "weather":
        raw[RECORD] = pending["record"].to_numpy()
    raw = raw[shapes_ok]
    checked = validate(contract, raw)
    good = checked.good
    table, key = _KEYS[source]
    now = utc_now()
    if source == "flights":
        rows = canonical_flights(good)
        rows["source_file"] = good[SOURCE_FILE].to_numpy()
    else:
        rows = canonical_weather(good)
        rows["event_offset"] = good[SOURCE_FILE].str.rsplit("@", n=1).str[-1].astype("int64")
        rows = rows.set_axis(good.index)
    rows["ingested_at"] = now
    rows["_rowid"] = good["_rowid"].to_numpy()
    conn.register("_candidates", rows)
    try:
        join = " AND ".join(f"c.{k} = t.{k}" for k in key)
        present = conn.execute(f"SELECT c._rowid FROM _candidates c JOIN {table} t ON {join}").df()[
            "_rowid"
        ]
    finally:
        conn.unregister("_candidates")
    fresh = rows[~rows["_rowid"].isin(present)]
    insert_frame(conn, table, fresh.drop(columns="_rowid"))
    marked = pd.DataFrame({"_rowid": fresh["_rowid"].to_numpy()})
    if not marked.empty:
        conn.register("_marked", marked)
        try:
            conn.execute(
                """UPDATE raw.quarantine SET replayed_at = ?
                   WHERE rowid IN (SELECT _rowid FROM _marked)""",
                [now],
            )
        finally:
            conn.unregister("_marked")
    return ReplayOutcome(
        source=source,
        pending=len(pending),
        replayed=len(fresh),
        still_failing=len(pending) - len(good),
        already_present=len(present),
    )


def summary(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Quarantined rows per source and reason (pending vs replayed)."""
    ensure_tables(conn)
    return conn.execute(
        rf"""SELECT source, contract_version,
                  regexp_replace(regexp_replace(reason, {_VALUES}, '…', 'g'),
                                 'for -?[0-9.]+', 'for …', 'g') AS reason,
                  count(*) FILTER (WHERE replayed_at IS NULL) AS pending,
                  count(replayed_at) AS replayed
           FROM raw.quarantine GROUP BY ALL ORDER BY source, pending DESC"""
    ).df()


# SQL literal of a regex matching 'quoted values' and [bracketed lists] inside a reason.
_VALUES = "'" + r"""''[^'']*''|\[[^\]]*\]""" + "'"
