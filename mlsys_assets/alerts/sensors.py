"""A failed run tells a person: one alert per job while its runs keep failing, a recovery
message at its next success.

Dagster shows a failed run as a red mark nobody may be looking at. ``alert_on_run_failure``
fires ``run:<job>`` with the step's error; ``alert_on_run_recovery`` resolves it when a run of
the same job succeeds. Both start RUNNING with the daemon (``mlsys ui`` / ``mlsys demo``).
"""

from __future__ import annotations

import dagster as dg

from mlsys_assets.alerts.notifier import ERROR, Alert, Notifier
from mlsys_assets.resources.run_settings import RunSettings

RUNNING = dg.DefaultSensorStatus.RUNNING


def run_alert(run: dg.DagsterRun, message: str) -> Alert:
    """The alert of a failed run: keyed by job, so a job failing every tick alerts once."""
    first_line = (message or "").strip().splitlines()[0:1]
    return Alert(
        key=f"run:{run.job_name}",
        severity=ERROR,
        title=f"run of job {run.job_name} failed",
        detail=f"run {run.run_id}: {first_line[0][:500] if first_line else 'no error message'}",
    )


@dg.run_failure_sensor(
    name="alert_on_run_failure", default_status=RUNNING, minimum_interval_seconds=5
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, run_settings: RunSettings) -> None:
    """Send an alert for a failed run (once per job until it recovers)."""
    message = context.failure_event.message if context.failure_event else ""
    Notifier.from_settings(run_settings.resolve()).fire(
        run_alert(context.dagster_run, message or "")
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="alert_on_run_recovery",
    default_status=RUNNING,
    minimum_interval_seconds=5,
)
def alert_on_run_recovery(context: dg.RunStatusSensorContext, run_settings: RunSettings) -> None:
    """A successful run of a job whose runs failed before: send the recovery message."""
    Notifier.from_settings(run_settings.resolve()).resolve(f"run:{context.dagster_run.job_name}")


SENSORS = [alert_on_run_failure, alert_on_run_recovery]
