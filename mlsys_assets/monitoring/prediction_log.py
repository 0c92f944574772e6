"""The one reader of serving's prediction and feedback logs (append-only Parquet).

Serving (``serving/prediction_log.py``) writes ``<predictions_dir>/log/date=<flight day>/*.parquet``
(the New York day of the flight's scheduled departure; logs written before that rule used the
write day) and ``<predictions_dir>/feedback/date=<write day>/*.parquet``. Monitoring assigns a
prediction to the New York local day of the flight's scheduled departure (``flight_date``, the
partition key everywhere else), so a replayed 2013 day sent today is monitored as that 2013 day.
The format (folders, schema, dtypes, the feature-time rule) is ``prediction_log_contract.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from mlsys_assets.nycflights import LOCAL_TZ
from mlsys_assets.prediction_log_contract import (
    FEEDBACK_COLUMNS,
    FEEDBACK_LOG_DIR,
    PREDICTION_COLUMNS,
    PREDICTION_LOG_DIR,
    feature_time,
)
from mlsys_assets.settings import Settings

SHADOW = "shadow"  # serving.routing.SHADOW: the challenger's logged-only scores


def log_files(folder: Path) -> list[str]:
    """The Parquet files of a log folder (``<folder>/date=*/*.parquet``), sorted."""
    return sorted(str(p) for p in folder.glob("date=*/*.parquet")) if folder.is_dir() else []


def _read(
    folder: Path,
    columns: dict[str, str],
    where: str = "TRUE",
    params: tuple = (),
    only: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The log's records as pandas with the contract's dtypes; ``only``: just those columns
    (converted to Python, the struct columns are most of a read's cost)."""
    if only is not None:
        columns = {name: kind for name, kind in columns.items() if name in only}
    files = log_files(folder)
    if not files:
        return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in columns.items()})
    source = "read_parquet(?, hive_partitioning = true, union_by_name = true)"
    selected = "* EXCLUDE (date)"
    if only is not None:  # those some file has, in the same pass (older logs lack newer ones)
        names = ", ".join("'" + name.replace("'", "''") + "'" for name in columns)
        selected = f"COLUMNS(c -> c IN ({names})), NULL AS _none"  # a star matching none fails
    with duckdb.connect() as conn:
        frame = conn.execute(
            f"SELECT {selected} FROM {source} WHERE {where}", [files, *params]
        ).df()
    for name, kind in columns.items():
        if name not in frame:
            frame[name] = pd.Series(dtype=kind, index=frame.index)
    return frame[list(columns)]


def local_date(timestamps: pd.Series) -> pd.Series:
    """New York local dates of naive-UTC timestamps (the partition day of a flight)."""
    ts = pd.to_datetime(timestamps)
    return ts.dt.tz_localize("UTC").dt.tz_convert(LOCAL_TZ).dt.date


def local_time(timestamps: pd.Series) -> pd.Series:
    """New York local times of naive-UTC timestamps."""
    return pd.to_datetime(timestamps).dt.tz_localize("UTC").dt.tz_convert(LOCAL_TZ)


# What ``read_predictions`` itself needs of every record, whatever columns a caller asks for.
_ALWAYS = ("request_id", "logged_at", "requested_at", "scheduled_departure", "variant")


def read_predictions(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    *,
    shadow: bool = False,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Logged answers of flights departing on local days ``start..end`` (inclusive).

    Adds ``flight_date`` (local departure day) and ``feature_time`` (the moment serving looked
    the features up: ``min(requested_at, scheduled_departure - PREDICTION_LEAD)``, as serving
    does; ``logged_at`` for logs written before ``requested_at`` existed).
    A request id logged twice keeps its last record. ``shadow=True`` gives the challenger's
    shadow scores instead (variant ``shadow``, never returned to anyone), which every other
    reader must not count as answers. ``columns``: only those (and the ones this reader needs),
    for a caller that reads often and needs no feature values (the canary sensor, every tick).
    """
    # A UTC window around the local days, in SQL: only those rows are converted to Python
    # (the feature values above all); the exact local-day filter follows.
    window = (
        dt.datetime.combine(start, dt.time()) - dt.timedelta(days=1),
        dt.datetime.combine(end, dt.time()) + dt.timedelta(days=2),
    )
    frame = _read(
        settings.predictions_dir / PREDICTION_LOG_DIR,
        PREDICTION_COLUMNS,
        "scheduled_departure >= ? AND scheduled_departure < ?",
        window,
        only=None if columns is None else [*_ALWAYS, *columns],
    )
    frame["flight_date"] = local_date(frame["scheduled_departure"]) if len(frame) else []
    frame = frame[(frame["flight_date"] >= start) & (frame["flight_date"] <= end)]
    frame = frame[frame["variant"].eq(SHADOW) == shadow]
    frame = frame.sort_values("logged_at").drop_duplicates("request_id", keep="last")
    asked = pd.to_datetime(frame["requested_at"]).fillna(pd.to_datetime(frame["logged_at"]))
    frame["feature_time"] = feature_time(pd.to_datetime(frame["scheduled_departure"]), asked)
    return frame.reset_index(drop=True)


def read_feedback(settings: Settings, request_ids: pd.Series | None = None) -> pd.DataFrame:
    """Outcomes posted to ``/feedback`` (the last one per request id), optionally only some ids."""
    frame = _read(settings.predictions_dir / FEEDBACK_LOG_DIR, FEEDBACK_COLUMNS)
    frame = frame.sort_values("logged_at").drop_duplicates("request_id", keep="last")
    if request_ids is not None:
        frame = frame[frame["request_id"].isin(set(request_ids))]
    return frame.reset_index(drop=True)


def served_features(predictions: pd.DataFrame) -> pd.DataFrame:
    """The feature values the model received, one column per feature (index preserved)."""
    typed = predictions["feature_values"] if "feature_values" in predictions else None
    legacy = predictions["features"] if "features" in predictions else None
    records = []
    for i in range(len(predictions)):
        values = None if typed is None else typed.iat[i]
        if not isinstance(values, dict):
            text = None if legacy is None else legacy.iat[i]
            values = json.loads(text) if isinstance(text, str) else {}
        records.append(values)
    return pd.DataFrame.from_records(records, index=predictions.index)


def has_fallback(predictions: pd.DataFrame) -> pd.Series:
    """Whether each answer took a fallback path (no model, previous champion, store down...)."""
    fallbacks = predictions["fallbacks"].map(lambda v: v is not None and len(v) > 0)
    return fallbacks.astype(bool) | predictions["variant"].eq("fallback")
