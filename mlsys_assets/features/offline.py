"""Offline computation: each feature view's table in the DuckDB schema ``features``, for a day range.

One SQL statement per view kind, generated from the view's definition. Every row carries the
``event_timestamp`` at which its value became known, and only reads raw rows that were available
by then (``outcome_available_at``, ``available_at``, ``valid_from``): recomputing a range after
later data lands leaves earlier rows unchanged (time travel). A range is replaced atomically
(delete + insert in one transaction), so a partition is recomputable at will.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from mlsys_assets.clock import utc_now
from mlsys_assets.features.spec import FeatureView
from mlsys_assets.nycflights import FIRST_DAY, LOCAL_TZ
from mlsys_assets.resources.warehouse import transaction

SCHEMA = "features"
_SQL_TYPES = {"float64": "DOUBLE", "string": "VARCHAR"}


def _interval(delta: dt.timedelta) -> str:
    return f"INTERVAL '{int(delta.total_seconds() * 1_000_000)} microseconds'"


def ddl(view: FeatureView) -> str:
    """CREATE TABLE statement of a view's offline table."""
    cols = []
    for key in view.entity.join_keys:
        key_type = view.entity.derived[key].sql_type if key in view.entity.derived else "VARCHAR"
        cols.append(f"{key} {key_type} NOT NULL")
    cols.append("event_timestamp TIMESTAMP NOT NULL")
    if view.has_valid_to:
        cols.append("valid_to TIMESTAMP")
    if view.partitioned:
        cols.append("feature_date DATE NOT NULL")
    cols += [f"{f.name} {_SQL_TYPES[f.dtype]}" for f in view.columns]
    cols.append("computed_at TIMESTAMP NOT NULL")
    return f"CREATE TABLE IF NOT EXISTS {view.table} (\n    " + ",\n    ".join(cols) + "\n)"


def ensure_tables(conn: duckdb.DuckDBPyConnection, views: tuple[FeatureView, ...]) -> None:
    """Create the ``features`` schema and the views' tables (idempotent)."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for view in views:
        conn.execute(ddl(view))


def _outcome_stats_sql(view: FeatureView) -> str:
    keys = ", ".join(view.entity.join_keys)
    windows: tuple[int, ...] = view.params["windows"]
    late = int(view.params["late_minutes"])
    longest = max(windows)
    aggs = []
    for days, (share, mean, count) in zip(
        windows, zip(*[iter(view.stored)] * 3, strict=True), strict=True
    ):
        in_window = f"k.flight_date > d.day - {days}"
        aggs += [
            f"sum(k.late) FILTER ({in_window}) / nullif(sum(k.n) FILTER ({in_window}), 0)"
            f" AS {share.name}",
            f"sum(k.delay_sum) FILTER ({in_window}) / nullif(sum(k.n) FILTER ({in_window}), 0)"
            f" AS {mean.name}",
            f"CAST(coalesce(sum(k.n) FILTER ({in_window}), 0) AS DOUBLE) AS {count.name}",
        ]
    return f"""
        WITH days AS (
            SELECT CAST(range AS DATE) AS day,
                   timezone('UTC', timezone('{LOCAL_TZ}', CAST(CAST(range AS DATE) + 1 AS TIMESTAMP)))
                       AS day_end
            FROM range(CAST($start AS TIMESTAMP), CAST($end AS TIMESTAMP) + INTERVAL 1 DAY,
                       INTERVAL 1 DAY)
        ), daily AS (
            SELECT {keys}, flight_date, outcome_available_at,
                   count(arr_delay) AS n,
                   count(*) FILTER (WHERE arr_delay >= {late}) AS late,
                   sum(arr_delay) AS delay_sum
            FROM raw.flights
            WHERE flight_date BETWEEN CAST($start AS DATE) - {longest - 1} AND CAST($end AS DATE)
            GROUP BY ALL
        )
        SELECT {", ".join(f"k.{k}" for k in view.entity.join_keys)},
               d.day_end AS event_timestamp, d.day AS feature_date,
               {", ".join(aggs)},
               CAST($computed_at AS TIMESTAMP) AS computed_at
        FROM days d
        JOIN daily k
          ON k.flight_date BETWEEN d.day - {longest - 1} AND d.day
         AND k.outcome_available_at <= d.day_end  -- only outcomes known by the row's event time
        GROUP BY ALL
    """


def _congestion_sql(view: FeatureView) -> str:
    lead = _interval(view.params["schedule_lead"])
    hour_col, prev_col = (f.name for f in view.stored)
    return f"""
        WITH hourly AS (
            SELECT origin, date_trunc('hour', scheduled_departure) AS dep_hour,
                   min(flight_date) AS feature_date, count(*) AS n
            FROM raw.flights
            WHERE flight_date BETWEEN CAST($start AS DATE) - 1 AND CAST($end AS DATE)
            GROUP BY ALL
        )
        SELECT h.origin, h.dep_hour, h.dep_hour - {lead} AS event_timestamp, h.feature_date,
               CAST(h.n AS DOUBLE) AS {hour_col},
               CAST(coalesce(p.n, 0) AS DOUBLE) AS {prev_col},
               CAST($computed_at AS TIMESTAMP) AS computed_at
        FROM hourly h
        LEFT JOIN hourly p ON p.origin = h.origin AND p.dep_hour = h.dep_hour - INTERVAL 1 HOUR
        WHERE h.feature_date BETWEEN CAST($start AS DATE) AND CAST($end AS DATE)
    """


def _weather_sql(view: FeatureView) -> str:
    columns: dict[str, str] = view.params["columns"]
    values = ", ".join(f"CAST({raw} AS DOUBLE) AS {name}" for name, raw in columns.items())
    return f"""
        SELECT origin, available_at AS event_timestamp, obs_date AS feature_date, {values},
               CAST($computed_at AS TIMESTAMP) AS computed_at
        FROM raw.weather
        WHERE obs_date BETWEEN CAST($start AS DATE) AND CAST($end AS DATE)
    """


def _plane_sql(view: FeatureView) -> str:  # noqa: ARG001 - same signature as the others
    return """
        SELECT tailnum, valid_from AS event_timestamp, valid_to,
               CAST(seats AS DOUBLE) AS plane_seats, CAST(engines AS DOUBLE) AS plane_engines,
               manufacturer AS plane_manufacturer, CAST(year AS DOUBLE) AS plane_year_built,
               CAST($computed_at AS TIMESTAMP) AS computed_at
        FROM raw.planes
        QUALIFY row_number() OVER (PARTITION BY tailnum, valid_from ORDER BY ingested_at DESC) = 1
    """


_SQL = {
    "outcome_stats": _outcome_stats_sql,
    "congestion": _congestion_sql,
    "weather": _weather_sql,
    "plane": _plane_sql,
}


def view_select_sql(view: FeatureView) -> str:
    """The view's SELECT over the ``raw`` schema (parameters ``$start``, ``$end`` for a
    partitioned view, ``$computed_at``): its one definition, run on the warehouse by the daily
    runs and on the stream processor's in-memory tables of newly arrived raw rows."""
    return _SQL[view.kind](view)


