"""The sensors of the retraining loop. Each keeps a cursor, so one event gives one run, and tags
every run it launches with the signal and its value (``mlsys/reason``, ``mlsys/signal_value``).
They start RUNNING: with the daemon up (``mlsys ui`` / ``mlsys demo``), the loop closes itself.
"""

import datetime as dt
import json

import dagster as dg

from mlsys_assets.clock import read_state
from mlsys_assets.ingestion.run import RANGE_END_TAG, RANGE_START_TAG
from mlsys_assets.loop.jobs import (
    REASON_TAG,
    SIGNAL_TAG,
    canary_job,
    daily_pipeline_job,
    monitoring_job,
    retrain_job,
)
from mlsys_assets.loop.signals import (
    ACTIVE,
    DATA_DAY_TAG,
    WarehouseBusy,
    labelled_rows_since,
    last_training_day,
    latest_ingested_day,
    read_warehouse,
    retrain_blocked,
)
from mlsys_assets.nycflights import FIRST_DAY
from mlsys_assets.resources.landing_zone import LandingZone
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse

RUNNING = dg.DefaultSensorStatus.RUNNING
# The daemon evaluates sensors in a loop that starts every MLSYS_LOOP__SENSOR_LOOP_SECONDS (Dagster's
# 5 s by default; mlsys_assets/daemon.py). A minimum interval as long as the loop would let a
# sensor evaluated late in one loop miss the next (ticking every other loop); the shortest one
# lets every sensor tick on every loop, so each hop of the loop waits one loop, not two.
TICK_SECONDS = 1


@dg.sensor(job=daily_pipeline_job, minimum_interval_seconds=TICK_SECONDS, default_status=RUNNING)
def new_landing_data(
    context: dg.SensorEvaluationContext, landing_zone: LandingZone
) -> dg.RunRequest | dg.SkipReason:
    """Ingest, featurize and push online the days the replay clock moved past, and late files."""
    state = read_state(landing_zone.root)
    if state is None or not state.get("last_day"):
        return dg.SkipReason("nothing replayed yet, or no day has ended")
    seen = json.loads(context.cursor) if context.cursor else {"last_day": None, "files": []}
    files = sorted(
        p.parent.name.removeprefix("date=")
        for p in (landing_zone.root / "flights").glob("date=*/flights.csv")
    )
    last_day = dt.date.fromisoformat(state["last_day"])
    # A day's file can land before the clock says the day ended (the producer writes the file,
    # then the clock): it waits for a later tick, or the range would end before it starts.
    files = [f for f in files if dt.date.fromisoformat(f) <= last_day]
    days = {dt.date.fromisoformat(d) for d in set(files) - set(seen["files"])}
    previous = dt.date.fromisoformat(seen["last_day"]) if seen["last_day"] else None
    if previous is None or last_day > previous:
        days.add(previous + dt.timedelta(days=1) if previous else FIRST_DAY)
    if not days or min(days) > last_day:
        return dg.SkipReason(f"no new landing data since {last_day}")
    start = min(days)
    context.update_cursor(json.dumps({"last_day": last_day.isoformat(), "files": files}))
    return dg.RunRequest(
        run_key=f"ingest:{start}:{last_day}:{len(files)}",
        tags={
            RANGE_START_TAG: start.isoformat(),
            RANGE_END_TAG: last_day.isoformat(),
            REASON_TAG: "new landing data",
            SIGNAL_TAG: f"{start}..{last_day}",
        },
    )


