"""`mlsys demo --quick`, end to end: servers, daemon, sensors, HTTP traffic, retrain, canary.

The assertions read the system's own records (the Dagster instance, the MLflow registry and
the demo's summary built from the prediction log), so they fail if the loop did not close.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from mlsys_assets.processes import child_environment, free_port
from mlsys_assets.registry import aliases
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.settings import Settings

pytestmark = pytest.mark.slow
RETRAIN_SENSORS = {"drift_retrain", "labelled_volume_retrain"}


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo") / "mlsys"
    env = child_environment() | {"MLSYS_HOME": str(home)}
    ports = [str(free_port()) for _ in range(3)]
    command = [sys.executable, "-m", "mlsys_assets.cli", "demo", "--quick"]
    command += ["--api-port", ports[0], "--dagster-port", ports[1], "--mlflow-port", ports[2]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return home


@pytest.fixture(scope="module")
def summary(demo_home: Path) -> dict:
    return json.loads((demo_home / "demo_summary.json").read_text())


@pytest.fixture(scope="module")
def instance(demo_home: Path) -> dg.DagsterInstance:
    os.environ["DAGSTER_HOME"] = str(demo_home / "dagster_home")
    return dg.DagsterInstance.from_config(str(demo_home / "dagster_home"))


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
        if mv.tags.get("canary_decision") in ("promote", "rollback")
    ]
    assert decided, "no version carries a canary decision"
    actions = {e.action for e in aliases.history(tracking)}
    assert actions & {"promote", "canary_rollback"}


def test_reconciliation_and_parity_checks_passed(summary: dict) -> None:
    assert summary["checks"]["raw_flights:reconciliation"] is True
    assert summary["checks"]["online_features:online_offline_parity"] is True


def test_the_summary_compares_the_served_model_with_the_first_champion(summary: dict) -> None:
    months = summary["monthly_auc"]
    assert months and all(m["auc_served"] is not None for m in months)
    assert all(m["auc_first_champion"] is not None for m in months)
