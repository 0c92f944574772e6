"""The weather consumer's cursor lives in the warehouse, committed with the rows it produced."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pytest

from mlsys_assets.ingestion.contracts import weather_contract
from mlsys_assets.ingestion.store import cursor
from mlsys_assets.ingestion.weather import CONSUMER, TOPIC, ingest_weather
from mlsys_assets.replay import replay
from mlsys_assets.resources.event_stream import FileEventStream
from tests.ingestion.conftest import copy_home
from tests.reference_data import load_reference

D1, D2, D3 = dt.date(2013, 1, 1), dt.date(2013, 1, 2), dt.date(2013, 1, 3)


def _stream(settings) -> FileEventStream:
    """A new stream object each time: nothing survives in memory between 'processes'."""
    return FileEventStream(root=str(settings.landing_dir / "events"))


def test_cursor_survives_restart_without_skipping_or_rereading(clean_source, mlsys_home) -> None:
    settings = copy_home(clean_source, mlsys_home)  # replayed up to Jan 3
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        first = ingest_weather(conn, _stream(settings), D1, D1, "run-1")
        assert first.extra["cursor"] == _stream(settings).last_offset(TOPIC)
    replay(settings, dt.date(2013, 1, 4), faults=False, seed=42)  # more events arrive
    with duckdb.connect(str(settings.warehouse_path)) as conn:  # a restarted consumer
        second = ingest_weather(conn, _stream(settings), D2, dt.date(2013, 1, 4), "run-2")
        offsets = [
            r[0]
            for r in conn.execute(
                "SELECT event_offset FROM ingest.weather_events ORDER BY 1"
            ).fetchall()
        ]
        assert cursor(conn, TOPIC, CONSUMER) == _stream(settings).last_offset(TOPIC)
        ingested = conn.execute(
            "SELECT * EXCLUDE (ingested_at, event_offset) FROM raw.weather ORDER BY origin, time_hour"
        ).df()
    assert second.extra["events_consumed"] == len(offsets) - first.extra["events_consumed"]
    assert offsets == list(range(1, len(offsets) + 1))  # none skipped, none read twice
    assert _stream(settings).acked(TOPIC, CONSUMER) == offsets[-1]

    with duckdb.connect() as ref:
        load_reference(ref, D1, dt.date(2013, 1, 4))
        expected = ref.execute(
            "SELECT * EXCLUDE (ingested_at, event_offset) FROM raw.weather ORDER BY origin, time_hour"
        ).df()
    assert ingested.equals(expected)


def test_a_failed_run_leaves_the_cursor_so_events_are_read_again(clean_source, mlsys_home) -> None:
    settings = copy_home(clean_source, mlsys_home)
    broken = dataclasses.replace(weather_contract(), schema=None)  # validation will crash
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        with pytest.raises(AttributeError):
            ingest_weather(conn, _stream(settings), D1, D3, "crashing-run", contract=broken)
        assert cursor(conn, TOPIC, CONSUMER) == 0
        assert conn.execute("SELECT count(*) FROM ingest.weather_events").fetchone()[0] == 0
        report = ingest_weather(conn, _stream(settings), D1, D3, "retry")
    assert report.extra["events_consumed"] == _stream(settings).last_offset(TOPIC)
    assert report.totals()["accepted"] == report.totals()["received"]
