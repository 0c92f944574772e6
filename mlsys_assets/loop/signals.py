"""What the sensors read: cheap, read-only looks at the warehouse, the registry and Dagster.

A sensor tick must never wait long for the warehouse (a run may hold DuckDB's write lock), so
reads here give up after a few seconds and the sensor skips that tick instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from mlsys_assets.model_contract import TAG_TEST_WINDOW
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse, WarehouseLocked

ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
DATA_DAY_TAG = "mlsys/data_day"


class WarehouseBusy(RuntimeError):
    """A run holds the warehouse's write lock: try again next tick."""


@contextmanager
def read_warehouse(
    warehouse: Warehouse, wait_seconds: float = 5.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for a few queries, closed when the block ends.

    While it is open no run can write the warehouse: keep the block to the queries themselves.
    """
    quick = Warehouse(path=warehouse.path, lock_timeout_seconds=wait_seconds)
    try:
        with quick.connect(read_only=True) as conn:
            yield conn
    except WarehouseLocked as exc:
        raise WarehouseBusy(str(exc)) from exc


def _has_flights(conn: duckdb.DuckDBPyConnection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'raw' AND table_name = 'flights'"
    ).fetchone()
    return bool(row and row[0])


def latest_ingested_day(conn: duckdb.DuckDBPyConnection) -> dt.date | None:
    if not _has_flights(conn):
        return None  # nothing ingested yet
    row = conn.execute("SELECT max(flight_date) FROM raw.flights").fetchone()
    return row[0] if row else None


def last_training_day(tracking: Tracking) -> dt.date | None:
    """The last day of data the newest registered version saw (end of its test window)."""
    versions = tracking.client().search_model_versions(f"name='{tracking.model_name}'")
    if not versions:
        return None
    newest = max(versions, key=lambda v: int(v.version))
    window = newest.tags.get(TAG_TEST_WINDOW)
    return dt.date.fromisoformat(window.split("/")[1]) if window else None


def labelled_rows_since(conn: duckdb.DuckDBPyConnection, day: dt.date | None) -> int:
    """Flights with a known outcome after ``day`` (all of them when nothing was trained yet)."""
    if not _has_flights(conn):
        return 0
    row = conn.execute(
        "SELECT count(*) FROM raw.flights WHERE flight_date > coalesce(?, DATE '1900-01-01')",
        [day],
    ).fetchone()
    return int(row[0]) if row else 0


def retrain_blocked(
    instance: dg.DagsterInstance, challenger: str | None, data_day: dt.date, cooldown_days: int
) -> str | None:
    """Why a retrain must not start now (None: it may)."""
    if challenger is not None:
        return f"challenger v{challenger} is still in canary"
    for job in ("retrain", "daily_pipeline"):  # never train on half-computed features
        active = instance.get_runs(dg.RunsFilter(job_name=job, statuses=ACTIVE), limit=1)
        if active:
            return f"{job} run {active[0].run_id[:8]} is still running"
    last = instance.get_runs(dg.RunsFilter(job_name="retrain"), limit=1)
    if last and DATA_DAY_TAG in last[0].tags:
        previous = dt.date.fromisoformat(last[0].tags[DATA_DAY_TAG])
        if (data_day - previous).days < cooldown_days:
            return f"last retrain was on data of {previous}, cooldown {cooldown_days} days"
    return None
