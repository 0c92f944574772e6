"""Live metrics from the prediction log joined to outcomes, against a hand computation."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pandas as pd
import pytest

from mlsys_assets.monitoring.assets import (
    live_performance,
    monitoring_overview,
    prediction_drift,
    serving_operations,
)
from mlsys_assets.settings import Settings
from tests.monitoring.conftest import (
    day_flights,
    log_feedback,
    log_predictions,
    prediction_record,
    resources,
)

DAY = dt.date(2013, 3, 5)


def _sample(mon: Settings) -> pd.DataFrame:
    flights = day_flights(mon, DAY)
    flights = flights[~flights["cancelled"] & flights["arr_delay"].notna()]
    late = flights[flights["arr_delay"] >= 15].head(4)
    on_time = flights[flights["arr_delay"] < 0].head(4)
    # f0 on time (feedback: 45 min late), f1 late (feedback: cancelled), f2, f3 late,
    # f4-f6 on time, f7 late but its outcome has not landed yet.
    order = [on_time.iloc[0], late.iloc[0], late.iloc[1], late.iloc[2], on_time.iloc[1],
             on_time.iloc[2], on_time.iloc[3], late.iloc[3]]  # fmt: skip
    return pd.DataFrame(order).reset_index(drop=True)


def test_live_metrics_match_a_hand_computation(mon: Settings) -> None:
    sample = _sample(mon)
    probabilities = [0.8, 0.55, 0.9, 0.4, 0.7, 0.3, 0.2, 0.65]
    variants = ["champion"] * 4 + ["challenger"] * 4
    log_predictions(
        mon,
        [
            prediction_record(
                row,
                p,
                request_id=f"r{i}",
                variant=v,
                version="1" if v == "champion" else "2",
                latency_ms=10.0 * (i + 1),
            )  # fmt: skip
            for i, (row, p, v) in enumerate(
                zip(sample.to_dict("records"), probabilities, variants, strict=True)
            )
        ],
    )
    log_feedback(
        mon,
        [
            {
                "request_id": "r0",
                "logged_at": dt.datetime(2026, 1, 1),
                "arr_delay": 45.0,
                "cancelled": False,
            },
            {
                "request_id": "r1",
                "logged_at": dt.datetime(2026, 1, 1),
                "arr_delay": None,
                "cancelled": True,
            },
        ],
    )
    f7 = sample.iloc[7]
    with duckdb.connect(str(mon.warehouse_path)) as conn:
        conn.execute(
            "DELETE FROM raw.flights WHERE flight_date = ? AND carrier = ? AND flight = ? AND origin = ?",
            [DAY, f7["carrier"], int(f7["flight"]), f7["origin"]],
        )

    result = dg.materialize(
        [live_performance, prediction_drift, serving_operations, monitoring_overview],
        partition_key=DAY.isoformat(),
        resources=resources(mon),
        selection=["live_performance", "prediction_drift", "serving_operations"],
    )
    assert result.success

    # By hand: labelled are f0 (1, .8), f2 (1, .9), f3 (1, .4), f4 (0, .7), f5 (0, .3), f6 (0, .2);
    # f1 is cancelled (excluded by the label rules), f7 has no outcome yet.
    # At 0.5: predicted positive f0, f2, f4 -> TP 2 of 3 predicted, 2 of 3 positives.
    # AUC: of the 9 (positive, negative) pairs, the positive scores higher in 8.
    brier = (0.2**2 + 0.1**2 + 0.6**2 + 0.7**2 + 0.3**2 + 0.2**2) / 6
    with duckdb.connect(str(mon.warehouse_path), read_only=True) as conn:
        rows = (
            conn.execute(
                "SELECT * FROM monitoring.live_performance WHERE day = ? ORDER BY variant", [DAY]
            )
            .df()
            .set_index("variant")
        )
    total = rows.loc["all"]
    assert total["predictions"] == 8
    assert total["labelled"] == 6
    assert total["label_coverage"] == pytest.approx(0.75)
    assert total["from_feedback"] == 1
    assert total["precision"] == pytest.approx(2 / 3)
    assert total["recall"] == pytest.approx(2 / 3)
    assert total["roc_auc"] == pytest.approx(8 / 9)
    assert total["brier"] == pytest.approx(brier)
    assert rows.loc["champion", "predictions"] == 4 and rows.loc["challenger", "predictions"] == 4
    assert rows.loc["champion", "model_version"] == "1"

    metadata = result.asset_materializations_for_node("live_performance")[0].metadata
    assert metadata["live_roc_auc"].value == pytest.approx(8 / 9, abs=1e-6)
    assert metadata["label_coverage"].value == pytest.approx(0.75)
    ops = result.asset_materializations_for_node("serving_operations")[0].metadata
    assert ops["requests"].value == 8
    assert ops["latency_max_ms"].value == pytest.approx(80.0)

    overview = dg.materialize([monitoring_overview], resources=resources(mon))
    meta = overview.asset_materializations_for_node("monitoring_overview")[0].metadata
    # The pictures are shown by URL from the report server, which serves reports_dir.
    assert meta["overview_url"].value == f"{mon.reports_url}/monitoring_overview.png"
    assert f"]({mon.reports_url}/monitoring_overview.png)" in meta["overview"].value
    assert (mon.reports_dir / "monitoring_overview.png").read_bytes().startswith(b"\x89PNG")
    assert meta["latest_live_roc_auc"].value == pytest.approx(8 / 9, abs=1e-6)
    costs = meta["cost_per_variant"].value  # realised and estimated cost per variant
    assert "champion" in costs and "challenger" in costs and "realised_per_flight" in costs
