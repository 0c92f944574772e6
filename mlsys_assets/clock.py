"""The replay clock: the simulated "now" of a replayed world.

``mlsys replay`` plays 2013 forward in simulated instants; after publishing what is known by
``now`` it writes ``landing/_clock.json``: ``now`` (naive UTC), whether events at exactly ``now``
are out (``inclusive``), and ``last_day``, the last local day that has ended (its outcome file is
out). Freshness checks, sensors and serving compare the data's own event time with this clock,
never with the wall clock (which is years later).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from mlsys_assets.files import atomic_write_text
from mlsys_assets.nycflights import FIRST_DAY, LOCAL_TZ
from mlsys_assets.settings import Settings

CLOCK_FILE = "_clock.json"


def utc_now() -> dt.datetime:
    """Wall-clock now, naive UTC, to the microsecond (the warehouse convention).

    For when something happened (``received_at``, ``computed_at``, ``logged_at``); the replayed
    world's own time is ``replay_now``.
    """
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def replay_now(settings: Settings) -> dt.datetime | None:
    """The simulated now (naive UTC), or None if nothing was replayed into this MLSYS_HOME."""
    return read_clock(settings.landing_dir)


def read_clock(landing_dir: Path) -> dt.datetime | None:
    state = read_state(landing_dir)
    return dt.datetime.fromisoformat(state["now"]) if state else None


def read_state(landing_dir: Path) -> dict[str, Any] | None:
    """The whole clock file: ``now``, ``last_day``, ``faults``, ``seed``."""
    path = Path(landing_dir) / CLOCK_FILE
    return json.loads(path.read_text()) if path.exists() else None


@dataclass(frozen=True)
class ClockState:
    """The clock file: where the replay stands, and with which flags it was made."""

    now: dt.datetime  # naive UTC
    inclusive: bool  # events available exactly at ``now`` are published too
    last_day: dt.date | None  # the last local day that ended by ``now``
    faults: bool
    seed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "inclusive": self.inclusive,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "faults": self.faults,
            "seed": self.seed,
        }


def read_clock_state(landing_dir: Path) -> ClockState | None:
    state = read_state(landing_dir)
    if state is None:
        return None
    return ClockState(
        now=dt.datetime.fromisoformat(state["now"]),
        inclusive=bool(state.get("inclusive", True)),
        last_day=dt.date.fromisoformat(state["last_day"]) if state.get("last_day") else None,
        faults=bool(state["faults"]),
        seed=int(state["seed"]),
    )


def write_clock_state(landing_dir: Path, state: ClockState, *, durable: bool = True) -> None:
    """Move the clock (atomically; ``durable`` also fsyncs, for a move that published data)."""
    text = json.dumps(state.to_json(), indent=2) + "\n"
    atomic_write_text(Path(landing_dir) / CLOCK_FILE, text, durable=durable)


def ended_day(now: dt.datetime, inclusive: bool = True) -> dt.date | None:
    """The last local day whose end is at or before ``now`` (strictly before unless inclusive)."""
    day = local_day(now)
    if day_start_utc(day) == now and not inclusive:
        day -= dt.timedelta(days=1)  # the day ending exactly now has not been published yet
    last = day - dt.timedelta(days=1)
    return last if last >= FIRST_DAY else None


def day_start_utc(day: dt.date) -> dt.datetime:
    """Local midnight starting ``day``, as naive UTC (DST-aware)."""
    local = pd.Timestamp(day).tz_localize(LOCAL_TZ)
    return local.tz_convert("UTC").tz_localize(None).to_pydatetime()


def day_end_utc(day: dt.date) -> dt.datetime:
    """Local midnight ending ``day`` (= starting the next day), as naive UTC."""
    return day_start_utc(day + dt.timedelta(days=1))


_NEW_YORK = ZoneInfo(LOCAL_TZ)


def local_day(utc: dt.datetime) -> dt.date:
    """The New York local day containing the naive-UTC instant ``utc``."""
    return utc.replace(tzinfo=dt.UTC).astimezone(_NEW_YORK).date()


class ReplayClock:
    """The replay clock as serving reads it: the simulated now, re-read only when the clock file
    changed (one ``stat`` per call, so a lookup never works with a minute-old clock)."""

    def __init__(self, landing_dir: Path) -> None:
        self._path = Path(landing_dir) / CLOCK_FILE
        self._stamp: int | None = None
        self._now: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        try:
            stamp = os.stat(self._path).st_mtime_ns
        except OSError:
            return utc_now()  # nothing replayed (yet): the wall clock
        if stamp != self._stamp:
            self._now = read_clock(self._path.parent)
            self._stamp = stamp
        return self._now or utc_now()


def serving_clock(settings: Settings) -> Callable[[], dt.datetime]:
    """Serving's now: the wall clock in production, the replay clock in a replayed world.

    ``auto`` (the default) reads the replay clock whenever this MLSYS_HOME holds one (a replay
    may start after the server): a replayed 2013 flight is then asked about at its simulated
    moment, as a real one would be.
    """
    if settings.serving.clock == "wall":
        return utc_now
    return ReplayClock(settings.landing_dir)  # the wall clock until a replay writes a clock
