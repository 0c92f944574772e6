"""What each topic of the event stream feeds: its events as raw rows, and the views computed
from them.

* ``weather``: hourly observations, checked by ingestion's own weather contract (an event that
  ingestion would quarantine is never served either), as ``raw.weather`` rows -> ``origin_weather``.
* ``schedule``: the timetable published a day ahead, as the schedule columns of ``raw.flights``
  -> ``origin_congestion``, and the rows of the intraday day tables. The hour before a day's
  first departure belongs to the previous day, so the previous day's rows stay as context
  (``keep_days``).
* ``departures``: each flight's actual departure when it happens -> the intraday day tables.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlsys_assets.features.catalog import ORIGIN_CONGESTION, ORIGIN_WEATHER
from mlsys_assets.features.intraday import NEVER
from mlsys_assets.features.spec import FeatureView
from mlsys_assets.raw_tables import canonical_weather, hhmm_to_timedelta, local_to_utc
from mlsys_assets.resources.event_stream import StreamEvent


@dataclass(frozen=True)
class RawBatch:
    """A batch of events as raw rows: the rows, the local days they belong to, the rejected."""

    rows: pd.DataFrame
    days: tuple[dt.date, ...]
    rejected: int


@dataclass(frozen=True)
class StreamSource:
    topic: str
    raw_table: str  # the name of the rows in the views' SQL (schema ``raw``)
    views: tuple[FeatureView, ...]
    to_raw: Callable[[Sequence[StreamEvent]], RawBatch]
    keep_days: int = 0  # days of earlier rows kept as context for the next batch
    day_column: str = "obs_date"
    day_state: bool = False  # its rows also go into the intraday day tables


def _records(events: Sequence[StreamEvent]) -> list[dict]:
    return [e.payload.get("record") or {} for e in events]


@functools.cache
def _weather_contract():  # noqa: ANN202 - a Contract (pandera is imported on first use)
    from mlsys_assets.ingestion.contracts import weather_contract

    return weather_contract()


def weather_raw(events: Sequence[StreamEvent]) -> RawBatch:
    from mlsys_assets.ingestion.validate import validate

    contract = _weather_contract()
    records = [r if isinstance(r, dict) else {} for r in _records(events)]
    frame = contract.apply_aliases(pd.DataFrame.from_records(records))
    frame = frame.reindex(columns=list(contract.columns))
    checked = validate(contract, frame)
    rows = canonical_weather(checked.good) if len(checked.good) else _empty_weather()
    return RawBatch(rows, tuple(sorted(set(rows["obs_date"]))), len(checked.bad))


def _empty_weather() -> pd.DataFrame:
    frame = pd.DataFrame({"time_hour": pd.Series([], dtype="datetime64[ns, UTC]")})
    for column in ("origin", "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust"):
        frame[column] = pd.Series([], dtype="object" if column == "origin" else "float64")
    for column in ("precip", "pressure", "visib"):
        frame[column] = pd.Series([], dtype="float64")
    return canonical_weather(frame)


def _published_us(events: Sequence[StreamEvent]) -> pd.Series:
    stamps = pd.to_datetime(
        pd.Series([e.payload.get("published_at") for e in events], dtype="object"),
        errors="coerce",
        format="ISO8601",
    )
    return stamps.astype("datetime64[us]").astype("int64").where(stamps.notna(), NEVER)


def _flight_frame(events: Sequence[StreamEvent]) -> tuple[pd.DataFrame, pd.Series]:
    """Records with the flight's identity and schedule parsed; rows that do not parse dropped."""
    frame = pd.DataFrame.from_records(_records(events))
    for column in ("year", "month", "day", "sched_dep_time", "origin", "carrier", "flight"):
        if column not in frame:
            frame[column] = None
    if "tailnum" not in frame:
        frame["tailnum"] = None
    numbers = frame[["year", "month", "day", "sched_dep_time", "flight"]].apply(
        pd.to_numeric, errors="coerce"
    )
    ok = numbers.notna().all(axis=1) & frame["origin"].isin(["EWR", "JFK", "LGA"])
    ok &= frame["carrier"].map(lambda c: isinstance(c, str) and len(c) == 2)
    ok &= numbers["sched_dep_time"].between(0, 2400) & (numbers["sched_dep_time"] % 100 < 60)
    published = _published_us(events)
    ok &= published != NEVER
    numbers = numbers[ok].astype("int64")
    flight_date = pd.to_datetime(
        numbers[["year", "month", "day"]].rename(columns=str), errors="coerce"
    )
    valid = flight_date.notna()
    index = flight_date[valid].index
    local = flight_date[valid] + hhmm_to_timedelta(numbers.loc[index, "sched_dep_time"])
    rows = pd.DataFrame(
        {
            "flight_date": flight_date[valid].dt.date,
            "carrier": frame.loc[index, "carrier"].astype(str),
            "flight": numbers.loc[index, "flight"],
            "origin": frame.loc[index, "origin"].astype(str),
            "tailnum": frame.loc[index, "tailnum"].where(frame.loc[index, "tailnum"].notna()),
            "scheduled_departure": local_to_utc(local),
        }
    )
    rows = rows[rows["scheduled_departure"].notna()]
    return rows, published.loc[rows.index]


def schedule_raw(events: Sequence[StreamEvent]) -> RawBatch:
    """Scheduled departures (the schedule columns of raw.flights, and the flight's identity
    for the day tables); a malformed one is rejected."""
    rows, published = _flight_frame(events)
    rows = rows.assign(
        s=rows["scheduled_departure"].astype("datetime64[us]").astype("int64"),
        a=NEVER,
        v=NEVER,
        published_us=published.to_numpy(),
    ).reset_index(drop=True)
    rejected = len(events) - len(rows)
    return RawBatch(rows, tuple(sorted(set(rows["flight_date"]))), rejected)


def departures_raw(events: Sequence[StreamEvent]) -> RawBatch:
    """Departures as day-table rows: the actual departure (scheduled + dep_delay) and when it
    was published; a cancellation (no departure time) changes nothing and is skipped."""
    rows, published = _flight_frame(events)
    frame = pd.DataFrame.from_records(_records(events)).loc[rows.index]
    missing = pd.Series(np.nan, index=frame.index)
    dep_time = pd.to_numeric(frame.get("dep_time", missing), errors="coerce")
    delay = pd.to_numeric(frame.get("dep_delay", missing), errors="coerce")
    left = (dep_time.notna() & delay.notna()).to_numpy()
    rows, published, delay = rows[left], published[left].to_numpy(), delay[left].to_numpy()
    scheduled = rows["scheduled_departure"].astype("datetime64[us]").astype("int64").to_numpy()
    rows = rows.assign(
        s=scheduled,
        a=scheduled + np.rint(delay * 60_000_000).astype(np.int64),
        v=published,
        published_us=published,
    )
    rejected = len(events) - len(frame)
    return RawBatch(rows.reset_index(drop=True), tuple(sorted(set(rows["flight_date"]))), rejected)


WEATHER = StreamSource("weather", "weather", (ORIGIN_WEATHER,), weather_raw)
SCHEDULE = StreamSource(
    "schedule",
    "flights",
    (ORIGIN_CONGESTION,),
    schedule_raw,
    keep_days=1,
    day_column="flight_date",
    day_state=True,
)
DEPARTURES = StreamSource(
    "departures", "departures", (), departures_raw, day_column="flight_date", day_state=True
)
SOURCES: tuple[StreamSource, ...] = (WEATHER, SCHEDULE, DEPARTURES)

__all__ = ["SCHEDULE", "SOURCES", "WEATHER", "RawBatch", "StreamSource"]
