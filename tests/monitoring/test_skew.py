"""Training/serving skew: a deliberately skewed online value fails the parity check."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb

from mlsys_assets.monitoring.assets import training_serving_skew
from mlsys_assets.settings import Settings
from tests.monitoring.conftest import (
    day_flights,
    log_predictions,
    prediction_record,
    resources,
)

DAY = dt.date(2013, 3, 5)


def _run(mon: Settings) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [training_serving_skew],
        partition_key=DAY.isoformat(),
        resources=resources(mon),
    )
    [check] = result.get_asset_check_evaluations()
    return check


def test_served_features_equal_offline_ones_pass(mon: Settings) -> None:
    flights = day_flights(mon, DAY, n=20)
    log_predictions(mon, [prediction_record(row, 0.3, request_id=f"r{i}")
                          for i, row in enumerate(flights.to_dict("records"))])  # fmt: skip
    check = _run(mon)
    assert check.passed, check.metadata["mismatches"].value


def test_a_skewed_online_value_is_caught(mon: Settings) -> None:
    flights = day_flights(mon, DAY, n=20)
    records = [prediction_record(row, 0.3, request_id=f"r{i}")
               for i, row in enumerate(flights.to_dict("records"))]  # fmt: skip
    records[3]["feature_values"]["weather_temp"] += (
        5.0  # the online store served a stale temperature
    )
    log_predictions(mon, records)

    check = _run(mon)
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR  # 1 in 20 > 1%
    assert "weather_temp" in check.metadata["mismatches"].value
    with duckdb.connect(str(mon.warehouse_path), read_only=True) as conn:
        rows = dict(
            conn.execute(
                "SELECT feature, mismatches FROM monitoring.skew WHERE day = ?", [DAY]
            ).fetchall()
        )
    assert rows.pop("weather_temp") == 1
    assert set(rows.values()) == {0}