@dg.sensor(job=monitoring_job, minimum_interval_seconds=TICK_SECONDS, default_status=RUNNING)
def days_to_monitor(
    context: dg.SensorEvaluationContext, run_settings: RunSettings
) -> dg.RunRequest | dg.SkipReason:
    """Monitor every day whose features are complete: all the days since the last monitored
    one, in ONE run over the range (a catch-up is one run, not one per day).

    A run starts once ``MLSYS_MONITORING__EVERY_DAYS`` days wait (the demo batches a week). The
    first run monitors the newest day only: the loop acts on the present, and history is
    filled by a backfill from the UI (also one run, by the assets' single-run policy).
    """
    active = context.instance.get_runs(
        dg.RunsFilter(job_name=daily_pipeline_job.name, statuses=ACTIVE), limit=1
    )
    if active:
        return dg.SkipReason("a daily pipeline run is still computing features")
    done = context.instance.get_materialized_partitions(dg.AssetKey("carrier_delay_stats"))
    if not done:
        return dg.SkipReason("no features materialized yet")
    newest = max(dt.date.fromisoformat(k) for k in done)
    last = dt.date.fromisoformat(context.cursor) if context.cursor else None
    if last is not None and newest <= last:
        return dg.SkipReason(f"every day up to {last} is monitored")
    start = last + dt.timedelta(days=1) if last is not None else newest
    every = run_settings.monitoring.every_days
    waiting = (newest - start).days + 1
    if last is not None and waiting < every:
        return dg.SkipReason(f"{waiting} day(s) wait since {last}; monitoring every {every} days")
    context.update_cursor(newest.isoformat())
    span = f"{start}..{newest}" if start < newest else newest.isoformat()
    return dg.RunRequest(
        run_key=f"monitor:{span}",
        tags={
            RANGE_START_TAG: start.isoformat(),
            RANGE_END_TAG: newest.isoformat(),
            REASON_TAG: "features ready",
            SIGNAL_TAG: span,
        },
    )


def _retrain_request(
    context: dg.SensorEvaluationContext, reason: str, value: str, data_day: dt.date
) -> dg.RunRequest:
    context.log.info(f"retrain: {reason} = {value}")
    return dg.RunRequest(
        run_key=f"retrain:{reason}:{data_day}",
        tags={REASON_TAG: reason, SIGNAL_TAG: value, DATA_DAY_TAG: data_day.isoformat()},
    )


def _retrain_blocked(
    context: dg.SensorEvaluationContext, tracking: Tracking, data_day: dt.date, cooldown_days: int
) -> str | None:
    """Why a retrain may not start now (a challenger in canary, a run active, the cooldown)."""
    from mlsys_assets.registry import aliases

    challenger = aliases.current(tracking)["challenger"]
    return retrain_blocked(context.instance, challenger, data_day, cooldown_days)


@dg.sensor(job=retrain_job, minimum_interval_seconds=TICK_SECONDS, default_status=RUNNING)
def drift_retrain(
    context: dg.SensorEvaluationContext,
    warehouse: Warehouse,
    tracking: Tracking,
    run_settings: RunSettings,
) -> dg.RunRequest | dg.SkipReason:
    """Retrain when a monitored day's share of drifted features crosses the threshold."""
    from mlsys_assets.monitoring import latest_drift_share

    loop = run_settings.loop
    try:
        with read_warehouse(warehouse) as conn:
            latest = latest_drift_share(conn)
            data_day = latest_ingested_day(conn)
    except WarehouseBusy:
        return dg.SkipReason("warehouse busy")
    if latest is None or data_day is None:
        return dg.SkipReason("no drift measured yet")
    day, share = latest
    if context.cursor and day <= dt.date.fromisoformat(context.cursor):
        return dg.SkipReason(f"drift of {day} already handled")
    context.update_cursor(day.isoformat())
    if share < loop.retrain_drift_share:
        return dg.SkipReason(f"drift share {share:.2f} on {day} < {loop.retrain_drift_share}")
    blocked = _retrain_blocked(context, tracking, data_day, loop.retrain_cooldown_days)
    if blocked:
        return dg.SkipReason(f"drift share {share:.2f} on {day}, but {blocked}")
    return _retrain_request(context, "drift", f"drift share {share:.3f} on {day}", data_day)


