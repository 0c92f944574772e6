"""The ``dead_run_reaper`` sensor: the daemon fails runs whose process is gone and frees their
pool slots, without a person (see ``mlsys_assets/run_health.py`` for why Dagster's own run
monitoring cannot, with the default run launcher).

It launches nothing: every tick's skip reason says what it did. It ticks as often as the loop's
other sensors, so a run killed with SIGKILL is failed, and the ``warehouse`` slot free again,
within seconds of the daemon's next loop (well under a minute).
"""

import dagster as dg

from mlsys_assets.run_health import reap


@dg.sensor(minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def dead_run_reaper(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Mark failed the runs whose worker process is gone; free slots of finished runs."""
    reaped = reap(context.instance)
    if reaped:
        context.log.warning(reaped.describe())
    return dg.SkipReason(reaped.describe())
