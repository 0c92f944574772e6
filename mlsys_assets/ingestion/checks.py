"""The checks carried by the raw layer: reconciliation, freshness on event time, history.

Pure functions from a warehouse connection to an ``AssetCheckResult``; ``assets.py`` wires them
to the assets. Freshness compares the data's own event time with the replay clock, never the
time a job last ran, and judges every partition that is due, not just the newest one.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb

from mlsys_assets.clock import day_start_utc, ended_day, local_day
from mlsys_assets.ingestion.report import IngestReport
from mlsys_assets.nycflights import FIRST_DAY, LAST_DAY

WEATHER_MAX_LAG = dt.timedelta(hours=3)
# Nights are quiet: the last departures leave around 1 am and the first around 5 am, so the
# newest departure event may be this old without anything being late.
DEPARTURES_MAX_LAG = dt.timedelta(hours=6)
# source -> (table, date column)
DAILY_TABLES = {
    "flights": ("raw.flights", "flight_date"),
    "weather": ("raw.weather", "obs_date"),
    "departures": ("raw.departures", "flight_date"),
}


def contract_result(report: IngestReport, check_name: str) -> dg.AssetCheckResult:
    """Fails (ERROR) when a whole file or event was refused because its columns broke the contract."""
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=not report.broken,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "contract_version": report.contract_version,
            "refused": len(report.broken),
            "details": dg.MetadataValue.json(report.broken[:50]),
        },
        description="; ".join(sorted({b["reason"] for b in report.broken})) or None,
    )


def reconcile_daily(
    conn: duckdb.DuckDBPyConnection, source: str, start: dt.date, end: dt.date
) -> dg.AssetCheckResult:
    """Per partition of the range: received = accepted + quarantined + duplicates in the latest
    log row, and the tables hold exactly that (raw rows = accepted + replayed from quarantine)."""
    table, column = DAILY_TABLES[source]
    rows = conn.execute(
        f"""
        WITH latest AS (
            SELECT * FROM raw.ingestion_log
            WHERE source = $source AND partition_key BETWEEN $lo AND $hi
            QUALIFY row_number() OVER (PARTITION BY partition_key ORDER BY ingested_at DESC) = 1
        ), landed AS (
            SELECT strftime({column}, '%Y-%m-%d') AS k, count(*) AS n FROM {table}
            WHERE {column} BETWEEN $start AND $end GROUP BY 1
        ), held AS (
            SELECT partition_key AS k, count(*) AS n, count(replayed_at) AS replayed
            FROM raw.quarantine
            WHERE source = $source AND partition_key BETWEEN $lo AND $hi GROUP BY 1
        )
        SELECT l.partition_key, l.received, l.accepted, l.quarantined, l.duplicates,
               coalesce(landed.n, 0) AS table_rows, coalesce(held.n, 0) AS quarantine_rows,
               coalesce(held.replayed, 0) AS replayed
        FROM latest l LEFT JOIN landed ON landed.k = l.partition_key
        LEFT JOIN held ON held.k = l.partition_key ORDER BY 1""",
        {
            "source": source,
            "lo": start.isoformat(),
            "hi": end.isoformat(),
            "start": start,
            "end": end,
        },
    ).df()
    balanced = rows.received == rows.accepted + rows.quarantined + rows.duplicates
    landed = (rows.table_rows == rows.accepted + rows.replayed) & (
        rows.quarantine_rows == rows.quarantined
    )
    expected = (end - start).days + 1
    failing = rows[~(balanced & landed)]
    return dg.AssetCheckResult(
        check_name="reconciliation",
        passed=bool(failing.empty and len(rows) == expected),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "partitions_checked": len(rows),
            "partitions_expected": expected,
            "received": int(rows.received.sum()),
            "accepted": int(rows.accepted.sum()),
            "quarantined": int(rows.quarantined.sum()),
            "duplicates": int(rows.duplicates.sum()),
            "failing_partitions": dg.MetadataValue.json(failing.partition_key.tolist()[:50]),
        },
    )


def reconcile_reference(conn: duckdb.DuckDBPyConnection, table: str) -> dg.AssetCheckResult:
    """The latest snapshot's counts add up, and its quarantine holds what the log says."""
    row = conn.execute(
        """SELECT received, accepted, quarantined, duplicates FROM raw.ingestion_log
           WHERE source = ? ORDER BY ingested_at DESC LIMIT 1""",
        [table],
    ).fetchone()
    held = conn.execute(
        "SELECT count(*) FROM raw.quarantine WHERE source = ? AND replayed_at IS NULL", [table]
    ).fetchone()[0]
    received, accepted, quarantined, duplicates = row or (0, 0, 0, 0)
    return dg.AssetCheckResult(
        check_name="reconciliation",
        passed=(
            bool(row) and received == accepted + quarantined + duplicates and held == quarantined
        ),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "received": received,
            "accepted": accepted,
            "quarantined": quarantined,
            "duplicates": duplicates,
            "quarantine_rows": held,
        },
    )


