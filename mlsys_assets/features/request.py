"""Request-time features: computed from the flight request itself, by the same code online and offline.

Everything time-based derives from the departure hour, so the one scalar function
``calendar_features`` is the whole implementation: offline it runs once per distinct hour of the
frame (a few thousand calls for a year), online once per hour thanks to its cache. Nothing is
computed twice in two dialects, so training and serving cannot disagree.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from mlsys_assets.features.spec import Feature
from mlsys_assets.nycflights import LOCAL_TZ

_LOCAL = ZoneInfo(LOCAL_TZ)
_UTC = dt.UTC
_NAT = np.iinfo(np.int64).min  # datetime64's NaT as int64
_US_PER_HOUR = 3_600 * 1_000_000
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)

CALENDAR_FEATURES: tuple[Feature, ...] = (
    Feature("hour", "float64", "Local (New York) hour of the scheduled departure, 0-23."),
    Feature("weekday", "float64", "Local day of the week of the departure, Monday=0."),
    Feature("month", "float64", "Local month of the departure, 1-12."),
    Feature(
        "days_to_holiday",
        "float64",
        "Days from the local departure day to the next US federal holiday (0 on one).",
    ),
    Feature("days_since_holiday", "float64", "Days since the last US federal holiday (0 on one)."),
)
REQUEST_FEATURES: tuple[Feature, ...] = (
    Feature("carrier", "string", "Two-letter carrier code, from the request."),
    Feature("origin", "string", "Origin airport (EWR, JFK, LGA), from the request."),
    Feature("dest", "string", "Destination airport, from the request."),
    Feature("distance", "float64", "Great-circle distance in miles, from the request."),
    *CALENDAR_FEATURES,
)


@lru_cache(maxsize=1)
def _holidays() -> tuple[dt.date, ...]:
    from pandas.tseries.holiday import USFederalHolidayCalendar

    days = USFederalHolidayCalendar().holidays(start="2000-01-01", end="2040-12-31")
    return tuple(d.date() for d in days)


@lru_cache(maxsize=65536)
def calendar_features(hour_utc: dt.datetime) -> tuple[float, float, float, float, float]:
    """(hour, weekday, month, days_to_holiday, days_since_holiday) for a naive-UTC hour."""
    local = hour_utc.replace(tzinfo=_UTC).astimezone(_LOCAL)
    day = local.date()
    holidays = _holidays()
    i = bisect.bisect_left(holidays, day)
    to_next = (holidays[i] - day).days if i < len(holidays) else np.nan
    j = bisect.bisect_right(holidays, day) - 1
    since = (day - holidays[j]).days if j >= 0 else np.nan
    return (
        float(local.hour),
        float(local.weekday()),
        float(local.month),
        float(to_next),
        float(since),
    )


def to_naive_utc(value: Any) -> dt.datetime:
    """A datetime, pandas Timestamp or ISO 8601 string as a naive UTC datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is not None:
        value = value.astimezone(_UTC).replace(tzinfo=None)
    return value


REQUEST_FIELDS = (
    "carrier",
    "flight",
    "tailnum",
    "origin",
    "dest",
    "scheduled_departure",
    "distance",
)
"""A flight request's fields, as ``normalize_request`` returns them."""


def normalize_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request fields the features use, typed: naive-UTC departure, float distance."""
    sched = to_naive_utc(request["scheduled_departure"])
    tailnum = request.get("tailnum")
    distance = request.get("distance")
    return {
        "carrier": str(request["carrier"]),
        "flight": request.get("flight"),
        "tailnum": None if tailnum in (None, "") else str(tailnum),
        "origin": str(request["origin"]),
        "dest": str(request["dest"]),
        "scheduled_departure": sched,
        "distance": None if distance is None else float(distance),
    }


def request_feature_columns(requests: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Request-time features of normalized requests, column by column (serving's batch path).

    Values are plain Python (str, float, None for an unknown calendar value), one per request.
    """
    by_departure: dict[dt.datetime, tuple[float, ...]] = {}  # a batch shares departure times
    calendars = []
    for r in requests:
        sched = r["scheduled_departure"]
        calendar = by_departure.get(sched)
        if calendar is None:
            hour = sched.replace(minute=0, second=0, microsecond=0)
            calendar = by_departure[sched] = calendar_features(hour)
        calendars.append(calendar)
    columns: dict[str, list[Any]] = {
        "carrier": [r["carrier"] for r in requests],
        "origin": [r["origin"] for r in requests],
        "dest": [r["dest"] for r in requests],
        "distance": [r["distance"] for r in requests],
    }
    for i, feature in enumerate(CALENDAR_FEATURES):
        # NaN (no holiday in range) -> None
        columns[feature.name] = [None if (v := c[i]) != v else v for c in calendars]
    return columns


def naive_utc_series(series: pd.Series) -> pd.Series:
    """A timestamp column as naive UTC datetime64 (parsing only when it is not one already)."""
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series)
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series


def calendar_columns(
    scheduled: pd.Series, out: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """The calendar features of each departure (naive UTC, or tz-aware, converted), one float
    array per feature, written into ``out``'s array of that name when given (e.g. a row of the
    training set's output block). NaN where there is no departure time.

    Each distinct hour once, counted as a number (factorizing and iterating Timestamps cost
    more than the calendar itself), then gathered per feature.
    """
    micros = naive_utc_series(scheduled).to_numpy(dtype="datetime64[us]").view(np.int64)
    valid = micros != _NAT
    hours = micros // _US_PER_HOUR
    every = bool(valid.all())
    if not every:
        hours[~valid] = hours[valid][0] if valid.any() else 0
    codes, uniques = _hour_codes(hours)
    if not valid.any():
        uniques = uniques[:0]
    if not every:
        codes[~valid] = len(uniques)  # the table's last row: unknown
    table = np.full((len(CALENDAR_FEATURES), len(uniques) + 1), np.nan)  # per feature
    calendars = [calendar_features(_EPOCH_NAIVE + dt.timedelta(hours=h)) for h in uniques.tolist()]
    if calendars:
        table[:, :-1] = np.array(calendars, dtype="float64").T
    out = out or {}
    return {
        feature.name: np.take(table[i], codes, out=out.get(feature.name), mode="clip")
        for i, feature in enumerate(CALENDAR_FEATURES)
    }


def _hour_codes(hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of the hours; hours in order (a training set's, usually) get a new code
    at each change, without hashing."""
    if len(hours) > 1 and (hours[1:] >= hours[:-1]).all():
        change = np.empty(len(hours), dtype=bool)
        change[0] = False
        np.not_equal(hours[1:], hours[:-1], out=change[1:])
        codes = np.cumsum(change, dtype=np.int64)
        change[0] = True
        return codes, hours[change]
    return pd.factorize(hours)


def request_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Request-time features of a frame of requests (the offline path), index preserved.

    ``scheduled_departure`` is naive UTC (or tz-aware, converted); categorical columns come back as
    plain strings.
    """
    out = pd.DataFrame(index=frame.index)
    for name in ("carrier", "origin", "dest"):
        out[name] = frame[name].astype("object")
    out["distance"] = pd.to_numeric(frame["distance"], errors="coerce").astype("float64")
    for name, values in calendar_columns(frame["scheduled_departure"]).items():
        out[name] = values
    return out