@dg.sensor(job=retrain_job, minimum_interval_seconds=TICK_SECONDS, default_status=RUNNING)
def labelled_volume_retrain(
    context: dg.SensorEvaluationContext,
    warehouse: Warehouse,
    tracking: Tracking,
    run_settings: RunSettings,
) -> dg.RunRequest | dg.SkipReason:
    """Train once enough newly labelled flights arrived since the last training window.

    With no model registered yet, this is what trains the first champion.
    """

    loop = run_settings.loop
    trained_until = last_training_day(tracking)  # None: nothing trained yet, all rows are new
    try:
        with read_warehouse(warehouse) as conn:
            new_rows = labelled_rows_since(conn, trained_until)
            data_day = latest_ingested_day(conn)
    except WarehouseBusy:
        return dg.SkipReason("warehouse busy")
    if data_day is None or new_rows < loop.retrain_min_new_labels:
        return dg.SkipReason(
            f"{new_rows} labelled rows since {trained_until} < {loop.retrain_min_new_labels}"
        )
    if context.cursor == data_day.isoformat():
        return dg.SkipReason(f"volume at {data_day} already handled")
    blocked = _retrain_blocked(context, tracking, data_day, loop.retrain_cooldown_days)
    if blocked:
        return dg.SkipReason(f"{new_rows} new labelled rows, but {blocked}")
    context.update_cursor(data_day.isoformat())
    reason = "labelled volume" if trained_until else "initial training"
    since = f"since {trained_until}" if trained_until else "and no model yet"
    return _retrain_request(context, reason, f"{new_rows} labelled rows {since}", data_day)


@dg.sensor(job=canary_job, minimum_interval_seconds=TICK_SECONDS, default_status=RUNNING)
def canary_evaluation(
    context: dg.SensorEvaluationContext,
    warehouse: Warehouse,
    tracking: Tracking,
    run_settings: RunSettings,
) -> dg.RunRequest | dg.SkipReason:
    """Launch the canary decision once the verdict is in (the paired rule: a boundary crossed
    at one of its looks, or the maximum wait).

    The cursor keeps the digest of what the last verdict read (``verdict_inputs``) and why it
    waited: while nothing it reads has changed, a tick says so without reading the log again.
    """
    from mlsys_assets.loop.canary import evaluate_canary, verdict_inputs
    from mlsys_assets.registry import aliases

    state = aliases.current(tracking)
    if state["challenger"] is None:
        return dg.SkipReason("no challenger in canary")
    settings = run_settings.resolve()
    inputs = verdict_inputs(settings, state["champion"], state["challenger"])
    last = json.loads(context.cursor) if context.cursor else {}
    if last.get("inputs") == inputs:
        return dg.SkipReason(f"{last['reason']} (nothing new since)")
    try:
        verdict = evaluate_canary(
            lambda: read_warehouse(warehouse), settings, state["champion"], state["challenger"]
        )
    except WarehouseBusy:
        return dg.SkipReason("warehouse busy")
    if not verdict.ready:
        reason = f"canary v{state['challenger']}: {verdict.reason}"
        context.update_cursor(json.dumps({"inputs": inputs, "reason": reason}))
        return dg.SkipReason(reason)
    context.log.info(f"canary v{state['challenger']} ready: {verdict.reason}")
    # The signal is what made the canary ready (labelled predictions), not the sensor's verdict:
    # the run judges again on the labels it finds, and its decision is recorded by the run.
    signal = (
        f"{verdict.labelled_challenger} labelled challenger / "
        f"{verdict.labelled_champion} champion predictions"
        if verdict.n is None
        else f"{verdict.n} labelled shadow pairs"
    )
    return dg.RunRequest(
        run_key=f"canary:{state['challenger']}",
        tags={REASON_TAG: "canary", SIGNAL_TAG: signal},
    )


SENSORS = [
    new_landing_data,
    days_to_monitor,
    drift_retrain,
    labelled_volume_retrain,
    canary_evaluation,
]
