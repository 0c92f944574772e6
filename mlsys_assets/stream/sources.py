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
from zoneinfo import ZoneInfo

import pandas as pd

from mlsys_assets.features.catalog import ORIGIN_CONGESTION, ORIGIN_WEATHER
from mlsys_assets.features.intraday import NEVER
from mlsys_assets.features.spec import FeatureView
from mlsys_assets.raw_tables import canonical_weather
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


_NEW_YORK = ZoneInfo("America/New_York")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ORIGINS = frozenset(("EWR", "JFK", "LGA"))
_FLIGHT_COLUMNS = ["flight_date", "carrier", "flight", "origin", "tailnum", "s", "a", "v"]


def _int(value: object) -> int | None:
    """An integer field (JSON int, or a float/string holding one), else None."""
    if type(value) is int:  # the common case first: a JSON integer
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(number) if number == number and number.is_integer() else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number == number else None


@functools.lru_cache(maxsize=4_096)
def _day_start_us(day: dt.date) -> int | None:
    """UTC microseconds of local midnight on a day whose UTC offset holds all day, else None
    (the two clock-change days take the exact path)."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=_NEW_YORK)
    end = dt.datetime.combine(day, dt.time(23, 59), tzinfo=_NEW_YORK)
    if start.utcoffset() != end.utcoffset():
        return None
    delta = start.astimezone(dt.UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000


def _local_to_us(day: dt.date, minutes: int) -> int | None:
    """New York wall time (day + minutes) as UTC microseconds, as ``raw_tables.local_to_utc``
    does it: an ambiguous time (the repeated autumn hour) has none, a skipped spring one moves
    to the end of the gap."""
    start = _day_start_us(day)
    if start is not None and 0 <= minutes < 1_440:
        return start + minutes * 60_000_000
    local = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minutes)
    first = local.replace(tzinfo=_NEW_YORK, fold=0)
    second = local.replace(tzinfo=_NEW_YORK, fold=1)
    if first.utcoffset() != second.utcoffset():
        back = first.astimezone(dt.UTC).astimezone(_NEW_YORK).replace(tzinfo=None)
        if back == local:  # both folds exist: ambiguous
            return None
        # skipped (spring forward): shift forward to the first valid instant after the gap
        after = (local + dt.timedelta(hours=1)).replace(minute=0, second=0, tzinfo=_NEW_YORK)
        first = after
    delta = first.astimezone(dt.UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _flight_rows(events: Sequence[StreamEvent], departures: bool) -> tuple[pd.DataFrame, int]:
    """Each event's flight as a day-table row (identity, scheduled, actual, available, in us);
    a record that does not parse is rejected. Plain Python: a live batch is a few events, and a
    DataFrame per field would cost more than the events (a year of them still takes seconds)."""
    rows: list[tuple] = []
    cancelled = 0
    seen: dict[str, int] = {}  # published_at -> us (events of one moment share the text)
    days: dict[tuple, dt.date] = {}  # one date object per day: cheaper, and hashed once
    for event in events:
        record = event.payload.get("record")
        published = event.payload.get("published_at")
        if not isinstance(record, dict) or not isinstance(published, str):
            continue
        field = record.get
        year, month, day_of = _int(field("year")), _int(field("month")), _int(field("day"))
        hhmm, flight = _int(field("sched_dep_time")), _int(field("flight"))
        origin, carrier = field("origin"), field("carrier")
        if None in (year, month, day_of, hhmm, flight) or origin not in _ORIGINS:
            continue
        if not (isinstance(carrier, str) and len(carrier) == 2) or not 0 <= hhmm <= 2400:
            continue
        if hhmm % 100 >= 60:
            continue
        try:
            day = days.get((year, month, day_of)) or days.setdefault(
                (year, month, day_of), dt.date(year, month, day_of)
            )
            published_us = seen.get(published)
            if published_us is None:
                published_us = seen[published] = _to_us(dt.datetime.fromisoformat(published))
        except ValueError:
            continue
        scheduled = _local_to_us(day, (hhmm // 100) * 60 + hhmm % 100)
        if scheduled is None:
            continue
        actual = v = NEVER
        if departures:
            delay = _number(record.get("dep_delay"))
            if record.get("dep_time") is None and record.get("dep_delay") is None:
                cancelled += 1  # it never left, which changes no day table
                continue
            if delay is None:
                continue
            actual = scheduled + round(delay * 60_000_000)
            v = published_us
        tailnum = record.get("tailnum")
        tail = tailnum if isinstance(tailnum, str) and tailnum else None
        rows.append((day, carrier, flight, origin, tail, scheduled, actual, v, published_us))
    frame = pd.DataFrame(rows, columns=[*_FLIGHT_COLUMNS, "published_us"])
    return frame, len(events) - len(frame) - cancelled


def _to_us(moment: dt.datetime) -> int:
    delta = moment.replace(tzinfo=dt.UTC) - _EPOCH if moment.tzinfo is None else moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def schedule_raw(events: Sequence[StreamEvent]) -> RawBatch:
    """Scheduled departures (the schedule columns of raw.flights, and the flight's identity
    for the day tables); a malformed one is rejected."""
    rows, rejected = _flight_rows(events, departures=False)
    rows["scheduled_departure"] = pd.to_datetime(rows["s"], unit="us")
    return RawBatch(rows, tuple(sorted(set(rows["flight_date"]))), rejected)


def departures_raw(events: Sequence[StreamEvent]) -> RawBatch:
    """Departures as day-table rows: the actual departure (scheduled + dep_delay) and when it
    was published; a cancellation (no departure time) changes nothing and is skipped."""
    rows, rejected = _flight_rows(events, departures=True)
    return RawBatch(rows, tuple(sorted(set(rows["flight_date"]))), rejected)


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
