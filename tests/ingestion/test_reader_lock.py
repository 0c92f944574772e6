"""An ingestion run is never failed by a reader: it waits out a read-only connection another
process holds, and past ``MLSYS_BACKENDS__WAREHOUSE_LOCK_TIMEOUT_SECONDS`` it fails with one clear line
naming the holder, not DuckDB's lock traceback."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import duckdb

from mlsys_assets.ingestion.run import ingest_range
from tests.ingestion.conftest import copy_home
from tests.unit.test_warehouse_locks import HOLD

DAY = dt.date(2013, 1, 1)


def _reader(path: str, seconds: float) -> subprocess.Popen[str]:
    """`mlsys`'s own readers are short; this one is a person's `duckdb -readonly` left open."""
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD.replace("FROM t", "FROM raw.flights"), path, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stdout.readline().strip() == "holding"
    return reader


def test_an_ingestion_run_waits_for_a_reader_then_completes(clean_source, mlsys_home) -> None:
    settings = copy_home(clean_source, mlsys_home)
    assert ingest_range(settings, DAY, DAY).success
    reader = _reader(str(settings.warehouse_path), 3.0)
    started = time.monotonic()
    try:
        result = ingest_range(settings, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=1))
    finally:
        reader.wait(timeout=60)
    assert result.success
    assert time.monotonic() - started > 2.0  # it did meet the reader's lock
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        days = conn.execute("SELECT count(DISTINCT flight_date) FROM raw.flights").fetchone()
    assert days == (2,)


def test_an_ingestion_run_past_its_bound_names_the_holder(clean_source, mlsys_home) -> None:
    settings = copy_home(clean_source, mlsys_home)
    assert ingest_range(settings, DAY, DAY).success
    settings = settings.replace(backends={"warehouse_lock_timeout_seconds": 1.0})
    reader = _reader(str(settings.warehouse_path), 60.0)
    try:
        result = ingest_range(settings, DAY, DAY)
    finally:
        reader.kill()
        reader.wait()
    assert not result.success
    failures = [
        event.event_specific_data.error
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    ]
    assert failures
    for error in failures:
        while error.cause is not None:
            error = error.cause
        assert "WarehouseLocked" in error.cls_name
        assert f"PID {reader.pid}" in error.message and "IO Error" not in error.message
