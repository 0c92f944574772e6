"""The replay clock: the simulated "now" of a replayed world.

``mlsys replay`` plays 2013 forward; after publishing local day D it writes
``landing/_clock.json`` with now = the end of D (local midnight starting D+1) in naive UTC.
Freshness checks, sensors and serving compare the data's own event time with this clock, never
with the wall clock (which is years later).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd

from mlsys_assets.files import atomic_write_text
from mlsys_assets.nycflights import LOCAL_TZ
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


def write_clock(landing_dir: Path, last_day: dt.date, *, faults: bool, seed: int) -> None:
    """Move the clock to the end of ``last_day`` (atomically)."""
    state = {
        "now": day_end_utc(last_day).isoformat(),
        "last_day": last_day.isoformat(),
        "faults": faults,
        "seed": seed,
    }
    atomic_write_text(Path(landing_dir) / CLOCK_FILE, json.dumps(state, indent=2) + "\n")


def day_start_utc(day: dt.date) -> dt.datetime:
    """Local midnight starting ``day``, as naive UTC (DST-aware)."""
    local = pd.Timestamp(day).tz_localize(LOCAL_TZ)
    return local.tz_convert("UTC").tz_localize(None).to_pydatetime()


def day_end_utc(day: dt.date) -> dt.datetime:
    """Local midnight ending ``day`` (= starting the next day), as naive UTC."""
    return day_start_utc(day + dt.timedelta(days=1))


def local_day(utc: dt.datetime) -> dt.date:
    """The New York local day containing the naive-UTC instant ``utc``."""
    return pd.Timestamp(utc).tz_localize("UTC").tz_convert(LOCAL_TZ).date()
