"""Ingestion says so when events it never read are gone from a topic (trimmed by a retention
that did not name its consumer), and reads on from what is left."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest

from mlsys_assets.ingestion.event_batches import CONSUMER, consume
from mlsys_assets.ingestion.store import cursor, ensure_tables
from mlsys_assets.resources.event_stream import FileEventStream


def test_a_gap_before_the_cursor_is_reported_and_the_rest_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stream = FileEventStream(root=str(tmp_path / "events"))
    for start in (0, 3, 6):  # offsets 1-3, 4-6, 7-9
        stream.append("weather", [{"n": n} for n in range(start, start + 3)])
    stream.ack("weather", "mlsys-stream", 6)
    assert stream.trim_acked("weather") == 6  # ingestion not named: its events go unread
    conn = duckdb.connect()
    ensure_tables(conn)

    with caplog.at_level(logging.WARNING, logger="mlsys_assets.ingestion.event_batches"):
        events, last, buffered = consume(conn, stream, "weather", CONSUMER, lambda c, e: len(e))

    assert [e.offset for e in events] == [7, 8, 9] and last == 9 and buffered == 3
    assert cursor(conn, "weather", CONSUMER) == 9
    assert "events 1-6 are gone before mlsys-ingestion read them" in caplog.text
    caplog.clear()
    stream.append("weather", [{"n": 9}])
    assert [e.offset for e in consume(conn, stream, "weather", CONSUMER, lambda c, e: 0)[0]] == [10]
    assert caplog.text == ""  # no gap: nothing to say
