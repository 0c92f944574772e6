"""The stream processor writes online exactly what the offline definitions compute."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from mlsys_assets.features.catalog import ORIGIN_CONGESTION, ORIGIN_WEATHER
from mlsys_assets.features.online import online_row, online_rows_sql
from mlsys_assets.replay.publish import replay
from mlsys_assets.resources.event_stream import FileEventStream
from mlsys_assets.resources.online_store import OnlineRow, SQLiteOnlineStore
from mlsys_assets.settings import Settings
from mlsys_assets.stream.freshness import read_freshness
from mlsys_assets.stream.processor import StreamProcessor
from tests.features.conftest import END

STREAMED = (ORIGIN_WEATHER, ORIGIN_CONGESTION)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A clean replay of the same days as the feature tests' warehouse."""
    settings = Settings(home=tmp_path_factory.mktemp("stream"))
    replay(settings, END)
    return settings


def _processor(settings: Settings, store_path: Path, batch_events: int) -> StreamProcessor:
    """A processor with its own consumer group (each test reads the stream from the start)."""
    stream = FileEventStream(root=str(settings.landing_dir / "events"))
    store = SQLiteOnlineStore(path=str(store_path))
    group = f"test-{store_path.parent.name}"
    return StreamProcessor(stream, store, group=group, batch_events=batch_events)


def _offline(conn: duckdb.DuckDBPyConnection, last_day: dt.date) -> dict[str, OnlineRow]:
    """The newest row per key of the offline tables, encoded as the store encodes it."""
    out = {}
    for view in STREAMED:
        table = f"SELECT * FROM {view.table} WHERE feature_date <= DATE '{last_day}'"
        for row in conn.execute(online_rows_sql(view, table)).fetchall():
            encoded = online_row(view, row)
            out[encoded.key] = encoded
    return out


def test_online_rows_equal_the_offline_definition(landing, base_conn, tmp_path) -> None:
    processor = _processor(landing, tmp_path / "online.sqlite", batch_events=5_000)
    assert processor.drain() > 0 and processor.caught_up()
    store = processor.store
    offline = _offline(base_conn, END)
    found = dict(zip(offline, store.read(list(offline)), strict=True))
    assert all(found.values()), [k for k, v in found.items() if v is None][:5]
    mismatched = [
        key for key, row in offline.items() if found[key] != (row.event_us, None, row.payload)
    ]
    assert mismatched == []
    assert {"weather", "schedule"} <= set(read_freshness(store.read_state()))


def test_a_restarted_processor_resumes_and_ends_the_same(landing, base_conn, tmp_path) -> None:
    """Small batches, a new processor after a few (a crash loses its memory, not the cursor)."""
    path = tmp_path / "online.sqlite"
    first = _processor(landing, path, batch_events=700)
    for _ in range(3):
        first.poll()
    second = _processor(landing, path, batch_events=700)  # a fresh process: no context kept
    second.drain()
    offline = _offline(base_conn, END)
    stored = second.store.read(list(offline))
    assert [
        k
        for k, r, s in zip(offline, offline.values(), stored, strict=True)
        if s != (r.event_us, None, r.payload)
    ] == []


def test_an_older_event_never_overwrites_a_newer_one(landing, tmp_path) -> None:
    processor = _processor(landing, tmp_path / "online.sqlite", batch_events=5_000)
    processor.drain()
    store = processor.store
    key = f"{ORIGIN_WEATHER.name}:JFK"
    newest = store.read([key])[0]
    store.write_batch([OnlineRow(key, newest[0] - 3_600_000_000, None, "[1,1,1,1,1,1]")])
    assert store.read([key])[0] == newest
