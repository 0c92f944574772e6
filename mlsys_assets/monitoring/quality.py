"""Daily data quality per source and feature: missing values, ranges, unseen categories, volume.

Each finding is one row (source, column, check, value, expected, warn and error thresholds,
severity) so the asset checks, the UI and the history read the same numbers. Missing shares are
judged against the reference (a feature that is missing 75% of the time in training, like the
wind gust, is not a finding), ranges against declared physical bounds, categories against the
values the model was trained on, volume against the same weekday of the previous weeks.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from mlsys_assets.monitoring.reference import Reference, feature_columns
from mlsys_assets.settings import Settings

OK, WARN, ERROR = "ok", "warn", "error"
MISSING, RANGE, NEW_CATEGORY, VOLUME = "missing", "range", "new_category", "volume"
CHECKS = (MISSING, RANGE, NEW_CATEGORY, VOLUME)
INF = math.inf

WEATHER_RANGES: dict[str, tuple[float, float]] = {
    "temp": (-40.0, 130.0),
    "wind_speed": (0.0, 150.0),
    "wind_gust": (0.0, 200.0),
    "precip": (0.0, 10.0),
    "visib": (0.0, 10.0),
    "pressure": (900.0, 1100.0),
}
RAW_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "raw.flights": {
        "distance": (1.0, 6000.0),
        "dep_delay": (-120.0, 1500.0),
        "arr_delay": (-120.0, 1500.0),
        "air_time": (1.0, 1000.0),
        "sched_dep_time": (0.0, 2400.0),
    },
    "raw.weather": {**WEATHER_RANGES, "humid": (0.0, 100.0), "wind_dir": (0.0, 360.0)},
    "raw.departures": {},
}
RAW_MISSING: dict[str, list[str]] = {
    "raw.flights": ["tailnum", "dep_time", "arr_time", "arr_delay", "air_time"],
    "raw.weather": list(RAW_RANGES["raw.weather"]),
    # A departure without its actual time that is not a cancellation is a broken feed; the
    # share missing is judged against the reference (where it is the cancellation rate).
    "raw.departures": ["tailnum", "actual_departure"],
}
RAW_CATEGORIES: dict[str, list[str]] = {"raw.flights": ["carrier", "origin", "dest"]}
RAW_DAY_COLUMN = {
    "raw.flights": "flight_date",
    "raw.weather": "obs_date",
    "raw.departures": "flight_date",
}
FEATURE_RANGES: dict[str, tuple[float, float]] = {
    "distance": (1.0, 6000.0),
    "hour": (0.0, 23.0),
    "weekday": (0.0, 6.0),
    "month": (1.0, 12.0),
    "days_to_holiday": (0.0, 366.0),
    "days_since_holiday": (0.0, 366.0),
    "origin_departures_hour": (0.0, 500.0),
    "origin_departures_prev_hour": (0.0, 500.0),
    "plane_seats": (1.0, 1000.0),
    "plane_engines": (1.0, 8.0),
    "plane_age": (0.0, 100.0),
    **{f"weather_{name}": bounds for name, bounds in WEATHER_RANGES.items()},
}


def feature_range(name: str) -> tuple[float, float] | None:
    """Declared bounds of a numeric feature (by name pattern for the windowed statistics)."""
    if name in FEATURE_RANGES:
        return FEATURE_RANGES[name]
    if "_late_share_" in name:
        return (0.0, 1.0)
    if "_mean_arr_delay_" in name:
        return (-120.0, 1500.0)
    if name.endswith("d") and "_flights_" in name:
        return (0.0, INF)
    return None


@dataclass(frozen=True)
class Limits:
    warn: float
    error: float

    def severity(self, value: float) -> str:
        if value != value:  # NaN: nothing to judge
            return OK
        if value > self.error:
            return ERROR
        return WARN if value > self.warn else OK


def limits(settings: Settings) -> dict[str, Limits]:
    return {
        MISSING: Limits(settings.monitoring.missing_warn, settings.monitoring.missing_error),
        RANGE: Limits(settings.monitoring.range_warn, settings.monitoring.range_error),
        NEW_CATEGORY: Limits(
            settings.monitoring.new_category_warn, settings.monitoring.new_category_error
        ),
        VOLUME: Limits(settings.monitoring.volume_warn, settings.monitoring.volume_error),
    }


def _row(source: str, column: str, check: str, value: float, expected: float | None,
         lim: Limits, detail: str = "") -> dict[str, object]:  # fmt: skip
    return {
        "source": source,
        "column_name": column,
        "check_name": check,
        "value": float(value),
        "expected": None if expected is None else float(expected),
        "warn": lim.warn,
        "error": lim.error,
        "severity": lim.severity(value),
        "detail": detail,
    }


def frame_findings(
    source: str,
    frame: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    missing: list[str],
    ranges: dict[str, tuple[float, float]],
    categories: dict[str, set[str]],
    lims: dict[str, Limits],
) -> list[dict[str, object]]:
    """Missing-share excess, out-of-range share and unseen-category share of one frame."""
    rows: list[dict[str, object]] = []
    n = len(frame)
    if n == 0:
        return rows
    for column in missing:
        share = float(frame[column].isna().mean())
        ref = (
            float(reference[column].isna().mean())
            if column in reference and len(reference)
            else 0.0
        )
        detail = f"{share:.1%} missing vs {ref:.1%} in the reference"
        rows.append(
            _row(source, column, MISSING, max(share - ref, 0.0), ref, lims[MISSING], detail)
        )
    for column, (lo, hi) in ranges.items():
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = (values < lo) | (values > hi)
        examples = ", ".join(f"{v:g}" for v in values[bad].unique()[:5])
        detail = f"{int(bad.sum())} outside [{lo:g}, {hi:g}]" + (
            f": {examples}" if examples else ""
        )
        rows.append(_row(source, column, RANGE, float(bad.mean()), 0.0, lims[RANGE], detail))
    for column, seen in categories.items():
        values = frame[column].dropna().astype(str)
        new = ~values.isin(seen)
        unseen = sorted(values[new].unique())
        detail = f"never seen in training: {', '.join(unseen[:10])}" if unseen else ""
        rows.append(_row(source, column, NEW_CATEGORY, float(new.sum()) / n, 0.0,
                         lims[NEW_CATEGORY], detail))  # fmt: skip
    return rows


def _raw_day(
    conn: duckdb.DuckDBPyConnection, table: str, start: dt.date, end: dt.date
) -> pd.DataFrame:
    day = RAW_DAY_COLUMN[table]
    return conn.execute(f"SELECT * FROM {table} WHERE {day} BETWEEN ? AND ?", [start, end]).df()


def expected_volume(conn: duckdb.DuckDBPyConnection, table: str, day: dt.date) -> float | None:
    """Median count of the same weekday over the 4 previous weeks, else of the previous 7 days."""
    column = RAW_DAY_COLUMN[table]
    counts = dict(
        conn.execute(
            f"SELECT {column}, count(*) FROM {table} WHERE {column} BETWEEN ? AND ? GROUP BY 1",
            [day - dt.timedelta(days=28), day - dt.timedelta(days=1)],
        ).fetchall()
    )
    weekly = [
        counts[d] for d in (day - dt.timedelta(days=7 * k) for k in range(1, 5)) if d in counts
    ]
    if weekly:
        return float(np.median(weekly))
    daily = [counts[d] for d in (day - dt.timedelta(days=k) for k in range(1, 8)) if d in counts]
    return float(np.median(daily)) if daily else None


def raw_findings(
    conn: duckdb.DuckDBPyConnection, settings: Settings, reference: Reference, day: dt.date
) -> list[dict[str, object]]:
    """Findings on the raw sources of ``day`` (flights, weather and departures)."""
    lims = limits(settings)
    window = reference.model.train_window
    rows: list[dict[str, object]] = []
    for table in RAW_DAY_COLUMN:
        frame = _raw_day(conn, table, day, day)
        ref = conn.execute(
            f"SELECT {', '.join(RAW_MISSING[table])} FROM {table} "
            f"WHERE {RAW_DAY_COLUMN[table]} BETWEEN ? AND ? USING SAMPLE 20000 ROWS",
            list(window),
        ).df()
        cats = {c: reference.categories(c) for c in RAW_CATEGORIES.get(table, [])}
        rows += frame_findings(table, frame, ref, missing=RAW_MISSING[table],
                               ranges=RAW_RANGES[table], categories=cats, lims=lims)  # fmt: skip
        expected = expected_volume(conn, table, day)
        if expected:
            deviation = abs(len(frame) / expected - 1.0)
            detail = f"{len(frame)} rows, {expected:g} expected"
        else:
            deviation, detail = float("nan"), f"{len(frame)} rows, no history to expect from"
        rows.append(_row(table, "*", VOLUME, deviation, expected, lims[VOLUME], detail))
    return rows


def feature_findings(
    settings: Settings, reference: Reference, features: pd.DataFrame
) -> list[dict[str, object]]:
    """Findings on the day's point-in-time features (the model's inputs)."""
    names, categorical = feature_columns()
    numeric = [n for n in names if n not in categorical]
    ranges = {n: r for n in numeric if (r := feature_range(n)) is not None}
    cats = {c: reference.categories(c) for c in categorical}
    return frame_findings("features", features, reference.train, missing=names, ranges=ranges,
                          categories=cats, lims=limits(settings))  # fmt: skip


def data_quality(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    reference: Reference,
    day: dt.date,
    features: pd.DataFrame,
) -> pd.DataFrame:
    """Every finding of ``day``, raw sources and features, as rows of ``monitoring.data_quality``."""
    rows = raw_findings(conn, settings, reference, day) + feature_findings(
        settings, reference, features
    )
    return pd.DataFrame(rows)


def check_summary(findings: pd.DataFrame, check: str) -> tuple[bool, str, pd.DataFrame]:
    """(passed, worst severity, offending rows sorted worst first) of one check kind."""
    rows = findings[(findings["check_name"] == check) & (findings["severity"] != OK)]
    rows = rows.sort_values("value", ascending=False)
    worst = ERROR if (rows["severity"] == ERROR).any() else (WARN if len(rows) else OK)
    return rows.empty, worst, rows
