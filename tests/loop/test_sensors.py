"""The loop's sensors, one tick at a time: each event gives one run request, tagged with why.

Ticks are evaluated with ``dg.build_sensor_context`` on an ephemeral Dagster instance and the
project's own resources, against a real warehouse and a real MLflow registry. Runs the daemon
would have launched are recorded in that instance with the request's tags.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
from dagster._core.test_utils import create_run_for_test

from mlsys_assets.clock import utc_now
from mlsys_assets.ingestion.run import RANGE_END_TAG, RANGE_START_TAG
from mlsys_assets.loop.canary_asset import canary_decision
from mlsys_assets.loop.jobs import REASON_TAG, SIGNAL_TAG
from mlsys_assets.loop.sensors import (
    canary_evaluation,
    days_to_monitor,
    drift_retrain,
    labelled_volume_retrain,
)
from mlsys_assets.loop.signals import DATA_DAY_TAG
from mlsys_assets.model_contract import ALIAS_CHALLENGER, ALIAS_CHAMPION
from mlsys_assets.monitoring.store import replace_day
from mlsys_assets.registry import aliases
from mlsys_assets.resources import build_resources
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import MonitoringSettings, Settings
from tests.loop.conftest import Candidates, post_feedback, register, serve_day, use_settings
from tests.reference_data import load_reference
from tests.serving.world import LAST_DAY, World, add_schedule, set_alias

Result = dg.RunRequest | dg.SkipReason


def _tick(
    sensor: Any, settings: Settings, cursor: str | None, instance: dg.DagsterInstance
) -> tuple[Result, str | None]:
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=build_resources(settings)
    ) as context:
        return sensor(context), context.cursor


def _skip(result: Result, *words: str) -> None:
    assert isinstance(result, dg.SkipReason), result
    for word in words:
        assert word in (result.skip_message or ""), result.skip_message


def _request(result: Result) -> dg.RunRequest:
    assert isinstance(result, dg.RunRequest), result
    return result


def _launched(instance: dg.DagsterInstance, request: dg.RunRequest, status: Any) -> None:
    """What the daemon does with a request: a run of the retrain job carrying its tags."""
    create_run_for_test(instance, job_name="retrain", tags=dict(request.tags), status=status)


def _write_drift(settings: Settings, day: dt.date, share: float) -> None:
    """A monitored day's drift summary, written by the monitoring store's own writer."""
    row = {
        "reference_id": "champion-v1",
        "model_version": "1",
        "rows": 800,
        "n_features": 10,
        "n_drifted": round(share * 10),
        "drift_share": share,
        "computed_at": utc_now(),
    }
    with Warehouse(path=str(settings.warehouse_path)).connect() as conn:
        replace_day(conn, "drift_summary", day, pd.DataFrame([row]))


# --- drift --------------------------------------------------------------------------------


def test_drift_requests_one_retrain_per_drifted_day(loop_world: World) -> None:
    settings, instance = loop_world.settings, dg.DagsterInstance.ephemeral()
    set_alias(settings, ALIAS_CHALLENGER, None)  # nothing in canary: a retrain may start
    result, cursor = _tick(drift_retrain, settings, None, instance)
    _skip(result, "no drift measured")

    _write_drift(settings, LAST_DAY - dt.timedelta(days=1), 0.2)  # under retrain_drift_share
    result, cursor = _tick(drift_retrain, settings, cursor, instance)
    _skip(result, "0.20", f"< {settings.loop.retrain_drift_share}")

    _write_drift(settings, LAST_DAY, 0.6)
    request, cursor = _tick(drift_retrain, settings, cursor, instance)
    request = _request(request)
    assert request.tags[REASON_TAG] == "drift"
    assert request.tags[SIGNAL_TAG] == f"drift share 0.600 on {LAST_DAY}"
    assert request.tags[DATA_DAY_TAG] == LAST_DAY.isoformat()  # the newest ingested day
    assert request.run_key == f"retrain:drift:{LAST_DAY}"
    assert cursor == LAST_DAY.isoformat()

    again, cursor = _tick(drift_retrain, settings, cursor, instance)
    _skip(again, "already handled")
    assert cursor == LAST_DAY.isoformat()


def test_drift_waits_for_the_canary_and_the_running_retrain(loop_world: World) -> None:
    settings, instance = loop_world.settings, dg.DagsterInstance.ephemeral()
    challenger = aliases.current(Tracking.from_settings(settings))[ALIAS_CHALLENGER]
    assert challenger is not None  # the world's challenger is in canary
    _write_drift(settings, LAST_DAY, 0.9)
    result, cursor = _tick(drift_retrain, settings, None, instance)
    _skip(result, "0.90", f"challenger v{challenger} is still in canary")

    set_alias(settings, ALIAS_CHALLENGER, None)
    next_day = LAST_DAY + dt.timedelta(days=1)
    _write_drift(settings, next_day, 0.8)
    request = _request(_tick(drift_retrain, settings, cursor, instance)[0])
    _launched(instance, request, dg.DagsterRunStatus.STARTED)
    _write_drift(settings, next_day + dt.timedelta(days=1), 0.8)
    result, _ = _tick(drift_retrain, settings, next_day.isoformat(), instance)
    _skip(result, "retrain run", "still running")


def test_drift_respects_the_cooldown_after_a_retrain(loop_world: World) -> None:
    settings, instance = loop_world.settings, dg.DagsterInstance.ephemeral()
    set_alias(settings, ALIAS_CHALLENGER, None)
    _write_drift(settings, LAST_DAY - dt.timedelta(days=1), 0.8)
    request = _request(_tick(drift_retrain, settings, None, instance)[0])
    _launched(instance, request, dg.DagsterRunStatus.SUCCESS)
    _write_drift(settings, LAST_DAY, 0.8)  # same ingested data: within the cooldown
    result, _ = _tick(
        drift_retrain, settings, (LAST_DAY - dt.timedelta(days=1)).isoformat(), instance
    )
    _skip(result, "cooldown")


# --- labelled volume ----------------------------------------------------------------------


def test_volume_trains_the_first_model_once_enough_rows_landed(
    mlsys_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = use_settings(monkeypatch, mlsys_home, loop={"retrain_min_new_labels": 2000})
    instance = dg.DagsterInstance.ephemeral()
    result, cursor = _tick(labelled_volume_retrain, settings, None, instance)
    _skip(result, "0 labelled rows since None")  # nothing ingested, nothing registered

    first, third = dt.date(2013, 1, 1), dt.date(2013, 1, 3)
    with Warehouse(path=str(settings.warehouse_path)).connect() as conn:
        three_days = load_reference(conn, first, third)["flights"]
        # Only the first day has landed so far; the next two land after one tick.
        conn.execute(
            "CREATE TABLE later AS SELECT * FROM raw.flights WHERE flight_date > ?", [first]
        )
        conn.execute("DELETE FROM raw.flights WHERE flight_date > ?", [first])
        (one_day,) = conn.execute("SELECT count(*) FROM raw.flights").fetchone()
    result, cursor = _tick(labelled_volume_retrain, settings, cursor, instance)
    _skip(result, f"{one_day} labelled rows", "< 2000")

    with Warehouse(path=str(settings.warehouse_path)).connect() as conn:
        conn.execute("INSERT INTO raw.flights SELECT * FROM later")
    request, cursor = _tick(labelled_volume_retrain, settings, cursor, instance)
    request = _request(request)
    assert request.tags[REASON_TAG] == "initial training"
    assert request.tags[SIGNAL_TAG] == f"{three_days} labelled rows and no model yet"
    assert request.tags[DATA_DAY_TAG] == third.isoformat()
    assert cursor == third.isoformat()
    _skip(_tick(labelled_volume_retrain, settings, cursor, instance)[0], "already handled")


def test_volume_retrains_after_enough_new_labels_since_the_last_training(
    loop_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = use_settings(
        monkeypatch, loop_world.settings.home_dir, loop={"retrain_min_new_labels": 1500}
    )
    instance = dg.DagsterInstance.ephemeral()
    set_alias(settings, ALIAS_CHALLENGER, None)
    # The newest version was tested up to LAST_DAY, the last day in the warehouse.
    result, cursor = _tick(labelled_volume_retrain, settings, None, instance)
    _skip(result, f"0 labelled rows since {LAST_DAY}")

    days = [LAST_DAY + dt.timedelta(days=n) for n in (1, 2)]
    with Warehouse(path=str(settings.warehouse_path)).connect() as conn:
        add_schedule(conn, days[0])  # one more day lands with its outcomes: ~900 rows
        (first_day,) = conn.execute(
            "SELECT count(*) FROM raw.flights WHERE flight_date > ?", [LAST_DAY]
        ).fetchone()
    result, cursor = _tick(labelled_volume_retrain, settings, cursor, instance)
    _skip(result, f"{first_day} labelled rows since {LAST_DAY} < 1500")

    with Warehouse(path=str(settings.warehouse_path)).connect() as conn:
        add_schedule(conn, days[1])
        (both_days,) = conn.execute(
            "SELECT count(*) FROM raw.flights WHERE flight_date > ?", [LAST_DAY]
        ).fetchone()
    set_alias(settings, ALIAS_CHALLENGER, loop_world.challenger)
    result, cursor = _tick(labelled_volume_retrain, settings, cursor, instance)
    _skip(result, f"challenger v{loop_world.challenger} is still in canary")
    assert cursor is None  # not consumed: the volume is still there when the canary ends

    set_alias(settings, ALIAS_CHALLENGER, None)
    request, cursor = _tick(labelled_volume_retrain, settings, cursor, instance)
    request = _request(request)
    assert request.tags[REASON_TAG] == "labelled volume"
    assert request.tags[SIGNAL_TAG] == f"{both_days} labelled rows since {LAST_DAY}"
    assert request.tags[DATA_DAY_TAG] == days[1].isoformat()
    assert request.run_key == f"retrain:labelled volume:{days[1]}"
    _skip(_tick(labelled_volume_retrain, settings, cursor, instance)[0], "already handled")


# --- canary -------------------------------------------------------------------------------


@pytest.mark.slow
def test_canary_waits_for_labels_then_asks_once_per_challenger(
    loop_world: World, candidates: Candidates
) -> None:
    settings, instance = loop_world.settings, dg.DagsterInstance.ephemeral()
    tracking = Tracking.from_settings(settings)
    challenger = loop_world.challenger
    result, _ = _tick(canary_evaluation, settings, None, instance)
    _skip(result, "no logged predictions yet")

    # A few hundred flights served, only the first outcomes known so far.
    serve_day(loop_world, "c", limit=300, feedback=slice(0, 60))
    result, _ = _tick(canary_evaluation, settings, None, instance)
    _skip(result, f"canary v{challenger}", f"of {settings.loop.canary_min_labelled} labelled")
    # The decision itself would wait too, and move nothing.
    before = aliases.current(tracking)
    decision = dg.materialize([canary_decision], resources=build_resources(settings))
    [event] = decision.asset_materializations_for_node("canary_decision")
    assert event.metadata["decision"].value == "wait"
    assert aliases.current(tracking) == before

    post_feedback(loop_world, "c", range(60, 300))
    first = _request(_tick(canary_evaluation, settings, None, instance)[0])
    assert first.run_key == f"canary:{challenger}"  # the daemon launches one run per key
    assert first.tags[REASON_TAG] == "canary"
    # The signal is the labelled traffic that made it ready, not a verdict: the run decides.
    assert first.tags[SIGNAL_TAG].endswith(" champion predictions")
    assert "AUC" not in first.tags[SIGNAL_TAG]
    again = _request(_tick(canary_evaluation, settings, None, instance)[0])
    assert again.run_key == first.run_key

    # A new challenger starts from nothing: no request until it has labelled traffic of its own.
    set_alias(settings, ALIAS_CHALLENGER, None)
    newer, passed = register(settings, candidates.good)
    assert passed and aliases.current(tracking)[ALIAS_CHALLENGER] == newer
    result, _ = _tick(canary_evaluation, settings, None, instance)
    _skip(result, f"canary v{newer}", f"0 of {settings.loop.canary_min_labelled}")
    # Neither version served yet (a champion promoted by hand, a challenger right behind it):
    # the log holds only other versions' answers, and the sensor keeps waiting.
    set_alias(settings, ALIAS_CHAMPION, newer)
    latest, _ = register(settings, candidates.bad)
    set_alias(settings, ALIAS_CHALLENGER, latest)
    result, _ = _tick(canary_evaluation, settings, None, instance)
    _skip(result, f"no logged predictions of v{newer} or v{latest}")
    set_alias(settings, ALIAS_CHAMPION, loop_world.champion)
    set_alias(settings, ALIAS_CHALLENGER, None)
    _skip(_tick(canary_evaluation, settings, None, instance)[0], "no challenger in canary")
    assert aliases.current(tracking)[ALIAS_CHAMPION] == loop_world.champion


@pytest.mark.slow
def test_canary_reads_the_log_again_only_once_something_it_reads_changed(
    loop_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, instance = loop_world.settings, dg.DagsterInstance.ephemeral()
    serve_day(loop_world, "c", limit=300, feedback=slice(0, 60))
    waiting, cursor = _tick(canary_evaluation, settings, None, instance)
    _skip(waiting, f"canary v{loop_world.challenger}")

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the log was read again")

    with monkeypatch.context() as patch:
        patch.setattr("mlsys_assets.loop.canary.read_predictions", no_reading)
        again, kept = _tick(canary_evaluation, settings, cursor, instance)
    _skip(again, waiting.skip_message or "", "(nothing new since)")
    assert kept == cursor

    post_feedback(loop_world, "c", range(60, 300))  # new labels: judged again, now ready
    ready = _request(_tick(canary_evaluation, settings, kept, instance)[0])
    assert ready.run_key == f"canary:{loop_world.challenger}"


# --- monitoring ---------------------------------------------------------------------------


def _features_done(instance: dg.DagsterInstance, *days: str) -> None:
    for day in days:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key="carrier_delay_stats", partition=day)
        )


def _range(request: dg.RunRequest) -> tuple[str, str]:
    return request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]


def _monitoring_every(days: int) -> dict[str, RunSettings]:
    return {"run_settings": RunSettings(monitoring=MonitoringSettings(every_days=days))}


def test_monitoring_covers_every_new_day_in_one_run() -> None:
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor: str | None) -> tuple[Result, str | None]:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources=_monitoring_every(1)
        )
        return days_to_monitor(context), context.cursor

    result, cursor = tick(None)
    _skip(result, "no features materialized")

    _features_done(instance, "2013-01-06", "2013-01-04", "2013-01-05")  # the bootstrap
    request, cursor = tick(cursor)
    request = _request(request)
    assert _range(request) == ("2013-01-06", "2013-01-06")  # the present; history: a backfill
    assert request.run_key == "monitor:2013-01-06"
    assert request.tags[REASON_TAG] == "features ready"
    _skip(tick(cursor)[0], "up to 2013-01-06")

    _features_done(instance, "2013-01-07", "2013-01-08", "2013-01-09")  # a catch-up
    pipeline = create_run_for_test(
        instance, job_name="daily_pipeline", status=dg.DagsterRunStatus.STARTED
    )
    _skip(tick(cursor)[0], "still computing features")
    instance.report_run_failed(pipeline)
    request, cursor = tick(cursor)
    request = _request(request)
    assert _range(request) == ("2013-01-07", "2013-01-09")  # every day, one run
    assert request.tags[SIGNAL_TAG] == "2013-01-07..2013-01-09"
    assert cursor == "2013-01-09"


def test_monitoring_waits_for_a_batch_of_days() -> None:
    instance = dg.DagsterInstance.ephemeral()
    every_three = _monitoring_every(3)
    _features_done(instance, "2013-01-06")
    context = dg.build_sensor_context(instance=instance, resources=every_three)
    assert _range(_request(days_to_monitor(context))) == ("2013-01-06", "2013-01-06")
    _features_done(instance, "2013-01-07", "2013-01-08")
    context = dg.build_sensor_context(
        instance=instance, cursor=context.cursor, resources=every_three
    )
    _skip(days_to_monitor(context), "2 day(s) wait")
    _features_done(instance, "2013-01-09")
    context = dg.build_sensor_context(
        instance=instance, cursor=context.cursor, resources=every_three
    )
    assert _range(_request(days_to_monitor(context))) == ("2013-01-07", "2013-01-09")
