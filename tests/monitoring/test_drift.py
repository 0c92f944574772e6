"""Drift against a January reference: a June day drifts, a calm January day does not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from mlsys_assets.monitoring import drift_scores, latest_drift_share
from mlsys_assets.monitoring.assets import feature_drift
from mlsys_assets.settings import Settings
from tests.monitoring.conftest import resources

CALM, DRIFTED = dt.date(2013, 1, 22), dt.date(2013, 6, 28)


def _materialize(settings: Settings, day: dt.date) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [feature_drift],
        partition_key=day.isoformat(),
        resources=resources(settings),
    )


def test_june_drifts_and_a_calm_january_day_does_not(mon: Settings) -> None:
    calm, drifted = _materialize(mon, CALM), _materialize(mon, DRIFTED)

    with duckdb.connect(str(mon.warehouse_path), read_only=True) as conn:
        calm_share = latest_drift_share(conn, CALM)
        june_share = latest_drift_share(conn, DRIFTED)
        june_scores = drift_scores(conn, DRIFTED)
        latest = latest_drift_share(conn)
    assert calm_share is not None and june_share is not None
    assert calm_share[1] < mon.monitoring.drift_share_warn
    assert june_share[1] > mon.monitoring.drift_share_error
    assert latest == june_share  # the latest monitored day
    drifted_features = set(june_scores[june_scores["drifted"]]["feature"])
    assert {"month", "weather_temp"} <= drifted_features  # summer is not January

    [calm_check] = calm.get_asset_check_evaluations()
    [june_check] = drifted.get_asset_check_evaluations()
    assert calm_check.passed
    assert not june_check.passed
    assert june_check.severity == dg.AssetCheckSeverity.ERROR

    metadata = drifted.asset_materializations_for_node("feature_drift")[0].metadata
    assert metadata["drift_share"].value == pytest.approx(june_share[1], abs=1e-6)
    report = Path(metadata["report"].value)
    assert report.is_file() and report.parent.parent == mon.reports_dir
    assert "weather_temp" in report.read_text()  # an Evidently page of the drifted columns
