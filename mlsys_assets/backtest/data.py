"""The backtest's data: the raw tables and offline features of the period, filled when missing.

The backtest judges policies on the data the real system would hold, so a missing period is
filled the real way: ``replay`` publishes the sources into the landing zone and ``ingest_range``
ingests them as one Dagster run (about a minute for the year). The offline feature tables are
then computed for the days that lack them, with the feature store's own ``compute_all``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from mlsys_assets.clock import read_state
from mlsys_assets.features import FEATURE_VIEWS
from mlsys_assets.features.offline import compute_all
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings


@dataclass(frozen=True)
class DataStatus:
    """What ``ensure_data`` had to do for the period (empty tuples: nothing)."""

    ingested: tuple[dt.date, dt.date] | None
    features_computed: tuple[dt.date, dt.date] | None
    flight_days: int


def _table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def missing_raw_days(
    conn: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date
) -> list[dt.date]:
    """Days of ``start..end`` with no flight in ``raw.flights`` (every day of 2013 has flights)."""
    if not _table_exists(conn, "raw", "flights"):
        return _days(start, end)
    present = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT flight_date FROM raw.flights WHERE flight_date BETWEEN ? AND ?",
            [start, end],
        ).fetchall()
    }
    return [d for d in _days(start, end) if d not in present]


_SOURCE_DAYS = {  # raw asset -> (table, local day column)
    "raw_flights": ("raw.flights", "flight_date"),
    "raw_weather": ("raw.weather", "obs_date"),
}


def _source_days(
    conn: duckdb.DuckDBPyConnection, source: str, start: dt.date, end: dt.date
) -> set[dt.date]:
    table, column = _SOURCE_DAYS[source]
    return {
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT {column} FROM {table} WHERE {column} BETWEEN ? AND ?", [start, end]
        ).fetchall()
    }


def missing_feature_days(
    conn: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date
) -> list[dt.date]:
    """Days whose source rows exist but are absent from a partitioned feature table.

    A view writes rows for every day its source has (flights for the outcome and congestion
    views, weather observations for the weather view), so a source day missing from the view's
    table was never computed. A missing table means nothing was computed at all.
    """
    missing: set[dt.date] = set()
    for view in FEATURE_VIEWS:
        schema, table = view.table.split(".")
        if not _table_exists(conn, schema, table):
            return _days(start, end)
        if not view.partitioned:
            continue
        expected: set[dt.date] = set()
        for source in view.sources:
            expected |= _source_days(conn, source, start, end)
        done = {
            r[0]
            for r in conn.execute(
                f"SELECT DISTINCT feature_date FROM {view.table} "
                "WHERE feature_date BETWEEN ? AND ?",
                [start, end],
            ).fetchall()
        }
        missing |= expected - done
    return sorted(missing)


def ensure_data(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    *,
    log: Callable[[str], None] = lambda _: None,
) -> DataStatus:
    """Make sure the warehouse holds the raw tables and offline features of ``start..end``."""
    from mlsys_assets.ingestion.run import ingest_range
    from mlsys_assets.replay import replay

    warehouse = Warehouse(path=str(settings.warehouse_path))
    with warehouse.connect() as conn:
        raw_missing = missing_raw_days(conn, start, end)
    ingested = None
    if raw_missing:
        first, last = raw_missing[0], raw_missing[-1]
        state = read_state(settings.landing_dir)
        if (
            state is None
            or not state["last_day"]
            or dt.date.fromisoformat(state["last_day"]) < last
        ):
            log(f"replaying the sources up to {last} into {settings.landing_dir}")
            faults = bool(state["faults"]) if state else False
            replay(settings, last, faults=faults, seed=state["seed"] if state else None)
        log(f"ingesting {first}..{last} (one Dagster run)")
        result = ingest_range(settings, first, last, log_level="WARNING")
        if not result.success:
            raise RuntimeError(f"ingestion of {first}..{last} failed (run {result.run_id})")
        ingested = (first, last)
    with warehouse.connect() as conn:
        still = missing_raw_days(conn, start, end)
        if still:
            raise RuntimeError(
                f"no flights in the warehouse for {len(still)} days, e.g. {still[0]}"
            )
        feature_missing = missing_feature_days(conn, start, end)
        computed = None
        if feature_missing:
            first, last = feature_missing[0], feature_missing[-1]
            log(f"computing the offline features for {first}..{last}")
            compute_all(conn, FEATURE_VIEWS, first, last)
            computed = (first, last)
    return DataStatus(ingested, computed, len(_days(start, end)))