def history_consistency(
    conn: duckdb.DuckDBPyConnection, table: str, key: str
) -> dg.AssetCheckResult:
    """Valid-from/valid-to history: one current version per key, versions never overlap."""
    several_current = conn.execute(
        f"""SELECT count(*) FROM (SELECT "{key}" FROM raw.{table} WHERE valid_to IS NULL
            GROUP BY 1 HAVING count(*) > 1)"""
    ).fetchone()[0]
    overlapping = conn.execute(
        f"""SELECT count(*) FROM (
              SELECT valid_from, valid_to,
                     lag(valid_to) OVER w AS prev_to, row_number() OVER w AS rn
              FROM raw.{table} WINDOW w AS (PARTITION BY "{key}" ORDER BY valid_from, ingested_at))
            WHERE (rn > 1 AND (prev_to IS NULL OR prev_to > valid_from)) OR valid_to < valid_from"""
    ).fetchone()[0]
    versions, keys = conn.execute(
        f'SELECT count(*), count(DISTINCT "{key}") FROM raw.{table}'
    ).fetchone()
    return dg.AssetCheckResult(
        check_name="history",
        passed=several_current == 0 and overlapping == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "keys": keys,
            "versions": versions,
            "keys_with_several_current": several_current,
            "overlapping_versions": overlapping,
        },
    )


def flights_freshness(
    conn: duckdb.DuckDBPyConnection, now: dt.datetime | None
) -> dg.AssetCheckResult:
    """Flights of day D must be in by the end of D+1 (replay clock); every due day is judged."""
    if now is None:
        return dg.AssetCheckResult(passed=True, metadata={"note": "no replay clock yet"})
    # Due when the end of D+1 (= start of D+2) is not after now.
    last_due = min(local_day(now) - dt.timedelta(days=2), LAST_DAY)
    if day_start_utc(last_due + dt.timedelta(days=2)) > now:
        last_due -= dt.timedelta(days=1)
    present = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT flight_date FROM raw.flights WHERE flight_date <= ?", [last_due]
        ).fetchall()
    }
    latest = conn.execute("SELECT max(outcome_available_at) FROM raw.flights").fetchone()[0]
    return _freshness_result(now, last_due, present, latest, max_lag=None)


def weather_freshness(
    conn: duckdb.DuckDBPyConnection, now: dt.datetime | None
) -> dg.AssetCheckResult:
    """Weather may lag the replay clock by 3 hours; every day over by then must have rows."""
    if now is None:
        return dg.AssetCheckResult(passed=True, metadata={"note": "no replay clock yet"})
    last_due = min(local_day(now - WEATHER_MAX_LAG) - dt.timedelta(days=1), LAST_DAY)
    present = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT obs_date FROM raw.weather WHERE obs_date <= ?", [last_due]
        ).fetchall()
    }
    latest = conn.execute("SELECT max(available_at) FROM raw.weather").fetchone()[0]
    return _freshness_result(now, last_due, present, latest, max_lag=WEATHER_MAX_LAG)


def departures_freshness(
    conn: duckdb.DuckDBPyConnection, now: dt.datetime | None
) -> dg.AssetCheckResult:
    """Every day that has ended has departures, and the newest one available (``available_at``,
    when mlsys could know it) is at most 6 hours behind the replay clock."""
    if now is None:
        return dg.AssetCheckResult(passed=True, metadata={"note": "no replay clock yet"})
    ended = ended_day(now)
    last_due = min(ended, LAST_DAY) if ended is not None else FIRST_DAY - dt.timedelta(days=1)
    present = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT flight_date FROM raw.departures WHERE flight_date <= ?", [last_due]
        ).fetchall()
    }
    latest = conn.execute(
        "SELECT max(available_at) FROM raw.departures WHERE available_at <= ?", [now]
    ).fetchone()[0]
    return _freshness_result(now, last_due, present, latest, max_lag=DEPARTURES_MAX_LAG)


def _freshness_result(
    now: dt.datetime,
    last_due: dt.date,
    present: set[dt.date],
    latest: dt.datetime | None,
    max_lag: dt.timedelta | None,
) -> dg.AssetCheckResult:
    due = [FIRST_DAY + dt.timedelta(days=i) for i in range((last_due - FIRST_DAY).days + 1)]
    missing = [d.isoformat() for d in due if d not in present]
    lag = (now - latest) if latest is not None else None
    stale = max_lag is not None and (lag is None or lag > max_lag)
    return dg.AssetCheckResult(
        passed=not missing and not stale,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "replay_now": now.isoformat(),
            "last_due_day": last_due.isoformat(),
            "days_due": len(due),
            "missing_or_stale_days": dg.MetadataValue.json(missing[:100]),
            "missing_count": len(missing),
            "latest_event_time": latest.isoformat() if latest else "none",
            "lag_hours": round(lag.total_seconds() / 3600, 2) if lag is not None else -1,
        },
        description=(
            f"missing or stale days: {', '.join(missing[:10])}"
            if missing
            else (f"latest event {lag} behind the replay clock" if stale else None)
        ),
    )
