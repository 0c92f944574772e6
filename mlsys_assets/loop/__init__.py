"""The retraining loop: jobs, the sensors that launch them, and the canary decision.

New landing data -> the daily pipeline (ingestion, features, online store, monitoring);
drift over the threshold or enough newly labelled rows -> the retraining job; a challenger
with enough labelled live predictions -> the canary decision (promote or roll back).
"""

from __future__ import annotations

import dagster as dg


def build_defs() -> dg.Definitions:
    """Jobs, sensors, the backstop schedule and the canary decision asset."""
    from mlsys_assets.loop.canary_asset import canary_decision
    from mlsys_assets.loop.jobs import JOBS, weekly_retrain_backstop
    from mlsys_assets.loop.reaper import dead_run_reaper
    from mlsys_assets.loop.sensors import SENSORS

    return dg.Definitions(
        assets=[canary_decision],
        jobs=JOBS,
        sensors=[*SENSORS, dead_run_reaper],
        schedules=[weekly_retrain_backstop],
    )
