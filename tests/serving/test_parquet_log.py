"""The prediction log's writer: what goes in comes out of Parquet, whatever the chunk sizes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq

from mlsys_assets.features.catalog import SERVED
from serving.prediction_log import PREDICTION_SCHEMA, ROWS_BELOW, ParquetLog

NOW = dt.datetime(2026, 1, 2, 3, 4, 5)


def _log(path: Path) -> ParquetLog:
    return ParquetLog(path, PREDICTION_SCHEMA, flush_rows=10**6, flush_seconds=3600,
                      max_pending=10**6)  # fmt: skip


def _chunk(prefix: str, count: int) -> dict:
    features = {name: [None] * count for name in SERVED.feature_names}
    features["carrier"] = ["UA"] * count
    features["distance"] = [float(100 + i) for i in range(count)]
    return {
        "request_id": [f"{prefix}{i}" for i in range(count)],
        "logged_at": [NOW] * count,
        "endpoint": ["batch"] * count,
        "flight": list(range(count)),
        "feature_values": features,
        "missing_features": [["weather_temp"]] * count,
        "delay_probability": [i / count for i in range(count)],
        "fallbacks": [[] for _ in range(count)],
    }


def _read(path: Path) -> list[dict]:
    files = sorted(path.rglob("*.parquet"))
    assert len(files) == 1
    return pq.read_table(files[0]).to_pylist()


def test_big_and_small_chunks_and_records_come_back_in_order(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.append_columns(_chunk("big", ROWS_BELOW + 4), ROWS_BELOW + 4)  # queued as columns
    log.append_columns(_chunk("small", 3), 3)  # queued as rows
    log.append({"request_id": "one", "feature_values": {"carrier": "AA"}, "flight": 7})
    log.append_columns(_chunk("tail", 2), 2)
    assert log.pending == ROWS_BELOW + 10
    assert log.flush() == ROWS_BELOW + 10
    assert log.pending == 0

    rows = _read(tmp_path)
    ids = [r["request_id"] for r in rows]
    expected = ([f"big{i}" for i in range(ROWS_BELOW + 4)] + ["small0", "small1", "small2"]
                + ["one", "tail0", "tail1"])  # fmt: skip
    assert ids == expected
    big = rows[1]
    assert big["feature_values"]["carrier"] == "UA"
    assert big["feature_values"]["distance"] == 101.0
    assert big["feature_values"]["weather_temp"] is None
    assert big["missing_features"] == ["weather_temp"]
    assert big["logged_at"] == NOW
    one = rows[ROWS_BELOW + 4 + 3]
    assert one["flight"] == 7 and one["feature_values"]["carrier"] == "AA"
    assert one["model_name"] is None and one["delay_probability"] is None  # left out: null
    assert set(big["feature_values"]) == set(SERVED.feature_names)


def test_a_value_of_the_wrong_type_is_coerced_not_lost(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.append({"request_id": "a", "distance": "1400.5", "flight": 1})
    log.append({"request_id": "b", "distance": "far", "carrier": 42})
    assert log.flush() == 2
    a, b = _read(tmp_path)
    assert a["distance"] == 1400.5
    assert b["distance"] is None and b["carrier"] == "42"
    assert b["request_id"] == "b"  # the rest of the record is written


def test_past_max_pending_a_chunk_is_dropped_and_counted(tmp_path: Path) -> None:
    dropped = []
    log = ParquetLog(tmp_path, PREDICTION_SCHEMA, flush_rows=10**6, flush_seconds=3600,
                     max_pending=5, on_dropped=dropped.append)  # fmt: skip
    log.append_columns(_chunk("x", 4), 4)
    log.append_columns(_chunk("y", 2), 2)
    assert dropped == [2]
    assert log.flush() == 4


def test_prediction_records_land_in_their_flights_day_folder(tmp_path) -> None:
    """The log is partitioned by the flight's New York day, not the day it was written."""
    import datetime as dt

    from serving.prediction_log import PREDICTION_SCHEMA, ParquetLog, flight_day

    log = ParquetLog(
        tmp_path, PREDICTION_SCHEMA, flush_rows=10_000, flush_seconds=60.0,
        max_pending=10_000, partition_by=flight_day,
    )  # fmt: skip
    departures = [dt.datetime(2013, 3, 15, 3, 30), dt.datetime(2013, 3, 15, 5, 30)]  # UTC
    for i, departure in enumerate(departures):
        log.append({"request_id": f"r{i}", "scheduled_departure": departure})
    assert log.flush() == 2
    folders = sorted(p.parent.name for p in tmp_path.rglob("*.parquet"))
    assert folders == ["date=2013-03-14", "date=2013-03-15"]  # 23:30 and 01:30 New York
