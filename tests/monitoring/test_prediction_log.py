"""The log reader: serving's Parquet files back as frames, by the flight's local day."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq

from mlsys_assets.monitoring import read_feedback, read_predictions
from mlsys_assets.monitoring.prediction_log import PREDICTION_LOG_DIR, served_features
from mlsys_assets.settings import Settings
from tests.monitoring.conftest import day_flights, log_feedback, log_predictions, prediction_record

DAY = dt.date(2013, 3, 5)


def test_predictions_are_read_by_local_flight_day(mon: Settings) -> None:
    flights = day_flights(mon, DAY, n=3).to_dict("records")
    log_predictions(
        mon, [prediction_record(f, 0.1 * i, request_id=f"r{i}") for i, f in enumerate(flights)]
    )
    log_predictions(
        mon, [prediction_record(flights[0], 0.9, request_id="r0")]
    )  # a retry: last wins
    log_feedback(mon, [{"request_id": "r1", "logged_at": dt.datetime(2026, 1, 1), "arr_delay": 3.0,
                        "cancelled": False}])  # fmt: skip

    frame = read_predictions(mon, DAY, DAY)
    assert sorted(frame["request_id"]) == ["r0", "r1", "r2"]
    assert set(frame["flight_date"]) == {DAY}
    assert frame.set_index("request_id").loc["r0", "delay_probability"] == 0.9
    assert read_predictions(mon, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=1)).empty
    served = served_features(frame)
    assert served.loc[0, "carrier"] == frame.loc[0, "carrier"]
    assert list(read_feedback(mon)["request_id"]) == ["r1"]


def test_no_log_yet_reads_as_empty(mon: Settings) -> None:
    assert read_predictions(mon, DAY, DAY).empty
    assert read_feedback(mon).empty


def test_logs_from_before_typed_feature_values_still_read(mon: Settings) -> None:
    """Older serving wrote the features as JSON text; both kinds of file read as one log."""
    flights = day_flights(mon, DAY, n=2).to_dict("records")
    log_predictions(mon, [prediction_record(flights[0], 0.2, request_id="new")])
    old = prediction_record(flights[1], 0.4, request_id="old")
    values = old.pop("feature_values")
    table = pa.Table.from_pylist([old | {"features": json.dumps(values)}])
    folder = mon.predictions_dir / PREDICTION_LOG_DIR / "date=2026-01-01"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-old.parquet")

    frame = read_predictions(mon, DAY, DAY).set_index("request_id")
    served = served_features(frame)
    assert served.loc["old", "carrier"] == flights[1]["carrier"]
    assert served.loc["new", "carrier"] == flights[0]["carrier"]
    assert set(served.columns) >= set(values)  # the new log has every served feature
    assert served.loc["old", "distance"] == values["distance"]


def test_a_reader_asking_for_some_columns_gets_those_and_the_same_records(mon: Settings) -> None:
    """The canary sensor reads the whole log every tick: without the feature values."""
    flights = day_flights(mon, DAY, n=3).to_dict("records")
    log_predictions(
        mon, [prediction_record(f, 0.1 * i, request_id=f"r{i}") for i, f in enumerate(flights)]
    )
    log_predictions(mon, [prediction_record(flights[0], 0.9, request_id="r0")])
    old = prediction_record(flights[1], 0.4, request_id="old")  # a file without a newer column
    old.pop("latency_ms")
    folder = mon.predictions_dir / PREDICTION_LOG_DIR / "date=2026-01-01"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([old]), folder / "part-old.parquet")

    whole = read_predictions(mon, DAY, DAY)
    asked = ["delay_probability", "latency_ms", "contribution_bias"]  # the last: in no file
    some = read_predictions(mon, DAY, DAY, columns=asked)
    assert "feature_values" in whole and "feature_values" not in some
    assert {"request_id", "flight_date", "feature_time", "delay_probability"} <= set(some)
    shared = ["request_id", "delay_probability", "flight_date", "feature_time"]
    assert some[shared].equals(whole[shared])
    assert some["contribution_bias"].isna().all()
    latency = some.set_index("request_id")["latency_ms"]
    assert latency.isna()["old"] and latency.drop("old").eq(5.0).all()