def raw_date_range(conn: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date] | None:
    """First and last local day present in raw.flights/raw.weather, or None when empty."""
    row = conn.execute(
        """SELECT min(d), max(d) FROM (
               SELECT flight_date AS d FROM raw.flights UNION ALL SELECT obs_date FROM raw.weather)"""
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def compute_view(
    conn: duckdb.DuckDBPyConnection,
    view: FeatureView,
    start: dt.date,
    end: dt.date,
    *,
    computed_at: dt.datetime | None = None,
) -> int:
    """Replace the view's rows for local days ``start..end`` (the whole table if unpartitioned).

    Returns the number of rows written. Atomic: readers see the old or the new range.
    """
    ensure_tables(conn, (view,))
    stamp = computed_at or utc_now()
    params: dict[str, Any] = {"computed_at": stamp}
    sql = view_select_sql(view)
    if view.partitioned:
        params |= {"start": start, "end": end}
    with transaction(conn):
        if view.partitioned:
            conn.execute(
                f"DELETE FROM {view.table} WHERE feature_date BETWEEN ? AND ?", [start, end]
            )
        else:
            conn.execute(f"DELETE FROM {view.table}")
        conn.execute(f"INSERT INTO {view.table} BY NAME {sql}", params)
        written = conn.execute(
            f"SELECT count(*) FROM {view.table} WHERE computed_at = ?", [stamp]
        ).fetchone()
    return int(written[0]) if written else 0


def compute_all(
    conn: duckdb.DuckDBPyConnection,
    views: tuple[FeatureView, ...],
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> dict[str, int]:
    """Compute every view for a range (default: every day in the raw tables); rows per view."""
    if start is None or end is None:
        span = raw_date_range(conn)
        if span is None:
            span = (FIRST_DAY, FIRST_DAY)
        start, end = start or span[0], end or span[1]
    return {view.name: compute_view(conn, view, start, end) for view in views}
