"""Alerts reach a person once per failure, again when it clears, and survive a receiver outage."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from mlsys_assets.alerts.notifier import ERROR, WARN, Alert, Notifier
from mlsys_assets.alerts.sensors import alert_on_run_failure, alert_on_run_recovery
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.settings import get_settings
from tests.alerts.receiver import webhook_receiver

DRIFT = Alert("check:feature_drift:drift_share", ERROR, "drift share 0.6 on 2013-04-02",
              "drift_share=0.6", "http://127.0.0.1:8090/drift/drift_2013-04-02.html")  # fmt: skip


def test_one_message_per_failure_and_one_when_it_clears(tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        notifier = Notifier(tmp_path / "alerts.sqlite", receiver.url)
        assert notifier.fire(DRIFT)
        assert not notifier.fire(DRIFT)  # still failing the next day: nobody is paged again
        assert notifier.open_keys() == [DRIFT.key]
        assert notifier.resolve(DRIFT.key)
        assert not notifier.resolve(DRIFT.key)
        assert notifier.fire(DRIFT)  # a new failure is news again
    first, cleared, again = receiver.bodies
    assert first["text"].startswith(":red_circle: FIRING [ERROR] drift share 0.6")
    assert "<http://127.0.0.1:8090/drift/drift_2013-04-02.html|open the report>" in first["text"]
    assert first["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": first["text"]}}
    ]
    assert cleared["text"].startswith(":white_check_mark: RESOLVED [ERROR] cleared: drift share")
    assert again == first


def test_a_delivery_that_failed_is_retried_at_the_next_evaluation(tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        notifier = Notifier(tmp_path / "alerts.sqlite", receiver.url)
        receiver.status = 500
        assert not notifier.fire(DRIFT)
        receiver.status = 200
        assert notifier.fire(DRIFT)
        assert not notifier.fire(DRIFT)
    assert len(receiver.bodies) == 1


def test_below_the_minimum_severity_nothing_is_sent(tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        notifier = Notifier(tmp_path / "alerts.sqlite", receiver.url, min_severity=ERROR)
        assert not notifier.fire(Alert("check:x:y", WARN, "a warning"))
        assert notifier.fire(Alert("check:x:z", ERROR, "an error"))
    assert [b["text"].splitlines()[0] for b in receiver.bodies] == [
        ":red_circle: FIRING [ERROR] an error"
    ]


def test_sync_resolves_what_no_longer_fails(tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        notifier = Notifier(tmp_path / "alerts.sqlite", receiver.url)
        ua, b6 = (Alert(f"segment:carrier={c}", ERROR, f"{c} flagged") for c in ("UA", "B6"))
        notifier.sync("segment:", [ua, b6])
        notifier.sync("segment:", [b6])
        assert notifier.open_keys("segment:") == ["segment:carrier=B6"]
    assert [b["text"].split(" [")[0] for b in receiver.bodies] == [
        ":red_circle: FIRING",
        ":red_circle: FIRING",
        ":white_check_mark: RESOLVED",
    ]


RESOURCES = {"run_settings": RunSettings()}  # the sensors' defaults; the webhook is a backend


@dg.asset
def breaks() -> None:
    raise RuntimeError("the warehouse is on fire")


@dg.asset
def works() -> None:
    return None


def test_a_failed_run_alerts_once_per_job_and_recovers(
    mlsys_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    job = dg.define_asset_job("nightly", selection=[breaks])
    ok_job = dg.define_asset_job("nightly", selection=[works])
    with webhook_receiver() as receiver:
        monkeypatch.setenv("MLSYS_BACKENDS__ALERT_WEBHOOK_URL", receiver.url)
        get_settings.cache_clear()
        for _ in range(2):  # failing twice in a row: one alert
            result = dg.Definitions(assets=[breaks], jobs=[job]).get_job_def("nightly")
            run = result.execute_in_process(instance=instance, raise_on_error=False)
            failure = run.get_run_failure_event()
            context = dg.build_run_status_sensor_context(
                sensor_name="alert_on_run_failure",
                dagster_instance=instance,
                dagster_run=run.dagster_run,
                dagster_event=failure,
                resources=RESOURCES,
            ).for_run_failure()
            alert_on_run_failure(context)
        good = dg.Definitions(assets=[works], jobs=[ok_job]).get_job_def("nightly")
        run = good.execute_in_process(instance=instance)
        success = run.get_run_success_event()
        alert_on_run_recovery(
            dg.build_run_status_sensor_context(
                sensor_name="alert_on_run_recovery",
                dagster_instance=instance,
                dagster_run=run.dagster_run,
                dagster_event=success,
                resources=RESOURCES,
            )
        )
    firing, resolved = receiver.texts()
    assert firing.startswith(":red_circle: FIRING [ERROR] run of job nightly failed")
    assert "key: `run:nightly`" in firing
    assert resolved.startswith(":white_check_mark: RESOLVED")
